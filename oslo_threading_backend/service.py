"""oslo.service's ``service`` module on native threads: switch by changing the import.

``from oslo_service import service`` becomes
``from oslo_threading_backend import service``; names and signatures are the
same. Where oslo.service's threading backend raises NotImplementedError or
does nothing (``restart()``, SIGHUP with ``no_fork``), this one works.
"""

import copy

from oslo_config import cfg

from oslo_threading_backend._openstack.config_check import InvalidConfigValue
from oslo_threading_backend._openstack.service_opts import service_opts
from oslo_threading_backend._processes.launchers import Launcher
from oslo_threading_backend._processes.launchers import ProcessLauncher
from oslo_threading_backend._processes.launchers import ServiceLauncher
from oslo_threading_backend._processes.launchers import launch
from oslo_threading_backend._processes.service_base import Service
from oslo_threading_backend._processes.service_base import ServiceBase
from oslo_threading_backend._processes.service_base import Services
from oslo_threading_backend._processes.signals import SignalExit
from oslo_threading_backend._processes.signals import SignalHandler
from oslo_threading_backend._processes.signals import Singleton
from oslo_threading_backend._processes.signals import is_daemon as _is_daemon
from oslo_threading_backend._processes.signals import is_sighup_and_daemon as _is_sighup_and_daemon
from oslo_threading_backend._processes.worker import ServiceWrapper

# They live in private modules (_processes, _openstack); tracebacks, pickles and
# docs name them where users import them from.
for _public in (
    InvalidConfigValue,
    Launcher,
    ProcessLauncher,
    ServiceLauncher,
    Service,
    ServiceBase,
    Services,
    SignalExit,
    SignalHandler,
    Singleton,
    ServiceWrapper,
):
    _public.__module__ = __name__
del _public

__all__ = [
    "InvalidConfigValue",
    "Launcher",
    "ProcessLauncher",
    "Service",
    "ServiceBase",
    "ServiceLauncher",
    "ServiceWrapper",
    "Services",
    "SignalExit",
    "SignalHandler",
    "Singleton",
    "_is_daemon",
    "_is_sighup_and_daemon",
    "launch",
    "list_opts",
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator: the launcher options."""
    return [(None, copy.deepcopy(service_opts))]
