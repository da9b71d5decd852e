"""after_import: a callback runs once a module is imported, before its importer uses it."""

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_callback_runs_at_the_import_and_the_hook_goes():
    out = _run(
        """
        import sys
        from oslo_threading_backend._upstream import after_import
        seen = []
        assert after_import.call_after_import("json", seen.append) is False
        assert after_import.waiting("json")
        import json
        print(seen == [json], after_import.waiting("json"))
        print(any(type(f).__name__ == "_Finder" for f in sys.meta_path))
        """
    )
    assert out.split() == ["True", "False", "False"]


def test_a_module_already_imported_gets_the_callback_now():
    out = _run(
        """
        import json
        from oslo_threading_backend._upstream import after_import
        seen = []
        print(after_import.call_after_import("json", seen.append), seen == [json])
        """
    )
    assert out.split() == ["True", "True"]


def test_a_cancelled_callback_never_runs():
    out = _run(
        """
        from oslo_threading_backend._upstream import after_import
        seen = []
        after_import.call_after_import("json", seen.append)
        after_import.cancel("json", seen.append)
        import json
        print(seen, after_import.waiting("json"))
        """
    )
    assert out.split() == ["[]", "False"]


def test_futurist_imported_later_gets_the_fixes_and_the_options_still_decide():
    # What oslo-threading-exec does before the program runs, then what launch() does.
    out = _run(
        """
        from oslo_config import cfg
        from oslo_threading_backend import backend
        backend.init_backend(backend.BackendType.THREADING)
        from oslo_threading_backend._upstream import futurist_fixes as f
        f.apply_at_import()
        import futurist
        print(f.is_applied(), f.threads_on_demand_applied())
        conf = cfg.ConfigOpts()
        conf([])
        f.register_opts(conf)
        conf.set_override("futurist_fast_shutdown", False)
        conf.set_override("futurist_threads_on_demand", False)
        f.apply_for(conf)
        print(f.is_applied(), f.threads_on_demand_applied())
        """
    )
    assert out.split() == ["True", "True", "False", "False"]


def test_threads_on_demand_at_import_are_logged_with_the_launchers_idle_timeout():
    # Under oslo-threading-exec the fix goes in at futurist's import, before any
    # timeout is known; its one DEBUG line must name the timeout launch() applies.
    out = _run(
        """
        import logging, sys
        logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(message)s")
        from oslo_config import cfg
        from oslo_threading_backend import backend
        backend.init_backend(backend.BackendType.THREADING)
        from oslo_threading_backend._upstream import futurist_fixes as f
        f.apply_at_import()
        import futurist
        conf = cfg.ConfigOpts()
        conf([])
        from oslo_threading_backend import executors
        f.register_opts(conf)
        executors.register_opts(conf)
        conf.set_override("thread_pool_idle_timeout", 7)
        f.apply_for(conf)
        f.apply_for(conf)
        """
    )
    lines = [line for line in out.splitlines() if "starts a thread only when none is idle" in line]
    assert len(lines) == 1, out
    assert "exits after 7 s ([DEFAULT] thread_pool_idle_timeout)" in lines[0], out
    assert "never" not in out, out
