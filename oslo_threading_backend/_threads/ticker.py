"""A named daemon thread that does one thing every N seconds until stopped."""

from __future__ import annotations

import threading


class Ticker:
    """Calls ``tick()`` every ``period`` seconds in a daemon thread until ``stop()``.

    ``stop()`` takes effect at once: the thread waits on an event, not in a
    sleep. A forked child does not inherit the thread: it starts its own.
    """

    def __init__(self, period: float, name: str, tick_at_start: bool = False) -> None:
        self.period = period
        self._tick_at_start = tick_at_start
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if self._tick_at_start:
            self.tick()
        while not self._stopped.wait(self.period):
            self.tick()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop at once; waits up to ``timeout`` for the thread (None: no limit).

        Returns True when the thread has ended. Safe to call more than once.
        """
        self._stopped.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()
