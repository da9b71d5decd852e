"""service_app, but stop() never returns and the worker never times out by itself."""

import sys
import threading

import service_app

from oslo_threading_backend import service

# cotyledon reads this class attribute for a worker's own alarm; 0 means
# "wait forever", so only the master's deadline can end this shutdown.
service.ServiceWrapper.graceful_shutdown_timeout = 0


class HangingService(service_app.AppService):
    def stop(self, graceful=False):
        self.emit("stopping")
        threading.Event().wait()


if __name__ == "__main__":
    service_app.AppService = HangingService
    sys.exit(service_app.main())
