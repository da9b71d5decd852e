"""The application's signal handlers are its own: the thread dump steps aside."""

from __future__ import annotations

import signal

import pytest

from tests.functional.harness import poll
from tests.installed import installed as _installed

STEPS_ASIDE = "Thread dump steps aside on SIGUSR2"
DUMP = "===== Thread dump of"


def test_a_plain_handler_installed_before_launch_keeps_sigusr2(service_process):
    run = service_process().start("--workers", "2", "--app-sigusr2", "plain")
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    for pid in (run.pid, *workers.values()):
        run.send(signal.SIGUSR2, pid)
        run.wait_for_events("app-sigusr2", count=1, pid=pid)

    log = run.log()
    assert DUMP not in log
    # Said once, by the master: forked workers inherit the decision.
    assert log.count(STEPS_ASIDE) == 1, log
    assert "the application handles it (__main__.main.<locals>.<lambda>)" in log
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_without_a_handler_of_the_application_sigusr2_dumps_threads(service_process):
    run = service_process().start("--workers", "1")
    workers = run.wait_for_workers(1)
    run.wait_for_events("started", count=1)
    run.send(signal.SIGUSR2, workers[0])
    run.wait_for_log(DUMP)
    assert STEPS_ASIDE not in run.log()
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


@pytest.mark.skipif(
    not _installed("oslo.reports"),
    reason="oslo.reports is not installed (tox -e openstack has it)",
)
@pytest.mark.parametrize("launcher", ["launch", "no-fork"])
def test_guru_meditation_report_keeps_sigusr2(service_process, launcher):
    run = service_process().start("--workers", "1", "--launcher", launcher, "--app-sigusr2", "gmr")
    run.wait_for_events("started", count=1)
    target = run.pid if launcher == "no-fork" else run.wait_for_workers(1)[0]

    run.send(signal.SIGUSR2, target)

    # oslo.reports writes its report to stderr (the run's log here).
    poll(lambda: "Guru Meditation" in run.log(), timeout=15, what="the GMR report")
    log = run.log()
    assert DUMP not in log
    assert "the application handles it (oslo_reports.guru_meditation_report." in log
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
