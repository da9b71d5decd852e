"""LifoCondition wakes the waiter ranked highest (by default: idle the shortest time)."""

import threading

import pytest

from oslo_threading_backend._threads import lifo_condition
from tests.unit.polling import WAIT
from tests.unit.polling import wait_until


def _waiters(cond, ranks, woken):
    """One thread per rank, each waiting once on ``cond``; appends its rank when woken."""

    def wait(rank):
        lifo_condition.set_rank(threading.current_thread(), rank)
        with cond:
            if cond.wait():
                woken.append(rank)

    threads = []
    for rank in ranks:
        thread = threading.Thread(target=wait, args=(rank,), daemon=True)
        thread.start()
        threads.append(thread)
        # In this order, so that a first-in first-out condition would wake rank 1 first.
        wait_until(lambda r=rank: any(entry[0] == r for entry in cond._ranked))
    return threads


def test_notify_wakes_the_highest_rank_first_and_notify_all_the_rest():
    cond = lifo_condition.LifoCondition()
    woken = []
    threads = _waiters(cond, [1.0, 2.0, 3.0], woken)
    with cond:
        cond.notify()
    wait_until(lambda: woken == [3.0])
    with cond:
        cond.notify()
    wait_until(lambda: woken == [3.0, 2.0])
    with cond:
        cond.notify_all()
    for thread in threads:
        thread.join(WAIT)
    assert woken == [3.0, 2.0, 1.0]


def test_a_waiter_that_waits_again_keeps_its_rank():
    """A pool thread re-waits every second (to look for shutdown): it keeps its place."""
    cond = lifo_condition.LifoCondition()
    woken = []
    rewaits = threading.Event()
    stop = threading.Event()

    def poller():  # idle since rank 1, waiting again and again
        lifo_condition.set_rank(threading.current_thread(), 1.0)
        with cond:
            while not stop.is_set():
                if cond.wait(0.01):
                    woken.append(1.0)
                    return
                rewaits.set()

    first = threading.Thread(target=poller, daemon=True)
    first.start()
    wait_until(lambda: len(cond._ranked) == 1)
    threads = [first, *_waiters(cond, [2.0], woken)]
    rewaits.clear()
    assert rewaits.wait(WAIT)  # the poller waited again after rank 2 began waiting
    with cond:
        cond.notify()
    wait_until(lambda: woken == [2.0])
    stop.set()
    for thread in threads:
        thread.join(WAIT)
    assert woken == [2.0]


def test_a_wait_that_times_out_returns_false_and_leaves_no_waiter():
    cond = lifo_condition.LifoCondition()
    with cond:
        assert cond.wait(0.01) is False
        assert cond._ranked == []
        cond.notify()  # nobody to wake: no error


def test_wait_and_notify_without_the_lock_are_refused():
    cond = lifo_condition.LifoCondition()
    with pytest.raises(RuntimeError, match="un-acquired lock"):
        cond.wait(0.01)
    with pytest.raises(RuntimeError, match="un-acquired lock"):
        cond.notify()
