"""ServiceFixture drives the runner with real workers, from testtools and from pytest."""

import os
import pathlib
import re
import signal

import pytest
import testtools

from oslo_threading_backend import fixture
from tests.functional.harness import poll

REPO = str(pathlib.Path(__file__).resolve().parents[2])
TARGET = "tests.functional.fixture_targets:make_service"


def make(env_extra=None, **kwargs):
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    env.update(env_extra or {})
    config = {"DEFAULT": {"graceful_shutdown_timeout": 10}}
    config.update(kwargs.pop("config", {}))
    return fixture.ServiceFixture(TARGET, env=env, config=config, **kwargs)


class TestWithTesttools(testtools.TestCase):
    def test_ready_means_every_worker_started_and_sigterm_ends_them(self):
        svc = self.useFixture(make(workers=2))
        workers = svc.worker_pids()
        self.assertEqual([0, 1], sorted(workers))
        titles = svc.titles()
        for number, pid in workers.items():
            self.assertIn(f"ServiceWrapper worker({number})", titles[pid])
        self.assertIn("master process", titles[svc.master_pid])

        svc.send_signal(signal.SIGTERM)

        self.assertEqual(0, svc.wait())
        svc.wait_gone(workers.values())
        self.assertIn("STOPPING=1", svc.notifications)


def test_sighup_is_announced_as_reloading_then_ready_again():
    with make(workers=2, args=["--restart-method", "mutate"]) as svc:
        assert svc.notifications.count("READY=1") == 1
        svc.send_signal(signal.SIGHUP)
        svc.wait_for_notification("RELOADING=1")
        assert any(n.startswith("MONOTONIC_USEC=") for n in svc.notifications)
        # READY=1 again once the reload is done.
        poll(lambda: svc.notifications.count("READY=1") == 2, timeout=15)
        svc.send_signal(signal.SIGTERM)
        assert svc.wait() == 0


def test_watchdog_is_pinged_by_the_master_when_systemd_asks():
    with make(workers=1, env_extra={"WATCHDOG_USEC": "200000"}) as svc:
        svc.wait_for_notification("WATCHDOG=1", timeout=10)
        svc.send_signal(signal.SIGTERM)
        assert svc.wait() == 0


def test_thread_dump_on_sigusr2_from_master_and_worker():
    with make(workers=2) as svc:
        worker = svc.worker_pids()[1]
        svc.send_signal(signal.SIGUSR2, pid=worker)
        svc.send_signal(signal.SIGUSR2)
        for pid in (worker, svc.master_pid):
            poll(
                lambda pid=pid: re.search(rf"===== Thread dump of pid {pid}\b", svc.log()),
                timeout=15,
            )
        assert re.search(r"===== End of thread dump of pid \d+", svc.log())
        svc.send_signal(signal.SIGTERM)
        assert svc.wait() == 0


def test_each_worker_logs_process_statistics_at_the_configured_period():
    with make(workers=2, config={"DEFAULT": {"process_statistic_period": 0.2}}) as svc:
        workers = svc.worker_pids()
        for pid in workers.values():
            poll(
                lambda pid=pid: re.search(
                    rf" {pid} INFO oslo_threading_backend.process_stats ", svc.log()
                ),
                timeout=15,
            )
        svc.send_signal(signal.SIGTERM)
        assert svc.wait() == 0


def test_every_process_is_ended_even_when_the_test_fails():
    svc = make(workers=2)
    with pytest.raises(RuntimeError, match="the test failed"):
        with svc:
            pids = [svc.master_pid, *svc.worker_pids().values()]
            raise RuntimeError("the test failed")
    svc.wait_gone(pids, timeout=10)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="exactly one of factory"):
        fixture.ServiceFixture()
    with pytest.raises(ValueError, match="'MODULE:FACTORY'"):
        fixture.ServiceFixture("no_colon")
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        fixture.ServiceFixture(TARGET, workers=0)
    with pytest.raises(TypeError, match="workers must be an int >= 1"):
        fixture.ServiceFixture(TARGET, workers="2")
    with pytest.raises(TypeError, match="start_timeout must be a number"):
        fixture.ServiceFixture(TARGET, start_timeout="soon")
