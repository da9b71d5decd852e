"""A service whose every behaviour the functional tests need is a command-line switch.

Each worker appends events ("<name> pid=<pid> key=value ...") to the file
given by --events, with O_APPEND writes, so tests can wait on them.
"""

import argparse
import gc
import multiprocessing.util
import os
import re
import signal
import sys
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from oslo_threading_backend import executors
from oslo_threading_backend import service
from oslo_threading_backend import threadgroup

LOG = logging.getLogger(__name__)
app_opts = [cfg.StrOpt("value", default="initial", mutable=True, help="Reported on reset.")]


def emit(events_path, name, **fields):
    line = " ".join([name, f"pid={os.getpid()}"] + [f"{k}={v}" for k, v in fields.items()])
    fd = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class AppService(service.Service):
    def __init__(self, conf, args):
        super().__init__(threads=8)
        self.conf = conf
        self.args = args
        self._stopping = None  # made in start(): the service must pickle for 'spawn'
        self._unblock = None
        self._futurist_pool = None
        if args.threads_before_fork:
            # The group and a named pool are used in the master before any fork.
            done = threading.Event()
            self.tg.add_thread(done.set)
            done.wait(10)
            executors.spawn(done.is_set).result(10)

    def emit(self, name, **fields):
        emit(self.args.events, name, **fields)

    def start(self):
        self.emit("start-begin", value=self.conf.app.value)
        if self.args.start_seconds:
            time.sleep(self.args.start_seconds)
            self.emit("start-returning")
        if self.args.start_blocks:
            # Serves from start() until stop() is called (as some services do).
            self._unblock = threading.Event()
            self.emit("start-blocking")
            self._unblock.wait()
            self.emit("start-unblocked")
            return
        if (
            self.args.start_fails
            or (self.args.start_fails_once_started and _has_event(self.args.events, "started"))
            or (self.args.start_fails_in_one_worker and _first(self.args.events + ".failing"))
        ):
            self.emit("start-failing")
            raise RuntimeError("start() fails on purpose")
        if self.args.threads_before_fork:
            ran = threading.Event()
            self.tg.add_thread(ran.set)
            self.emit("thread-in-worker", ran=ran.wait(10))
        pooled = executors.spawn(os.getpid)
        self.emit("pool-task", ok=pooled.result(timeout=10) == os.getpid())
        if self.args.futurist_pool:
            self._start_futurist_pool(self.args.futurist_pool)
        self._stopping = threading.Event()
        self.tg.add_thread(self._requests, self._stopping)
        if self.args.hang_holding_the_gil and not _has_event(self.args.events, "gil-hang"):
            # The first worker to get here stops running Python: a C call holds the GIL.
            self.emit("gil-hang")
            threading.Thread(target=_hold_the_gil, daemon=True).start()
        self.emit("started", value=self.conf.app.value)

    def _start_futurist_pool(self, size):
        # The application's own futurist pool (as nova's), its threads all idle.
        import futurist

        self._futurist_pool = futurist.ThreadPoolExecutor(max_workers=size)
        gate = threading.Barrier(size + 1)
        for _ in range(size):
            self._futurist_pool.submit(gate.wait, 10)
        gate.wait(10)
        self.emit("futurist-pool-started", size=size)

    @threadgroup.runs_until_stopped  # serves until stop(): not a stuck task
    def _requests(self, stopping):
        while not stopping.is_set():
            # One request: it always runs to its end, even during a shutdown.
            time.sleep(self.args.request_seconds)
            self.emit("request-finished", stopping=stopping.is_set())

    def stop(self, graceful=False):
        self.emit("stopping")
        if getattr(self, "_unblock", None) is not None:
            self._unblock.set()
        if self.args.stop_hangs:
            threading.Event().wait()
        if self._futurist_pool is not None:
            began = time.monotonic()
            self._futurist_pool.shutdown(wait=True)
            self.emit("futurist-pool-down", seconds=f"{time.monotonic() - began:.3f}")
        if self._stopping is not None:
            self._stopping.set()
        super().stop(graceful)

    def wait(self):
        # Called after start() while the service runs, as oslo.service does.
        self.emit("wait-begin")
        super().wait()
        self.emit("stopped")

    def reset(self):
        value = self.conf.app.value
        self.emit("resetting", value=value)
        time.sleep(self.args.reset_seconds)
        self.emit("reset", value=value)


def _has_event(events_path, name):
    try:
        with open(events_path) as f:
            return any(line.startswith(name + " ") for line in f)
    except FileNotFoundError:
        return False


def _first(path):
    """True in the one process that creates ``path`` first."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _hold_the_gil():
    # Once the worker has reported its service started (start() returned a
    # moment ago): a hang in start() would be a boot failure instead.
    time.sleep(1.0)
    # Catastrophic backtracking: minutes inside the re module's C code, which
    # never releases the GIL (a stand-in for a C extension that holds it).
    re.match(r"(a+)+$", "a" * 64 + "b")


class _Version:
    """What oslo.reports asks of a project's version object."""

    def vendor_string(self):
        return "tests"

    def product_string(self):
        return "service_app"

    def version_string_with_package(self):
        return "1.0"


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--launcher", choices=["launch", "process", "service", "no-fork"], default="launch"
    )
    parser.add_argument("--restart-method", default="reload")
    parser.add_argument("--start-method", default=None)
    parser.add_argument("--start-fails", action="store_true")
    parser.add_argument(
        "--start-fails-once-started",
        action="store_true",
        help="start() raises in any worker started after one worker reported 'started'",
    )
    parser.add_argument(
        "--start-fails-in-one-worker",
        action="store_true",
        help="start() raises in the first worker to call it, once (after --start-seconds)",
    )
    parser.add_argument(
        "--hang-after-fork",
        action="store_true",
        help="the first worker forked stops itself (SIGSTOP) before its heartbeat starts",
    )
    parser.add_argument(
        "--hang-holding-the-gil",
        action="store_true",
        help="the first worker to start then holds the GIL in a C call for minutes",
    )
    parser.add_argument("--stop-hangs", action="store_true")
    parser.add_argument("--request-seconds", type=float, default=0.3)
    parser.add_argument("--threads-before-fork", action="store_true")
    parser.add_argument("--slow-worker-setup", type=float, default=0.0)
    parser.add_argument("--restart-on-sigusr1", action="store_true")
    parser.add_argument("--start-seconds", type=float, default=0.0)
    parser.add_argument("--start-blocks", action="store_true")
    parser.add_argument("--reset-seconds", type=float, default=0.0)
    parser.add_argument("--linger-after-wait", type=float, default=0.0)
    parser.add_argument(
        "--app-sigusr2",
        choices=["none", "plain", "gmr"],
        default="none",
        help="the application's own SIGUSR2 handler, installed before the launcher",
    )
    parser.add_argument("--timeout-after-launch", type=int, default=None)
    parser.add_argument(
        "--futurist-pool",
        type=int,
        default=0,
        help="each worker holds an idle futurist.ThreadPoolExecutor of this many "
        "threads and shuts it down (wait=True) in stop()",
    )
    parser.add_argument(
        "--futurist-idle-poll",
        type=float,
        default=None,
        help="futurist's ThreadWorker.MAX_IDLE_FOR, set in the master before forking",
    )
    parser.add_argument(
        "--count-fork-preparations",
        action="store_true",
        help="each worker reports how often the master had prepared for a fork "
        "(trimmed its free memory) when it was forked",
    )
    args, rest = parser.parse_known_args(argv)

    conf = cfg.ConfigOpts()
    conf.register_opts(app_opts, group="app")
    logging.register_options(conf)
    conf(rest, project="service_app")
    logging.setup(conf, "service_app")

    if args.slow_worker_setup:
        # Runs in each new worker after fork, before cotyledon sets the worker up:
        # widens the window in which a signal reaches a worker that has no handlers yet.
        def slow_setup(_obj):
            emit(args.events, "forked")
            time.sleep(args.slow_worker_setup)

        main.keep = argparse.Namespace()  # any weak-referenceable object
        multiprocessing.util.register_after_fork(main.keep, slow_setup)

    if args.hang_after_fork:
        # The first worker forked stops before its heartbeat starts, as one
        # deadlocked on a lock inherited locked across the fork would.
        def hang_once(_obj):
            if _first(args.events + ".hang-after-fork"):
                emit(args.events, "hang-after-fork")
                os.kill(os.getpid(), signal.SIGSTOP)

        main.keep_hang = argparse.Namespace()
        multiprocessing.util.register_after_fork(main.keep_hang, hang_once)

    if args.linger_after_wait:
        # The application's own SIGINT handler, which the launcher must give back
        # after wait(). Set explicitly: a process started in the background by a
        # non-interactive shell inherits SIGINT ignored, and Python keeps that.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    if args.app_sigusr2 == "plain":
        signal.signal(signal.SIGUSR2, lambda *_: emit(args.events, "app-sigusr2"))
    elif args.app_sigusr2 == "gmr":
        # As nova, cinder and neutron do at start.
        from oslo_reports import guru_meditation_report as gmr

        gmr.TextGuruMeditation.setup_autorun(_Version())

    if args.count_fork_preparations:
        from oslo_threading_backend._processes import fork_guard

        prepared = []
        trim = fork_guard.trim_free_memory

        def counting_trim():
            prepared.append(1)
            return trim()

        fork_guard.trim_free_memory = counting_trim
        # Runs in the child at the fork: the count is the master's at that moment.
        os.register_at_fork(
            after_in_child=lambda: emit(args.events, "fork-prepared", count=len(prepared))
        )

    if args.futurist_idle_poll is not None:
        from futurist import _thread as futurist_thread

        futurist_thread.ThreadWorker.MAX_IDLE_FOR = args.futurist_idle_poll

    # Installed before the launcher: with no_fork, start() (and its 'started' event,
    # on which a test may send SIGUSR1) runs inside launch().
    made = {}
    made_event = threading.Event()
    if args.restart_on_sigusr1:

        def restart_when_made():
            made_event.wait(10)
            made["launcher"].restart()

        def on_sigusr1(*_):
            threading.Thread(target=restart_when_made).start()

        signal.signal(signal.SIGUSR1, on_sigusr1)

    svc = AppService(conf, args)
    if args.launcher == "launch":
        launcher = service.launch(
            conf,
            svc,
            workers=args.workers,
            restart_method=args.restart_method,
            start_method=args.start_method,
        )
    elif args.launcher == "process":
        launcher = service.ProcessLauncher(
            conf, restart_method=args.restart_method, start_method=args.start_method
        )
        launcher.launch_service(svc, workers=args.workers)
    elif args.launcher == "service":
        launcher = service.ServiceLauncher(conf, restart_method=args.restart_method)
        launcher.launch_service(svc, workers=args.workers)
    else:
        launcher = service.launch(conf, svc, restart_method=args.restart_method, no_fork=True)
    if args.timeout_after_launch is not None:
        # Set once the launcher exists, as an application may do before wait().
        conf.set_override("graceful_shutdown_timeout", args.timeout_after_launch)
    made.update(launcher=launcher)
    made_event.set()
    emit(args.events, "launched")
    code = launcher.wait()
    # frozen: objects the final collections of the interpreter's exit skip.
    emit(args.events, "master-exit", code=code, frozen=gc.get_freeze_count())
    LOG.info("Application done after wait() returned %s", code)
    if args.linger_after_wait:
        # The application goes on after wait() returned (its own clean-up).
        emit(args.events, "lingering")
        try:
            time.sleep(args.linger_after_wait)
        except KeyboardInterrupt:
            # SIGINT after wait(): the application's to handle (Python's default).
            emit(args.events, "interrupted-after-wait")
            return 130
        emit(args.events, "lingered")
    return code


if __name__ == "__main__":
    sys.exit(main())
