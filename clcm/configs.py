"""Config dataclasses: declared field limits, one validator and one builder for the CLI, run configs and the library.

Every field of a config dataclass is checked against its type annotation (``int``, ``float``, ``str``, ``bool``,
``X | None``, ``tuple[str, ...]``, mappings, nested config dataclasses) and, where declared with :func:`option`,
against a range or a set of choices::

    @dataclass(frozen=True)
    class DecodeSettings:
        max_length: int = option(256, ge=1, le=100_000)

        def __post_init__(self) -> None:
            check_config(self)

:func:`check_config` (called by ``__post_init__``, so library, CLI and run config all get it) raises
:class:`FieldError` naming the field; :func:`build_config` builds a dataclass from a YAML/flag mapping (unknown
keys named with close matches, nested dataclasses from mappings) and prefixes errors with the section. Lists are
frozen to tuples and a lone string given for a ``tuple[str, ...]`` field becomes a one-item tuple.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from clcm.errors import InputError, UsageError

T = TypeVar("T")
Bound = float | Callable[[], float] | None

LIMITS_KEY = "clcm_limits"
MAX_SHARDS = 10_000  # more output shards than this is a typo, not a plan (each is a file and a Beam bundle)
# rows per bounded round on the local runner (clcm.pipelines.rounds): measured ~+30 MB peak over a 2,000-row job
ROUND_ROWS = 5000


def max_workers() -> int:
    """Local worker processes allowed: 4 per core (more only thrash; a cluster runner ignores it)."""
    return 4 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    """A field's range (bounds may be callables, evaluated when checked) and allowed values."""

    ge: Bound = None
    gt: Bound = None
    le: Bound = None
    lt: Bound = None
    choices: tuple[Any, ...] | None = None


def option(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    ge: Bound = None,
    gt: Bound = None,
    le: Bound = None,
    lt: Bound = None,
    choices: Iterable[Any] | None = None,
) -> Any:
    """A dataclass field with declared limits (checked by :func:`check_config`)."""
    limits = Limits(ge, gt, le, lt, tuple(choices) if choices is not None else None)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={LIMITS_KEY: limits})


class FieldError(UsageError):
    """A config field has a wrong type or a value out of range; ``field`` is its dotted name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (tuple, list):
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} keys"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


_NO = object()  # "does not match"


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` (lists made tuples where a tuple is declared) if it fits ``hint``, else ``_NO``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if hint is type(None):
        return value if value is None else _NO
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            if (out := _coerce(value, arm)) is not _NO:
                return out
        return _NO
    if origin is typing.Literal:
        return value if value in args else _NO
    if hint is bool:
        return value if isinstance(value, bool) else _NO
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
        return value if ok else _NO
    if hint is str:
        return value if isinstance(value, str) else _NO
    if origin in (tuple, list):
        if isinstance(value, str) and args and args[0] is str:  # `tgt_langs: de` means one language
            value = (value,)
        if not isinstance(value, list | tuple):
            return _NO
        item = args[0] if args else Any
        items = [_coerce(v, item) for v in value]
        if any(v is _NO for v in items):
            return _NO
        return tuple(items) if origin is tuple else list(items)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            return _NO
        if args and any(_coerce(v, args[1]) is _NO for v in value.values()):
            return _NO
        return value
    if isinstance(hint, type):
        return value if isinstance(value, hint) else _NO
    return value  # an annotation this checker does not model is left to the class


def _bound(b: Bound) -> float | None:
    return b() if callable(b) else b


def _check_limits(value: Any, limits: Limits) -> str | None:
    if value is None:
        return None
    if limits.choices is not None and value not in limits.choices:
        return f"must be one of {', '.join(map(str, limits.choices))}, got {value!r}"
    if not isinstance(value, int | float):
        return None
    for name, op, text in (
        ("ge", float.__ge__, "at least"),
        ("gt", float.__gt__, "greater than"),
        ("le", float.__le__, "at most"),
        ("lt", float.__lt__, "less than"),
    ):
        bound = _bound(getattr(limits, name))
        if bound is not None and not op(float(value), float(bound)):
            return f"must be {text} {bound:g}, got {value!r}"
    return None


def check_config(obj: Any) -> None:
    """Check every field of config dataclass ``obj`` against its annotation and declared limits.

    Lists given for tuple fields are frozen to tuples in place (the dataclass may be frozen). Nested config
    dataclasses check themselves when they are built.

    Raises:
        FieldError: naming the first bad field, what it must be and what it got.
    """
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint = hints.get(f.name, Any)
        fitted = _coerce(value, hint)
        if fitted is _NO:
            raise FieldError(f.name, f"must be {_describe(hint)}, got {value!r}")
        if fitted is not value:
            object.__setattr__(obj, f.name, fitted)
        limits = f.metadata.get(LIMITS_KEY)
        if limits is not None and (problem := _check_limits(fitted, limits)):
            raise FieldError(f.name, problem)


def unknown_key_error(key: str, allowed: Iterable[str], section: str) -> UsageError:
    """``unknown key 'X' in section 'S'; did you mean 'Y'?; allowed: ...``."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=3)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return UsageError(f"unknown key {key!r} in section {section!r}{hint}; allowed: {', '.join(allowed)}")


def build_config(
    cls: type[T], values: Mapping[str, Any] | None, section: str, fixed: Mapping[str, Any] | None = None
) -> T:
    """Build config dataclass ``cls`` from a mapping (a YAML section, flags) plus caller-set ``fixed`` fields.

    Args:
        cls: the dataclass.
        values: the user's keys; nested dataclass fields may be mappings.
        section: the section's name in messages (``translate``, ``translate.settings``, ``train config``).
        fixed: fields the caller sets itself; the user may not set them.

    Raises:
        UsageError: an unknown key (with close matches), a missing required key, or a bad value (naming the field).
    """
    values = dict(values or {})
    fixed = dict(fixed or {})
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    settable = [n for n in names if n not in fixed]
    for key in values:
        if key not in settable:
            raise unknown_key_error(str(key), settable, section)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        sub = hints.get(key)
        if dataclasses.is_dataclass(sub) and isinstance(value, Mapping):
            value = build_config(sub, value, f"{section}.{key}")
        kwargs[key] = value
    kwargs.update(fixed)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    missing = [f.name for f in fields if f.init and f.name not in kwargs and _required(f)]
    if missing:
        raise UsageError(f"section {section!r}: missing required key {missing[0]!r}")
    try:
        obj = cls(**kwargs)
        check_config(obj)  # classes without a __post_init__ check are checked here
    except (UsageError, ValueError, TypeError) as exc:
        raise UsageError(f"section {section!r}: {exc}") from None
    return obj


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def load_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML config file (``safe_load``: no tags that run code).

    Raises:
        InputError: the file cannot be read (exit 3).
        UsageError: the file is not valid YAML (exit 2, like any other bad config).
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()
        raise UsageError(f"{what} {path} is not valid YAML: {' '.join(s.strip() for s in first)}") from None


__all__ = [
    "MAX_SHARDS",
    "FieldError",
    "Limits",
    "build_config",
    "check_config",
    "load_yaml",
    "max_workers",
    "option",
    "unknown_key_error",
]
