"""What the master needs of cotyledon's private ``ServiceManager`` internals.

``_master.Master`` overrides private methods of cotyledon 2.2.0's
``ServiceManager`` and reads its private attributes. requirements.txt bounds
cotyledon to the tested minor release; this check makes an untested one that
renamed or dropped any of them fail loudly when the launcher starts, instead
of silently running cotyledon's own (buggy) code paths or failing in the
middle of a shutdown.
"""

from __future__ import annotations

import importlib.metadata

import cotyledon

# Methods the master overrides (their names must still be the ones cotyledon
# calls) or calls; cotyledon's signal loop dispatches to the first four.
METHODS = (
    "_on_signal_received",
    "_reload",
    "_shutdown",
    "_fast_exit",
    "_run_hooks",
    "_slowdown_respawn_if_needed",
    "_start_worker",
    "_adjust_workers",
    "_systemd_notify_once",
    "_child_supervisor_thread",
    # The Python signal handler SignalManager installs (shutdown_gate closes in it).
    "_signal_catcher",
)
# Attributes set by ServiceManager.__init__ that the master and launchers use.
ATTRIBUTES = (
    "_services",
    "_running_services",
    "_forktimes",
    "_graceful_shutdown_timeout",
    "_wait_interval",
    "_dead",
    "_got_sig_chld",
    "_child_supervisor",
)
TESTED = ">=2.2.0,<2.3"


class IncompatibleCotyledonError(RuntimeError):
    """The installed cotyledon lacks a method or attribute the launcher relies on."""


def _version() -> str:
    try:
        return importlib.metadata.version("cotyledon")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored copy
        return "(unknown version)"


def _fail(kind: str, names: list[str]) -> None:
    raise IncompatibleCotyledonError(
        f"cotyledon {_version()} is not supported: oslo_threading_backend relies on "
        f"cotyledon.ServiceManager's private {kind} {', '.join(names)}, missing in this "
        f"version; install cotyledon{TESTED}"
    )


def check_manager_class(manager_cls: type = cotyledon.ServiceManager) -> None:
    """Raise IncompatibleCotyledonError if a method the master overrides or calls is gone."""
    missing = [name for name in METHODS if not callable(getattr(manager_cls, name, None))]
    if missing:
        _fail("method" if len(missing) == 1 else "methods", missing)


def check_manager_instance(manager: object) -> None:
    """Raise IncompatibleCotyledonError if ServiceManager.__init__ no longer sets an attribute."""
    missing = [name for name in ATTRIBUTES if not hasattr(manager, name)]
    if missing:
        _fail("attribute" if len(missing) == 1 else "attributes", missing)
