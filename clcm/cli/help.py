"""How the CLIs' ``--help`` reads: click-style usage (``INPUT...``, ``CONFIG``), no type column for on/off flags,
``<str>...`` for repeatable options, plain quotes for the docstrings' RST/markdown backticks, and defaults taken
from the config dataclass a command fills (``clcm-train train`` options default to "not given").

:func:`use_clcm_help` switches every command of a typer app (and of its sub-apps) to :class:`ClcmCommand`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import DefaultPlaceholder

_BACKTICKS = re.compile(r"``(.+?)``|`([^`]+)`")


def plain_text(text: str | None) -> str | None:
    """``code`` and `code` (docstring markup) as 'code' (help is shown as plain text)."""
    return _BACKTICKS.sub(lambda m: f"'{m.group(1) or m.group(2)}'", text) if text else text


class _Argument(TyperArgument):
    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:
        return self._usage_display_name().strip("[]")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column already says what goes there


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None  # an on/off switch takes no value
        shown = super().display_type_rich(ctx)
        if shown and (m := re.fullmatch(r"<list\[(.+)\]>", shown)):
            return f"<{m.group(1)}>..."  # a repeatable option takes one value each time
        return shown


class _ClcmHelp:
    """The help rendering above, for a typer command or group.

    ``config_defaults`` (set by a subclass): option name -> the default shown for options whose CLI default is
    None ("not given: the config decides"); None or "" shows none.
    """

    config_defaults: Mapping[str, Any] = {}
    params: list[Any]
    help: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = plain_text(self.help)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _Argument
            elif type(param) is TyperOption:
                param.__class__ = _Option
            param.help = plain_text(getattr(param, "help", None))
            shown = self.config_defaults.get(param.name or "")
            if shown not in (None, "") and param.default is None and not getattr(param, "is_flag", False):
                param.help = f"{param.help or ''} (default: {shown})".strip()  # (not [..]: rich markup)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None and type(option) is TyperOption:
            option.__class__ = _Option
        return option


class ClcmCommand(_ClcmHelp, TyperCommand):
    """A typer command with clcm's help rendering."""


class ClcmGroup(_ClcmHelp, TyperGroup):
    """A typer group (an app with sub-commands) with clcm's help rendering."""


def config_command(config_cls: type, resolved: Mapping[str, Any] | None = None) -> type[ClcmCommand]:
    """A :class:`ClcmCommand` whose options show ``config_cls``'s field defaults; ``resolved``: what a field left
    None becomes unless something else (e.g. the training objective) decides, shown as ``V unless ...``."""
    defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(config_cls)}
    for key, value in (resolved or {}).items():
        if defaults.get(key) is None:
            defaults[key] = f"{value}, unless the objective sets its own"
    return type(f"{config_cls.__name__}Command", (ClcmCommand,), {"config_defaults": defaults})


def use_clcm_help(app: typer.Typer) -> typer.Typer:
    """Make every command of ``app`` (and its sub-apps) a ClcmCommand, and the apps ClcmGroups, unless they name
    their own class."""
    if app.info.cls in (None, TyperGroup) or isinstance(app.info.cls, DefaultPlaceholder):
        app.info.cls = ClcmGroup
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = ClcmCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_clcm_help(group.typer_instance)
    return app
