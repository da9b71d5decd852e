"""service_app, but stop() never returns and the worker never times out by itself."""

import os
import sys
import threading

import service_app
import setproctitle

from oslo_threading_backend import service

# cotyledon reads this class attribute for a worker's own alarm; 0 means
# "wait forever", so only the master's deadline can end this shutdown.
service.ServiceWrapper.graceful_shutdown_timeout = 0


class HangingService(service_app.AppService):
    """stop() hangs in every worker, or only in worker N with HANG_WORKER=N."""

    def stop(self, graceful=False):
        only = os.environ.get("HANG_WORKER")
        if only is not None and f"worker({only})" not in setproctitle.getproctitle():
            return super().stop(graceful)
        self.emit("stopping")
        threading.Event().wait()


if __name__ == "__main__":
    service_app.AppService = HangingService
    sys.exit(service_app.main())
