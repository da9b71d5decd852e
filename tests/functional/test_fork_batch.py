"""The workers the master forks in a row are prepared for once, before the first.

What the master writes between two forks (its preparation: imports to share,
``malloc_trim``) is copied for the master, and the workers forked before keep
the originals, each their only holder. A respawned worker, forked alone, is
prepared for again.
"""

import signal


def test_workers_forked_together_are_prepared_for_once(service_process):
    run = service_process().start("--workers", "3", "--count-fork-preparations")
    forks = run.wait_for_events("fork-prepared", count=3)
    # Prepared before every fork, the third worker saw three preparations.
    assert [e["count"] for e in forks] == ["1", "1", "1"], forks
    run.wait_for_events("started", count=3)

    # A respawn, forked alone (outside any batch), is prepared for again, once.
    run.send(signal.SIGKILL, pid=forks[0].pid)
    respawned = run.wait_for_events("fork-prepared", count=4)[3]
    assert respawned["count"] == "2", respawned
    run.wait_for_events("started", count=4)
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
