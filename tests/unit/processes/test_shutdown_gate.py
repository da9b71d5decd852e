import threading

import pytest

from oslo_threading_backend._processes import shutdown_gate


def test_a_closed_gate_refuses_the_fork():
    closed = []
    gate = shutdown_gate.ShutdownGate(on_close=lambda: closed.append(True))
    gate.enter()
    gate.leave()
    gate.close()
    assert closed == [True]
    with pytest.raises(shutdown_gate.ShuttingDown):
        gate.enter()
    gate.leave()  # a thread that did not enter: nothing to release
    gate.close_and_wait_for_forks(timeout=1)


def test_closing_waits_for_the_fork_in_flight():
    gate = shutdown_gate.ShutdownGate()
    gate.enter()  # this thread forks
    waited = threading.Event()

    def shutdown():
        gate.close_and_wait_for_forks(timeout=10)
        waited.set()

    thread = threading.Thread(target=shutdown)
    thread.start()
    # The closer waits for the fork in flight (until leave()), then goes on.
    assert not waited.wait(0.2)
    assert gate.closed
    gate.leave()
    assert waited.wait(10)
    thread.join(10)
