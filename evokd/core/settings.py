"""Settings declared once: a dataclass field carries its name, type, default and help, and the
command-line flag, the Python API's keyword (checked as the flag is) and the README's flag
table are made from it.

The flag is the field name in kebab case: ``samples_per_round`` -> ``--samples-per-round``; a
switch that is on by default is turned off with ``--no-NAME`` (``cache`` -> ``--no-cache``),
one that is off by default is turned on with ``--NAME`` (``reviewer``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from evokd.core.errors import UserError


def setting(default: Any, help: str, *, parse: Callable[[str], Any] | None = None,
            choices: tuple[str, ...] | None = None, metavar: str | None = None,
            shown_default: str | None = None, flag: bool = True) -> Any:
    """A dataclass field with its flag's help, parser (``parse``: an argparse type), choices,
    metavar and, where the default is not a plain value, how the docs show it."""
    return dataclasses.field(default=default, metadata={
        "help": help, "parse": parse, "choices": choices, "metavar": metavar,
        "shown_default": shown_default, "flag": flag})


def flag_fields(cls: type) -> Iterator[dataclasses.Field[Any]]:
    """The fields of ``cls`` that are command-line flags."""
    for f in dataclasses.fields(cls):
        if f.metadata.get("flag"):
            yield f


def flag_name(f: dataclasses.Field[Any]) -> str:
    """``--name``, or ``--no-name`` for a switch that is on by default."""
    kebab = f.name.replace("_", "-")
    return f"--no-{kebab}" if f.default is True else f"--{kebab}"


def _is_switch(f: dataclasses.Field[Any]) -> bool:
    return isinstance(f.default, bool)


def preset_switches(cls: type, preset: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """``(flag, field, help)`` of the flag that undoes a switch the preset flips (the local
    preset's ``llm_critic=False`` gets ``--llm-critic`` beside ``--no-llm-critic``)."""
    for f in flag_fields(cls):
        if _is_switch(f) and f.name in preset and preset[f.name] != f.default:
            kebab = f.name.replace("_", "-")
            flag = f"--{kebab}" if f.default else f"--no-{kebab}"
            yield flag, f, f"undo the local preset's `{flag_name(f)}`"


def _shown(f: dataclasses.Field[Any], preset: Mapping[str, Any]) -> str:
    """The default as the docs show it (with the preset's value in brackets)."""
    shown = f.metadata["shown_default"]
    if shown is None:
        shown = "" if _is_switch(f) else ("none" if f.default is None else str(f.default))
    if f.name in preset:
        shown += " (local: set)" if _is_switch(f) else f" (local: {preset[f.name]})"
    return shown.strip()


def add_flags(parser: argparse.ArgumentParser, cls: type,
              preset: Mapping[str, Any] = {}, *, absent: bool = True) -> None:  # noqa: B006
    """One flag per flag field of ``cls``. With ``absent``, a flag not given is absent from the
    namespace (``argparse.SUPPRESS``), so ``given`` tells what the user set; else it holds the
    field's default."""
    for f in flag_fields(cls):
        meta = f.metadata
        default = argparse.SUPPRESS if absent else f.default
        shown = _shown(f, preset)
        text = meta["help"] + (f" (default: {shown})" if shown else "")
        text = text.replace("%", "%%")
        if _is_switch(f):
            parser.add_argument(flag_name(f), dest=f.name, default=default,
                                action="store_false" if f.default else "store_true", help=text)
        else:
            parser.add_argument(flag_name(f), dest=f.name, default=default,
                                type=meta["parse"], choices=meta["choices"],
                                metavar=meta["metavar"], help=text)
    for flag, f, text in preset_switches(cls, preset):
        parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS if absent else f.default,
                            action="store_true" if f.default else "store_false", help=text)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` the user set on the command line."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def keyword_values(keywords: Mapping[str, Any], classes: tuple[type, ...],
                   caller: str) -> dict[str, Any]:
    """The Python API's keywords as setting values, checked as their flags are: ``None``
    leaves a setting at its default, ``no_NAME=True`` is ``NAME=False`` for a switch that is on
    by default, a value the flag would refuse is a UserError with the flag's message (``rounds=
    -1``: "expected a number >= 0"), and a name that is no setting a TypeError naming it."""
    fields = {f.name: f for cls in classes for f in flag_fields(cls)}
    values: dict[str, Any] = {}
    for name, value in keywords.items():
        f = fields.get(name)
        negated = fields.get(name.removeprefix("no_")) if name.startswith("no_") else None
        if f is None and negated is not None and negated.default is True:
            f, value = negated, None if value is None else not value
        if f is None:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
        if value is not None:
            values[f.name] = _checked(f, value)
    return values


def _checked(f: dataclasses.Field[Any], value: Any) -> Any:
    """``value`` for the setting ``f``, through the same check as its flag's text."""
    if _is_switch(f):
        return bool(value)
    meta = f.metadata
    if isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
    else:
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if meta["choices"] and text not in meta["choices"]:
        raise UserError(f"{f.name}={value!r}: choose one of {', '.join(meta['choices'])}")
    if meta["parse"] is None:
        return text
    try:
        return meta["parse"](text)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise UserError(f"{f.name}={value!r}: {exc}") from None


def flag_table(classes: tuple[type, ...], preset: Mapping[str, Any] = {}) -> str:  # noqa: B006
    """The README's flag table (markdown), one row per flag."""
    rows = ["| flag | default | what it does |", "|---|---|---|"]
    for cls in classes:
        for f in flag_fields(cls):
            metavar = "" if _is_switch(f) else " " + (
                f.metadata["metavar"] or (
                    "{" + ",".join(f.metadata["choices"]) + "}" if f.metadata["choices"]
                    else f.name.upper()))
            flag = f"`{flag_name(f)}{metavar}`".replace("|", "\\|")
            rows.append(f"| {flag} | {_shown(f, preset)} | {f.metadata['help']} |")
            rows += [f"| `{undo}` |  | {text} |" for undo, g, text
                     in preset_switches(cls, preset) if g is f]
    return "\n".join(rows) + "\n"


def defaults(cls: type) -> dict[str, Any]:
    """Every field's default (fields without one are left out)."""
    return {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}


__all__ = ["add_flags", "defaults", "flag_fields", "flag_name", "flag_table",
           "given", "keyword_values", "preset_switches", "setting"]
