"""Log every thread's stack when the process receives a signal (SIGUSR2 by default).

On native threads a stuck service is a stuck thread: this shows which one and where,
in the master or in any worker (``kill -USR2 <pid>``, or ``kill -USR2 -<pgid>`` for
the whole service, since the master makes itself a process group leader). It
replaces nothing of oslo.service's eventlet backdoor on purpose: that is a remote
shell on a network port, and this package ships no listener of any kind.

One ``install(conf)`` in the master before it forks covers every worker: a forked
process inherits the handler (cotyledon does not touch SIGUSR2), and the dump names
the process it comes from. A worker started with the 'spawn' start method inherits
nothing and must call ``install(conf)`` itself.

The application's signal handlers are its own: if the signal already has a Python
handler when ``install()`` runs (nova, cinder and neutron put oslo.reports' Guru
Meditation Report on SIGUSR2 at start), the thread dump steps aside, leaves that
handler alone and logs so once; set ``thread_dump_signal`` to another signal to
have both.

Limits: Python runs signal handlers in the main thread, between bytecodes. A process
whose main thread never returns from C code cannot run it; ``faulthandler.register()``
(which writes to a file descriptor from C, not to the log) covers that case.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import sys
import threading
import traceback
import types
from typing import Any

from oslo_config import cfg

from oslo_threading_backend._openstack import opt_registration as _opt_registration

LOG = logging.getLogger(__name__)

OPTION = "thread_dump_signal"

# Signals the launcher (cotyledon and ours) gives a meaning to.
LAUNCHER_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGALRM", "SIGCHLD")
# Signals free for an operator's request on Linux services; those this platform has.
ALLOWED_SIGNALS = tuple(
    name
    for name in ("SIGUSR2", "SIGUSR1", "SIGQUIT", "SIGWINCH", "SIGURG", "SIGPWR")
    if hasattr(signal, name)
)

thread_dump_opts = [
    cfg.StrOpt(
        OPTION,
        default="SIGUSR2",
        help="Signal that makes a process (the master or any worker) log the stack of "
        "every thread, to find stuck threads. An empty value disables it. One of: "
        + ", ".join(ALLOWED_SIGNALS)
        + ". Signals the launcher uses ("
        + ", ".join(LAUNCHER_SIGNALS)
        + ") are refused.",
    ),
]

_BEGIN = "===== Thread dump of {process}: {count} threads ====="
_END = "===== End of thread dump of {process} ====="

# (signal number, the handler it replaced), set by install() in the main thread.
_installed: tuple[int, Any] | None = None
# (signal number, the application's handler) when install() stepped aside for it.
_stepped_aside: tuple[int, Any] | None = None
# Idents of the raw threads starting a dump thread, so a dump can name them.
_starters: set[int] = set()


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(thread_dump_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the thread dump option on ``conf``; safe to call more than once."""
    _opt_registration.register_missing(conf, thread_dump_opts)


def parse_signal(value: str) -> signal.Signals | None:
    """The signal ``thread_dump_signal`` names ('SIGUSR2', 'USR2', 'sigusr2'), or None.

    None for an empty value (disabled). ValueError naming the option for a signal
    that is unknown, cannot be caught, or that the launcher uses.
    """
    if not isinstance(value, str):
        raise TypeError(f"{OPTION} must be a signal name such as 'SIGUSR2', got {value!r}")
    name = value.strip().upper()
    if not name:
        return None
    if not name.startswith("SIG"):
        name = "SIG" + name
    allowed = ", ".join(ALLOWED_SIGNALS)
    if name in LAUNCHER_SIGNALS:
        raise ValueError(
            f"{OPTION} = {value!r} is refused: the launcher uses "
            f"{', '.join(LAUNCHER_SIGNALS)}; use one of {allowed}, or '' to disable"
        )
    if name not in ALLOWED_SIGNALS:
        raise ValueError(
            f"{OPTION} = {value!r} is not a supported signal; use one of {allowed}, "
            "or '' to disable"
        )
    return signal.Signals(getattr(signal, name))


def _process_label() -> str:
    try:
        import setproctitle

        title = setproctitle.getproctitle()
    except Exception:  # not installed, or no title on this platform
        title = ""
    if not title:
        title = " ".join(sys.argv) if sys.argv else "python"
    return f"pid {os.getpid()} ({title})"


def format_dump() -> str:
    """Every thread's name, ident, native id, daemon flag and stack, as one text.

    Threads not started through ``threading`` (C extensions, ``_thread``) are listed
    with their ident only.
    """
    frames = sys._current_frames()
    threads = {t.ident: t for t in threading.enumerate() if t.ident is not None}
    current = threading.get_ident()
    main = threading.main_thread().ident

    def order(ident: int) -> tuple[int, str, int]:
        # The main thread first, then by name; threads unknown to threading last.
        thread = threads.get(ident)
        return (0 if ident == main else 1 if thread else 2, thread.name if thread else "", ident)

    idents = sorted(set(frames) | set(threads), key=order)
    process = _process_label()
    lines = [_BEGIN.format(process=process, count=len(idents))]
    for ident in idents:
        thread = threads.get(ident)
        if thread is not None:
            notes = [f"ident {ident}", f"native id {thread.native_id}", f"daemon {thread.daemon}"]
            name = thread.name
        elif ident in _starters:
            notes = [f"ident {ident}", "starting this dump"]
            name = "<thread-dump starter>"
        else:
            notes = [f"ident {ident}", "not started by threading"]
            name = "<unknown>"
        if ident == main:
            notes.append("main thread")
        lines.append(f'--- Thread "{name}" ({", ".join(notes)}) ---')
        frame = frames.get(ident)
        if ident == current:
            lines.append("  <this thread: writing the dump>")
        elif frame is None:
            lines.append("  <no Python stack>")
        else:
            lines.extend(line.rstrip("\n") for line in traceback.format_stack(frame))
    lines.append(_END.format(process=process))
    return "\n".join(lines)


def log_dump() -> None:
    """Log ``format_dump()`` as one record at WARNING.

    WARNING because an operator asked for it: it must get past the level filters
    of a service that does not log INFO.
    """
    try:
        LOG.warning("%s", format_dump())
    except Exception:
        LOG.exception("Thread dump failed")


def _dump_requested_by(starter: int) -> None:
    try:
        log_dump()
    finally:
        _starters.discard(starter)


def _start_dump_thread() -> None:
    # Runs in a raw _thread thread: start a named threading.Thread so the log record
    # carries a real thread name (a raw thread calling logging would register a
    # "Dummy-N" thread that threading never forgets). The dump thread forgets this
    # thread's ident once the dump is written, so the dump can name it.
    ident = _thread.get_ident()
    _starters.add(ident)
    try:
        threading.Thread(
            target=_dump_requested_by, args=(ident,), name="thread-dump", daemon=True
        ).start()
    except RuntimeError:  # interpreter shutting down
        _starters.discard(ident)


def _on_signal(signo: int, frame: types.FrameType | None) -> None:
    # Runs in the main thread between two bytecodes, maybe while that thread holds
    # threading's or logging's locks, which are not reentrant: taking one here could
    # deadlock it. _thread.start_new_thread takes none of them. The main thread
    # returns at once to what it was doing (cotyledon's select()).
    try:
        _thread.start_new_thread(_start_dump_thread, ())
    except RuntimeError:  # interpreter shutting down, or no thread could be created
        pass


def install(conf: cfg.ConfigOpts) -> int | None:
    """Install the handler for ``conf.thread_dump_signal``; returns its number, or None.

    Call from the main thread of the master before it forks workers (forked workers
    inherit the handler), or of the in-process runner. None when the option is empty
    (a handler this module installed earlier is then removed), and None when the
    signal has a Python handler of the application's: the dump steps aside and logs
    it (once per handler, forked workers included). Calling it again replaces the
    earlier installation. Raises ValueError for a bad signal name (before anything is
    changed) and RuntimeError outside the main thread.
    """
    if not isinstance(conf, cfg.ConfigOpts):
        raise TypeError(f"conf must be an oslo_config.cfg.ConfigOpts, got {conf!r}")
    register_opts(conf)
    signo = parse_signal(conf.thread_dump_signal or "")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("thread_dump.install() must be called from the main thread")
    global _installed, _stepped_aside
    if _installed is not None and (signo is None or _installed[0] != signo):
        uninstall()
    if signo is None:
        return None
    current = signal.getsignal(signo)
    if callable(current) and current is not _on_signal:
        # The application's own handler (oslo.reports' Guru Meditation Report, ...),
        # installed before us or over ours: it stays.
        if _stepped_aside != (int(signo), current):
            LOG.info(
                "Thread dump steps aside on %s: the application handles it (%s); "
                "set [DEFAULT] %s to another signal (%s) to have a thread dump too",
                signo.name,
                _describe_handler(current),
                OPTION,
                ", ".join(name for name in ALLOWED_SIGNALS if name != signo.name),
            )
        _stepped_aside = (int(signo), current)
        _installed = None
        return None
    _stepped_aside = None
    if _installed is None:
        previous = signal.signal(signo, _on_signal)
        _installed = (int(signo), previous)
    else:
        # Again on the same signal: put ours back if it was reset (SIG_DFL, SIG_IGN), but keep
        # the handler found the first time as the one uninstall() restores.
        signal.signal(signo, _on_signal)
    LOG.debug("Thread dump on %s installed in pid %d", signo.name, os.getpid())
    return int(signo)


def _describe_handler(handler: Any) -> str:
    module = getattr(handler, "__module__", None) or "?"
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{name}"


def uninstall() -> None:
    """Restore the handler that ``install()`` replaced; nothing if none is installed.

    Main thread only, like ``install()``.
    """
    global _installed
    if _installed is None:
        return
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("thread_dump.uninstall() must be called from the main thread")
    signo, previous = _installed
    signal.signal(signo, previous if previous is not None else signal.SIG_DFL)
    _installed = None


def installed_signal() -> int | None:
    """The signal number the dump is installed on in this process, or None."""
    return None if _installed is None else _installed[0]


def stepped_aside_signal() -> int | None:
    """The signal the dump left to the application's own handler, or None."""
    return None if _stepped_aside is None else _stepped_aside[0]
