import json

import pytest

from oslo_threading_backend import runner
from oslo_threading_backend import service
from oslo_threading_backend.demo import requests_queue


class _Svc(service.Service):
    pass


# parse_args ----------------------------------------------------------------


def test_defaults_are_the_demo_with_two_workers():
    args, rest = runner.parse_args([])
    assert (
        args.target
        == runner.DEFAULT_TARGET
        == ("oslo_threading_backend.demo.scheduler:create_service")
    )
    assert (args.workers, args.no_fork, args.restart_method) == (2, False, "reload")
    assert rest == []


def test_target_comes_first_and_unknown_options_go_to_oslo_config_in_order():
    argv = [
        "pkg.mod:factory",
        "--config-file",
        "a.conf",
        "--workers",
        "4",
        "--debug",
        "--log-file=x.log",
        "--config-dir",
        "conf.d",
        "--no-fork",
        "--restart-method",
        "mutate",
    ]
    args, rest = runner.parse_args(argv)
    assert args.target == "pkg.mod:factory"
    assert (args.workers, args.no_fork, args.restart_method) == (4, True, "mutate")
    assert rest == [
        "--config-file",
        "a.conf",
        "--debug",
        "--log-file=x.log",
        "--config-dir",
        "conf.d",
    ]


def test_an_option_value_is_never_taken_for_the_target():
    args, rest = runner.parse_args(["--config-file", "a.conf"])
    assert args.target == runner.DEFAULT_TARGET
    assert rest == ["--config-file", "a.conf"]


def test_runner_flags_are_not_abbreviated():
    # "--work 3" is not --workers: it is left to oslo.config, which will reject it.
    args, rest = runner.parse_args(["--work", "3"])
    assert args.workers == 2
    assert rest == ["--work", "3"]


def test_no_fork_runs_one_instance_unless_workers_are_asked_for():
    assert runner.parse_args(["--no-fork"])[0].workers == 1
    assert runner.parse_args(["--no-fork", "--workers", "3"])[0].workers == 3


@pytest.mark.parametrize("workers", ["0", "-1", "two", "1.5"])
def test_a_bad_worker_count_is_a_usage_error(workers):
    with pytest.raises(runner.UsageError, match="argument --workers: must be an integer >= 1"):
        runner.parse_args(["--workers", workers])


def test_a_bad_restart_method_is_a_usage_error():
    with pytest.raises(runner.UsageError, match="invalid choice: 'restart'"):
        runner.parse_args(["--restart-method", "restart"])


# main: one line on stderr, status 2 ----------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--workers", "0"],
        ["x:y", "--restart-method", "nope"],
        ["demo-submit"],
        ["demo-submit", "-3"],
        ["demo-submit", "many"],
        ["--bogus"],
        ["--workers", "2", "json:loads"],
        ["--config-file"],
        ["demo-submit", "2", "--bogus"],
    ],
)
def test_usage_errors_are_one_line_and_status_2(capsys, argv):
    assert runner.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("oslo-threading-run: error: "), err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus (see oslo-threading-run --help"),
        (
            ["--workers", "2", "--debug", "json:loads"],
            "unrecognized arguments: json:loads: MODULE:FACTORY must come first, as in: "
            "oslo-threading-run json:loads --workers 2 --debug",
        ),
        (["--config-file"], "argument --config-file: expected one argument"),
        (["demo-submit", "-5"], "demo-submit COUNT must be an integer >= 0 (the number of"),
        (["demo-submit", "-5"], "requests to queue), got -5"),
        (["demo-submit", "many"], "got 'many'"),
        (["demo-submit", "--debug"], "demo-submit needs COUNT"),
    ],
)
def test_usage_errors_say_what_is_wrong(capsys, argv, message):
    assert runner.main(argv) == 2
    assert message in capsys.readouterr().err


# load_factory and make_service ----------------------------------------------------


def test_load_factory_resolves_module_and_dotted_attribute():
    assert runner.load_factory("json:loads") is json.loads
    assert runner.load_factory("json:JSONDecoder.decode") is json.JSONDecoder.decode


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("json", "target must be MODULE:FACTORY, not 'json'"),
        (":loads", "target must be MODULE:FACTORY"),
        ("json:", "target must be MODULE:FACTORY"),
        ("no_such_module_abc:make", "cannot import module 'no_such_module_abc' of"),
        ("json:no_such_thing", "module 'json' has no attribute 'no_such_thing'"),
        ("json:__doc__", "'json:__doc__' is not callable: str"),
    ],
)
def test_load_factory_errors_name_the_problem(target, message):
    with pytest.raises(runner.UsageError, match=message.replace("(", r"\(")):
        runner.load_factory(target)


def test_make_service_calls_the_factory_with_the_conf():
    seen = []
    svc = runner.make_service("t:f", lambda conf: seen.append(conf) or _Svc(), "the-conf")
    assert isinstance(svc, _Svc) and seen == ["the-conf"]


def test_make_service_rejects_what_is_not_a_service_base():
    with pytest.raises(runner.UsageError, match=r"t:f\(conf\) returned dict .* not an "):
        runner.make_service("t:f", lambda conf: {}, None)


# --help ------------------------------------------------------------------------


def test_help_documents_every_option_the_signals_and_the_demo(capsys):
    assert runner.main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in (
        "MODULE:FACTORY",
        "--workers N",
        "--no-fork",
        "--restart-method {reload,mutate}",
        "--config-file",
        "--config-dir",
        "--debug",
        "--log-file",
        "SIGTERM",
        "graceful_shutdown_timeout",
        "SIGINT",
        "SIGHUP",
        "SIGKILL",
        "SIGUSR2",
        "demo-submit",
    ):
        assert text in out, text
    assert out.count("-h, --help") == 1


# demo-submit ---------------------------------------------------------------------


def test_demo_submit_queues_count_requests_in_the_configured_state_dir(tmp_path, capsys):
    conf_file = tmp_path / "demo.conf"
    conf_file.write_text(f"[demo]\nstate_dir = {tmp_path / 'state'}\n")

    assert runner.main(["demo-submit", "3", "--config-file", str(conf_file)]) == 0
    assert runner.main(["demo-submit", "0", "--config-file", str(conf_file)]) == 0

    out = capsys.readouterr().out
    assert f"Queued 3 requests (1-3) in {tmp_path / 'state'}" in out
    assert "Queued no request" in out
    queue = requests_queue.queue_path(str(tmp_path / "state"))
    assert requests_queue.count_by_state(queue) == {"queued": 3}
