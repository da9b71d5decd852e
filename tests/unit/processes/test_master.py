"""The master signals its workers by pid, a worker forked during a SIGHUP included.

Each case builds a real Master in a forked child (cotyledon's constructor acts
on the calling process: session, signal handlers) and replaces only the fork
of cotyledon's ``_start_worker`` by the registration of a process object.
"""

import multiprocessing
import os
import signal

import cotyledon
import pytest

from oslo_threading_backend._processes import master as _master
from tests.unit.forking import run_in_child


class _Process:
    """What cotyledon registers for a forked worker: its pid is all the master reads."""

    def __init__(self, pid):
        self.pid = pid


def _start_one_worker(order):
    """In the child: start worker pid 4242 with a SIGHUP handled ``order`` its registration."""
    sent = []
    os.kill = lambda pid, signo: sent.append((pid, signal.Signals(signo).name))
    master = _master.Master(
        graceful_shutdown_timeout=1,
        mp_context=multiprocessing.get_context("fork"),
        wait_interval=0,
        on_reload=lambda: True,
    )
    master._running_services["svc"][_Process(1111)] = None  # an older worker

    def fork_and_register(self, service_id, worker_id):
        if order == "before":
            self._reload()
        self._running_services[service_id][_Process(4242)] = None
        if order == "after":
            self._reload()

    cotyledon.ServiceManager._start_worker = fork_and_register
    master._start_worker("svc", 1)
    if order == "none":
        master._reload()
    return repr(sorted(sent))


@pytest.mark.parametrize("order", ["before", "after", "none"])
def test_every_worker_gets_the_sighup_once_wherever_it_lands(order):
    # "before": the SIGHUP came between the fork and the registration, so its
    # snapshot of the pids missed the new worker; the master sends it after.
    expected = "[(1111, 'SIGHUP'), (4242, 'SIGHUP')]"
    assert run_in_child(lambda: _start_one_worker(order)) == expected


def test_a_refused_config_signals_no_worker():
    def body():
        sent = []
        os.kill = lambda pid, signo: sent.append(pid)
        master = _master.Master(
            graceful_shutdown_timeout=1,
            mp_context=multiprocessing.get_context("fork"),
            wait_interval=0,
            on_reload=lambda: False,
        )
        master._running_services["svc"][_Process(1111)] = None
        master._reload()
        return repr(sent)

    assert run_in_child(body) == "[]"
