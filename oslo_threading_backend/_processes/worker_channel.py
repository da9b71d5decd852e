"""What the master and its workers tell each other besides signals.

Made by the master before the first fork and handed to every worker (inherited
with 'fork', pickled by multiprocessing with 'spawn'):

* each worker reports its pid once its service's ``start()`` has returned, so
  the master can tell systemd READY=1 when the service really serves
  (cotyledon's own "started" event is set before ``start()`` is even called);
* the master counts the SIGHUPs it sends. cotyledon drops a SIGHUP that reaches
  a worker while the previous reload still runs; a worker that sees the count
  moved during its reload reloads again, so it ends on the master's config.
"""

from __future__ import annotations

import multiprocessing.context
import os

from oslo_threading_backend._processes import health_channel as _health_channel

#: What the master sends itself on the started pipe to wake its reader.
_WAKE = 0


class WorkerChannel:
    def __init__(self, mp_context: multiprocessing.context.BaseContext) -> None:
        #: Workers started by exec get their config pickled: no parser to re-read files.
        self.spawned = mp_context.get_start_method() == "spawn"
        self._started_reader, self._started_writer = mp_context.Pipe(duplex=False)
        self._reloads = mp_context.Value("Q", 0, lock=False)
        #: Heartbeats, started and boot failure records, the shutdown flag.
        self.health = _health_channel.HealthChannel(mp_context)

    # Worker side -----------------------------------------------------------
    def report_started(self) -> None:
        # A one-int message is a single write below PIPE_BUF: atomic among workers.
        self._started_writer.send(os.getpid())

    def reloads_sent(self) -> int:
        return self._reloads.value

    # Master side -----------------------------------------------------------
    def count_reload(self) -> None:
        """Called in the master before it sends SIGHUP to the workers."""
        self._reloads.value += 1

    def wake_reader(self) -> None:
        """Make the master's blocked :meth:`started_pids` return (no pid is 0).

        The master's reader blocks on the pipe instead of polling it on a timer;
        the master wakes it itself when the answer may have changed without a
        report (a worker was forked, the shutdown began).
        """
        self._started_writer.send(_WAKE)

    def started_pids(self, timeout: float | None = None) -> list[int]:
        """Pids reported within ``timeout`` seconds (None: until a report or a wake).

        The master must keep reading: a full pipe would block the workers.
        """
        pids = []
        if self._started_reader.poll(timeout):
            while self._started_reader.poll(0):
                pid = self._started_reader.recv()
                if pid != _WAKE:
                    pids.append(pid)
        return pids
