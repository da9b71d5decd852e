"""Backend registry: which concurrency model this process runs on.

Mirrors ``oslo_service.backend`` (``BackendType``, ``init_backend``,
``get_backend``, ``get_backend_type``, ``get_component``,
``register_backend_default_hook``, ``_reset_backend``) so code written against
oslo.service keeps working, with two differences:

* the default is :attr:`BackendType.THREADING` (this package exists to run
  without eventlet);
* selecting threading blocks eventlet for the rest of the process (see
  :mod:`oslo_threading_backend._openstack.eventlet_guard`), so the backend must be chosen
  before importing libraries that import eventlet;
* the backend is settled (:func:`settle_backend`) as soon as a module of ours
  that imports futurist is imported, because futurist imports eventlet whenever
  it is installed. An application that wants the eventlet backend, a default
  hook or :func:`select_backend` calls it before importing
  ``oslo_threading_backend.service`` (or any module but this one).

Backends are classes registered in the entry point group
``oslo_threading_backend.backends`` under the :class:`BackendType` value they
implement. ``threading`` is built in; ``eventlet`` is an adapter over
oslo.service's eventlet backend and needs ``oslo.service`` and ``eventlet``
installed. :func:`select_backend` applies the usual precedence (environment
variable, ``[DEFAULT] concurrency_backend``, application default).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
import copy
import importlib
import importlib.metadata
import logging
import os
import threading
from typing import Any

from oslo_config import cfg

from oslo_threading_backend._openstack import eventlet_guard as _eventlet_guard
from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._openstack import oslo_service_default as _oslo_service_default
from oslo_threading_backend._openstack.backend_exceptions import BackendAlreadySelected
from oslo_threading_backend._openstack.backend_exceptions import BackendComponentNotAvailable
from oslo_threading_backend._openstack.backend_exceptions import BackendNotAvailable
from oslo_threading_backend._openstack.backend_exceptions import UnsupportedBackendError
from oslo_threading_backend._openstack.backend_type import BackendType
from oslo_threading_backend._openstack.backend_type import coerce_type as _coerce_type
from oslo_threading_backend._openstack.backend_type import known_names as _known_names

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "oslo_threading_backend.backends"

__all__ = [
    "BackendAlreadySelected",
    "BackendComponentNotAvailable",
    "BackendNotAvailable",
    "BackendType",
    "BaseBackend",
    "UnsupportedBackendError",
    "DEFAULT_BACKEND_TYPE",
    "get_backend",
    "get_backend_type",
    "get_component",
    "init_backend",
    "list_opts",
    "register_backend_default_hook",
    "register_opts",
    "select_backend",
    "settle_backend",
]

DEFAULT_BACKEND_TYPE = BackendType.THREADING

#: Values of the environment variable that mean "disable eventlet patching",
#: i.e. run on native threads (nova's ``OS_NOVA_DISABLE_EVENTLET_PATCHING``).
_TRUE_VALUES = frozenset({"1", "true", "yes"})

#: Backends that work without entry point metadata (e.g. running from a source
#: tree); an entry point with the same name takes precedence.
_BUILTIN_BACKENDS = {
    BackendType.THREADING: "oslo_threading_backend._openstack.threading_backend:ThreadingBackend",
    BackendType.EVENTLET: "oslo_threading_backend._openstack.eventlet_backend:EventletBackend",
}

_INSTALL_HINTS = {
    BackendType.EVENTLET: "install oslo.service and eventlet (pip install oslo.service eventlet)",
}

_opts = [
    cfg.StrOpt(
        "concurrency_backend",
        default="auto",
        choices=[
            ("auto", "Use the environment variable if set, else the application's default."),
            ("threading", "Native threads (cotyledon and futurist); eventlet is blocked."),
            ("eventlet", "Eventlet green threads through oslo.service's eventlet backend."),
        ],
        help="Concurrency model of the service. An environment variable named by the "
        "application (e.g. OS_NOVA_DISABLE_EVENTLET_PATCHING) overrides this option. "
        "The eventlet backend needs oslo.service and eventlet installed.",
    ),
]


class BaseBackend(abc.ABC):
    """Base class of a backend: a named set of oslo.service-compatible components."""

    @abc.abstractmethod
    def get_service_components(self) -> dict[str, Any]:
        """Return component name -> class or function (e.g. ``"ServiceLauncher"``)."""


_lock = threading.RLock()
_cached_backend_type: BackendType | None = None
_cached_backend: BaseBackend | None = None
_cached_components: dict[str, Any] | None = None
_backend_hook: Callable[[], BackendType] | None = None


def register_backend_default_hook(hook: Callable[[], BackendType]) -> None:
    """Register a callable deciding the backend when get_backend() runs first.

    It is consulted only if nothing was selected yet; if it raises or returns
    garbage the error is logged and :data:`DEFAULT_BACKEND_TYPE` is used.
    """
    if not callable(hook):
        raise TypeError(f"hook must be callable returning a BackendType, got {hook!r}")
    global _backend_hook
    with _lock:
        _backend_hook = hook


def _reset_backend() -> None:
    """Forget the selected backend, the hook and the eventlet block (tests only)."""
    global _cached_backend, _cached_backend_type, _cached_components, _backend_hook
    with _lock:
        _cached_backend_type = None
        _cached_backend = None
        _cached_components = None
        _backend_hook = None
        _eventlet_guard.unpoison()


def _entry_points() -> importlib.metadata.EntryPoints:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _backend_target(type_: BackendType) -> tuple[str, str]:
    """Return (``module:attr`` to load, where it came from) for a backend."""
    found = list(_entry_points().select(name=type_.value))
    targets = {ep.value for ep in found}
    if len(targets) > 1:
        LOG.warning(
            "Several entry points named %r in group %s: %s; using %s",
            type_.value,
            ENTRY_POINT_GROUP,
            ", ".join(sorted(targets)),
            found[0].value,
        )
    if found:
        return found[0].value, f"entry point {ENTRY_POINT_GROUP}:{type_.value}"
    return _BUILTIN_BACKENDS[type_], "built-in"


def _load_backend(type_: BackendType) -> BaseBackend:
    target, origin = _backend_target(type_)
    module_name, _, attr = target.partition(":")
    hint = _INSTALL_HINTS.get(type_, "check that the package providing it is installed")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendNotAvailable(
            f"the {type_.value!r} backend ({origin}: {target}) cannot be imported: "
            f"{exc}; {hint}, or select another backend ({_known_names()})"
        ) from exc
    try:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise BackendNotAvailable(
            f"the {type_.value!r} backend ({origin}) names {target!r}, which does not exist"
        ) from None
    backend = obj()
    if not callable(getattr(backend, "get_service_components", None)):
        raise TypeError(
            f"the {type_.value!r} backend ({origin}: {target}) has no get_service_components()"
        )
    return backend


def init_backend(type_: BackendType | str) -> None:
    """Select the backend for this process; a repeat with the same type is a no-op.

    Selecting threading blocks eventlet from now on, so call this before
    importing libraries that import eventlet.

    :raises TypeError: ``type_`` is neither a BackendType nor a string.
    :raises ValueError: ``type_`` names no known backend.
    :raises BackendAlreadySelected: a different backend is already selected.
    :raises BackendNotAvailable: the backend's dependencies are not installed.
    :raises RuntimeError: threading was selected but eventlet has monkey-patched
        the process (eventlet merely imported gives one warning).
    """
    global _cached_backend, _cached_backend_type, _cached_components
    new_type = _coerce_type(type_, "init_backend() argument 'type_'")
    with _lock:
        if _cached_backend_type is not None:
            if _cached_backend_type is not new_type:
                raise BackendAlreadySelected(
                    f"init_backend() argument 'type_' is {new_type.value!r} but the "
                    f"{_cached_backend_type.value!r} backend is already selected; only "
                    f"{_cached_backend_type.value!r} is allowed for the rest of this process"
                )
            return
        poisoned_here = False
        if new_type is BackendType.THREADING and not _eventlet_guard.is_poisoned():
            _eventlet_guard.poison()
            poisoned_here = True
        try:
            backend = _load_backend(new_type)
        except BaseException:
            if poisoned_here:
                _eventlet_guard.unpoison()
            raise
        _cached_backend = backend
        _cached_components = None
        _cached_backend_type = new_type
    if new_type is BackendType.THREADING:
        _oslo_service_default.follow_threading()
    LOG.info("Concurrency backend %r loaded", new_type.value)


def get_backend() -> BaseBackend:
    """Return the selected backend, selecting the default one if none was."""
    with _lock:
        if _cached_backend is None:
            type_ = DEFAULT_BACKEND_TYPE
            if _backend_hook is not None:
                try:
                    type_ = _coerce_type(_backend_hook(), "the backend default hook's result")
                    LOG.info("Backend default hook chose %r", type_.value)
                except Exception:
                    LOG.exception(
                        "Backend default hook failed; using %r", DEFAULT_BACKEND_TYPE.value
                    )
                    type_ = DEFAULT_BACKEND_TYPE
            init_backend(type_)
        assert _cached_backend is not None  # nosec B101: for type checkers
        return _cached_backend


def settle_backend() -> BackendType:
    """Select the default backend (or the hook's choice) unless one is selected; return it.

    Every module of this package that imports futurist calls this first (through
    ``oslo_threading_backend._openstack.settle``): futurist imports eventlet whenever it is
    installed, and in a threading process the eventlet block must be in place
    before that. Nobody has to remember to call it; calling it again is cheap.

    :raises RuntimeError: threading was chosen but eventlet has monkey-patched
        the process.
    """
    selected = _cached_backend_type
    if selected is not None:
        return selected
    get_backend()
    assert _cached_backend_type is not None  # nosec B101: for type checkers
    return _cached_backend_type


def get_backend_type() -> BackendType | None:
    """Return the selected backend type, or None if none was selected yet."""
    return _cached_backend_type


def get_component(name: str) -> Any:
    """Return the selected backend's component ``name`` (e.g. ``"ServiceLauncher"``).

    Components are resolved on first use, not in init_backend(), so that choosing
    the backend early imports as little as possible.

    :raises TypeError: ``name`` is not a string.
    :raises BackendComponentNotAvailable: the backend has no such component.
    """
    global _cached_components
    if not isinstance(name, str):
        raise TypeError(
            f"get_component() argument 'name' must be a component name (str), "
            f"got {type(name).__name__} {name!r}"
        )
    backend = get_backend()
    components = _cached_components
    if components is None:
        # Outside the lock: this imports modules, and holding our lock across an
        # import could deadlock against a thread importing one of them.
        fresh = backend.get_service_components()
        if not isinstance(fresh, dict):
            raise TypeError(
                f"{type(backend).__name__}.get_service_components() must return a "
                f"dict, got {type(fresh).__name__}"
            )
        with _lock:
            if _cached_components is None and _cached_backend is backend:
                _cached_components = fresh
        components = fresh
    backend_type = _cached_backend_type
    if components.get(name) is None:
        available = ", ".join(sorted(k for k, v in components.items() if v is not None))
        raise BackendComponentNotAvailable(
            f"get_component() argument 'name': component {name!r} is not available in "
            f"the {backend_type.value if backend_type else '?'!r} backend; "
            f"available: {available}"
        )
    return components[name]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register ``[DEFAULT] concurrency_backend`` on ``conf`` (idempotent)."""
    _opt_registration.register_missing(conf, _opts)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Return this module's options for oslo-config-generator."""
    return [("DEFAULT", copy.deepcopy(_opts))]


def select_backend(
    env_var: str | None = None,
    conf: cfg.ConfigOpts | None = None,
    default: BackendType | str = BackendType.THREADING,
) -> BackendType:
    """Decide the backend for a service, select it with init_backend() and return it.

    Precedence: the environment variable named ``env_var`` (nova's
    ``OS_NOVA_DISABLE_EVENTLET_PATCHING`` convention: ``1``/``true``/``yes``
    means threading, any other non-empty value means eventlet), then
    ``[DEFAULT] concurrency_backend`` in ``conf`` unless ``auto``, then
    ``default``. ``conf`` may be unparsed (the option's default is ``auto``);
    the option is registered on it if needed. Call this before importing
    libraries that import eventlet.

    :raises TypeError, ValueError: an argument or the option has a bad value.
    :raises BackendAlreadySelected: a different backend is already selected.
    :raises BackendNotAvailable: eventlet was chosen but is not installed.
    :raises RuntimeError: threading was chosen but eventlet has monkey-patched
        the process.
    """
    if env_var is not None and (not isinstance(env_var, str) or not env_var):
        raise TypeError(
            f"select_backend() argument 'env_var' must be an environment variable name "
            f"(non-empty str) or None, got {env_var!r}"
        )
    if conf is not None and not isinstance(conf, cfg.ConfigOpts):
        raise TypeError(
            f"select_backend() argument 'conf' must be an oslo.config ConfigOpts or None, "
            f"got {type(conf).__name__}"
        )
    default_type = _coerce_type(default, "select_backend() argument 'default'")

    chosen: BackendType | None = None
    reason = ""
    unused: list[str] = []
    if env_var is not None:
        raw = os.environ.get(env_var, "").strip()
        if raw:
            disable_eventlet = raw.lower() in _TRUE_VALUES
            chosen = BackendType.THREADING if disable_eventlet else BackendType.EVENTLET
            reason = f"environment variable {env_var}={raw!r}"
        else:
            unused.append(f"{env_var} unset")
    if chosen is None and conf is not None:
        register_opts(conf)
        value = conf.concurrency_backend
        if value is not None and str(value).strip().lower() != "auto":
            chosen = _coerce_type(value, "[DEFAULT] concurrency_backend")
            reason = f"[DEFAULT] concurrency_backend = {value}"
        else:
            unused.append("concurrency_backend = auto")
    if chosen is None:
        chosen = default_type
        reason = "the application's default"
        if unused:
            reason += f" ({', '.join(unused)})"

    LOG.info("Selecting concurrency backend %r, decided by %s", chosen.value, reason)
    init_backend(chosen)
    return chosen
