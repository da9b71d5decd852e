"""Runner targets (MODULE:FACTORY) for the ServiceFixture tests."""

from oslo_threading_backend import executors
from oslo_threading_backend import service


class BusyService(service.Service):
    """Keeps a timer and a named pool busy, so dumps and statistics have content."""

    def start(self):
        self.tg.add_timer(0.1, lambda: executors.spawn(sum, range(10)).result(5))


def make_service(conf):
    return BusyService(threads=4)
