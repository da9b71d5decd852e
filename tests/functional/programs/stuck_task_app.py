"""service_app, but each worker's start() leaves tasks blocked on a lock.

One task on the named executor (ours), one on the application's own
futurist.ThreadPoolExecutor. The lock is released when the file given by
``--release-file`` appears (a thread of the worker polls for it), so the
tasks end and the INFO lines follow.
"""

import argparse
import os
import sys
import threading

import service_app

from oslo_threading_backend import executors

#: Held by start() until the release file appears; the stuck tasks wait on it.
GATE = threading.Lock()


class Inventory:
    """What the stuck tasks do: wait for a row lock that nobody releases."""

    def claim(self):
        with GATE:
            pass
        return os.getpid()


class StuckTaskService(service_app.AppService):
    def start(self):
        import futurist

        GATE.acquire()
        inventory = Inventory()
        self._stuck = [executors.spawn(inventory.claim)]
        self._pool = futurist.ThreadPoolExecutor(max_workers=2)
        self._stuck.append(self._pool.submit(inventory.claim))
        threading.Thread(target=self._release_when_told, daemon=True).start()
        super().start()

    def _release_when_told(self):
        release_file = RELEASE_FILE.path
        while not os.path.exists(release_file):
            threading.Event().wait(0.05)
        GATE.release()
        for future in self._stuck:
            future.result(10)
        self.emit("stuck-tasks-ended")

    def stop(self, graceful=False):
        self._pool.shutdown(wait=False)
        super().stop(graceful)


RELEASE_FILE = argparse.Namespace(path="")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--release-file", required=True)
    known, rest = parser.parse_known_args()
    RELEASE_FILE.path = known.release_file
    service_app.AppService = StuckTaskService
    sys.exit(service_app.main(rest))
