"""Every registered option of every group read before the first fork; a bad value is one line.

oslo.config converts a value only when it is read. A value nobody reads in the
master (``[DEFAULT] default_thread_pool_size = -4``) used to start the workers,
which then failed at its first use with a traceback; and oslo.config's message
carries its ``LocationInfo(...)`` repr instead of the file. :func:`check_values`
reads them all and raises :class:`InvalidConfigValue`: the file, the group,
the option, the value as written and what is allowed, in one line.
"""

from __future__ import annotations

from typing import Any

from oslo_config import cfg
from oslo_config import types

_REASON_MARK = " is not valid: "


class InvalidConfigValue(cfg.ConfigFileValueError):
    """A registered option's value does not convert (an oslo.config ConfigFileValueError).

    ``str()`` is one line: ``<file>: [<group>] <option> = <value> is not valid:
    <reason>; allowed: <what>``.
    """

    def __init__(
        self,
        group: str,
        option: str,
        value: Any,
        where: str | None,
        reason: str,
        allowed: str | None,
    ) -> None:
        self.group = group
        self.option = option
        self.value = value
        self.where = where
        self.reason = reason
        self.allowed = allowed
        shown = "(unknown)" if value is None else repr(value)
        message = f"[{group}] {option} = {shown} is not valid: {reason}"
        if where:
            message = f"{where}: {message}"
        if allowed:
            message = f"{message}; allowed: {allowed}"
        super().__init__(message)


def check_values(conf: cfg.ConfigOpts) -> None:
    """Read every option registered on ``conf`` now, in every group.

    :raises InvalidConfigValue: the first value that does not convert.
    :raises oslo_config.cfg.Error: another error reading an option (a ``$name``
        that substitutes nothing, ...), with the group and option prepended.
    """
    for name in list(conf):
        try:
            value = getattr(conf, name)
        except (cfg.Error, ValueError) as exc:
            raise _described(conf, None, name, exc) from None
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for option in list(value):
                try:
                    getattr(value, option)
                except (cfg.Error, ValueError) as exc:
                    raise _described(conf, name, option, exc) from None


def _described(
    conf: cfg.ConfigOpts, group: str | None, option: str, exc: Exception
) -> cfg.Error | InvalidConfigValue:
    group_name = group or "DEFAULT"
    opt = _opt(conf, group, option)
    if not isinstance(exc, ValueError):  # not a conversion: substitution, ...
        error = type(exc) if isinstance(exc, cfg.Error) else cfg.Error
        try:
            return error(f"[{group_name}] {option}: {exc}")
        except TypeError:  # an error class with another signature
            return cfg.Error(f"[{group_name}] {option}: {exc}")
    text = str(exc)
    reason = text.split(_REASON_MARK, 1)[1] if _REASON_MARK in text else text
    value, where = _raw_value(conf, opt, group)
    return InvalidConfigValue(
        group_name, option, value, where, reason, _allowed(opt) if opt is not None else None
    )


def _opt(conf: cfg.ConfigOpts, group: str | None, option: str) -> cfg.Opt | None:
    try:
        return conf._get_opt_info(option, group)["opt"]  # oslo.config has no public lookup
    except Exception:
        return None


def _raw_value(conf: cfg.ConfigOpts, opt: cfg.Opt | None, group: str | None) -> tuple[Any, Any]:
    """The value as written and where: a file's path, an environment variable, the command line."""
    if opt is None:
        return None, None
    try:
        value, loc = opt._get_from_namespace(conf._namespace, group)
    except Exception:  # not set in the files or on the command line: the environment?
        value, loc = None, None
    if loc is None and getattr(conf, "_use_env", False):
        try:
            value, loc = conf._env_driver.get(group, opt.dest, opt)
        except Exception:
            value, loc = None, None
    if loc is None:
        return None, None
    kind = getattr(getattr(loc, "location", None), "name", "")
    detail = getattr(loc, "detail", None)
    if kind == "command_line":
        where = "the command line"
    elif kind == "environment":
        where = f"environment variable {detail}"
    else:
        where = detail
    return value, where


def _allowed(opt: cfg.Opt) -> str | None:
    """What ``opt`` accepts, from its oslo.config type."""
    kind = opt.type
    choices = getattr(kind, "choices", None)
    if choices:
        return "one of " + ", ".join(repr(c) for c in choices)
    if isinstance(kind, types.Boolean):
        return "true or false (also yes/no, on/off, 1/0)"
    if isinstance(kind, (types.Integer, types.Float)):
        what = "an integer" if isinstance(kind, types.Integer) else "a number"
        bounds = []
        if getattr(kind, "min", None) is not None:
            bounds.append(f">= {kind.min}")
        if getattr(kind, "max", None) is not None:
            bounds.append(f"<= {kind.max}")
        return f"{what} {' and '.join(bounds)}" if bounds else what
    if isinstance(kind, types.List):
        return "a comma-separated list"
    if isinstance(kind, types.Dict):
        return "comma-separated key:value pairs"
    if isinstance(kind, types.String):
        regex = getattr(kind, "regex", None)
        if regex is not None:
            return f"a string matching {getattr(regex, 'pattern', regex)!r}"
        max_length = getattr(kind, "max_length", None)
        return f"a string of at most {max_length} characters" if max_length else "a string"
    return getattr(kind, "type_name", None) or type(kind).__name__
