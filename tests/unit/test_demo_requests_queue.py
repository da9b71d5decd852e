import os
import subprocess
import sys

import pytest

from oslo_threading_backend.demo import requests_queue
from oslo_threading_backend.demo import storage


@pytest.fixture
def queue(tmp_path):
    path = str(tmp_path / "requests.sqlite")
    requests_queue.create_queue(path)
    return path


def rows(path):
    with storage.connect(path) as conn:
        return {
            row[0]: row[1:]
            for row in conn.execute("SELECT id, state, owner_pid, attempts FROM requests")
        }


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_take_claims_the_oldest_queued_request_for_this_process(queue):
    assert requests_queue.submit(queue, 3) == [1, 2, 3]

    first = requests_queue.take(queue, lease_seconds=30)
    second = requests_queue.take(queue, lease_seconds=30)

    assert (first.id, first.attempt, second.id) == (1, 1, 2)
    assert first.token != second.token
    assert rows(queue) == {
        1: ("claimed", os.getpid(), 1),
        2: ("claimed", os.getpid(), 1),
        3: ("queued", None, 0),
    }


def test_take_returns_none_when_nothing_is_queued(queue):
    assert requests_queue.take(queue, lease_seconds=30) is None
    requests_queue.submit(queue, 1)
    requests_queue.take(queue, lease_seconds=30)
    assert requests_queue.take(queue, lease_seconds=30) is None


def test_a_claim_whose_process_is_gone_goes_back_to_the_queue(queue, caplog):
    requests_queue.submit(queue, 1)
    lost = requests_queue.take(queue, lease_seconds=30)
    pid = dead_pid()
    with storage.connect(queue) as conn:
        conn.execute("UPDATE requests SET owner_pid = ?", (pid,))

    again = requests_queue.take(queue, lease_seconds=30)

    assert (again.id, again.attempt) == (1, 2)
    assert again.token != lost.token
    assert f"Request 1 was claimed by pid {pid} and that process is gone" in caplog.text


def test_an_expired_lease_goes_back_to_the_queue_even_if_its_owner_lives(queue, caplog):
    requests_queue.submit(queue, 1)
    requests_queue.take(queue, lease_seconds=-1)  # already expired

    again = requests_queue.take(queue, lease_seconds=30)

    assert (again.id, again.attempt) == (1, 2)
    assert f"claimed by pid {os.getpid()} and its lease expired" in caplog.text


def test_a_live_claim_within_its_lease_is_kept(queue):
    requests_queue.submit(queue, 1)
    requests_queue.take(queue, lease_seconds=30)
    assert requests_queue.take(queue, lease_seconds=30) is None


def test_release_needs_the_current_claim(queue):
    requests_queue.submit(queue, 1)
    stale = requests_queue.take(queue, lease_seconds=-1)
    current = requests_queue.take(queue, lease_seconds=30)

    assert requests_queue.release(queue, stale) is False
    assert rows(queue)[1][0] == "claimed"
    assert requests_queue.release(queue, current) is True
    assert rows(queue)[1] == ("queued", None, 2)


def test_mark_done_needs_the_current_claim(queue):
    requests_queue.submit(queue, 1)
    stale = requests_queue.take(queue, lease_seconds=-1)
    current = requests_queue.take(queue, lease_seconds=30)

    with storage.connect(queue) as conn:
        assert requests_queue.mark_done(conn, stale, "cell1", "cell1-host1") is False
        assert requests_queue.mark_done(conn, current, "cell1", "cell1-host1") is True
    assert rows(queue)[1] == ("done", None, 2)
    assert requests_queue.count_by_state(queue) == {"done": 1}
