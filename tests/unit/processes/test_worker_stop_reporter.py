"""A worker's stop does not wait for its statistics reporter thread.

Under load the reporter would need the GIL just to end; it is a daemon thread
and the worker exits after its stop, so terminate() only tells it to stop.
"""

import threading

from oslo_threading_backend import service
from oslo_threading_backend._threads import ticker as _ticker


class StuckReporter(_ticker.Ticker):
    """A reporter whose tick cannot end until the test lets it."""

    def __init__(self):
        super().__init__(3600.0, "stuck-reporter", tick_at_start=True)
        self.in_tick = threading.Event()
        self.release = threading.Event()

    def tick(self):
        self.in_tick.set()
        self.release.wait(30)


def test_terminate_does_not_join_the_reporter():
    wrapper = service.ServiceWrapper(0, service.Service())
    reporter = StuckReporter()
    reporter.start()
    try:
        assert reporter.in_tick.wait(10)
        wrapper._stats = reporter
        done = threading.Event()
        stopper = threading.Thread(target=lambda: (wrapper.terminate(), done.set()))
        stopper.start()
        assert done.wait(10), "terminate() waited for the reporter thread"
        assert reporter.is_alive()  # told to stop, still in its tick
    finally:
        reporter.release.set()
    assert reporter.stop(timeout=10)
