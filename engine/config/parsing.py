"""Reading a config: YAML text into a mapping, and a mapping into the typed dataclass tree of
engine/config/schema.py, with every problem named at once.

What is refused before anything is built: a text far longer than a config (MAX_CONFIG_CHARS), YAML aliases (a
few hundred bytes of nested aliases expand to gigabytes, and a config has no need of them) and deep nesting.
Values are coerced to each field's type, since YAML 1.1 and the web UI hand back strings for numbers.
"""
from __future__ import annotations

import dataclasses
import types
import typing

import yaml

from engine.messages import say

# A config is a few hundred lines; anything far longer is not one, and parsing it would only cost memory.
MAX_CONFIG_CHARS = 1_000_000
MAX_CONFIG_DEPTH = 16


class ConfigError(ValueError):
    """A config that cannot be read; `problems` lists every one as a plain sentence."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def read_yaml(text: str, sections: list[str]) -> dict | None:
    """The mapping a config's YAML text holds (None for an empty text); ConfigError for anything else."""
    if len(text) > MAX_CONFIG_CHARS:
        size = f"{len(text):,} characters long; a config has at most {MAX_CONFIG_CHARS:,}"
        raise ConfigError([f"the config is {size}"])
    try:
        _refuse_odd_yaml(text)
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as err:
        raise ConfigError([f"the config is not valid YAML: {shortened(str(err), 300)}"]) from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError([f"the config must be a mapping of sections ({', '.join(sections)})"])
    return raw


def _refuse_odd_yaml(text: str) -> None:
    """Aliases and deep nesting, found in the parser's events before anything is built from them."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(["the config uses YAML aliases (*name); write each value out instead"])
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError([f"the config nests deeper than {MAX_CONFIG_DEPTH} levels; a config holds sections of "
                               "fields"])


def excerpt(value, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters: an error names the value without echoing all of it."""
    return shortened(repr(value), limit)


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


# ---------------------------------------------------------------------------------------------------------
# Raw mappings into typed dataclasses


def hints(cls) -> dict:
    """Each field's type (the annotations are strings under `from __future__ import annotations`)."""
    return typing.get_type_hints(cls)


def build(cls, raw: dict, prefix: str, problems: list[str]):
    """An instance of dataclass `cls` from `raw`, nested sections too; each problem is appended to `problems`
    (an unknown key, a value of the wrong type) and the field keeps its default."""
    if not isinstance(raw, dict):
        problems.append(f"{prefix.rstrip('.') or 'config'} must be a mapping; got {excerpt(raw)}")
        return cls()
    kinds = hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            problems.append(f"unknown key {excerpt(f'{prefix}{key}')}; valid keys here: {', '.join(sorted(known))}")
    values = {}
    choices = {f.name: f.metadata.get("choices") or () for f in dataclasses.fields(cls)}
    for name in known & raw.keys():
        kind, where = kinds[name], f"{prefix}{name}"
        if dataclasses.is_dataclass(kind):
            values[name] = build(kind, raw[name], where + ".", problems)
        else:
            value = raw[name]
            if isinstance(value, bool) and {"on", "off"} <= set(choices[name]):
                value = "on" if value else "off"  # YAML 1.1 reads a bare `packing: off` as false
            try:
                values[name] = _coerce(value, kind)
            except (TypeError, ValueError):
                problems.append(say("config.wrong_type", field=where, kind=_type_name(kind),
                                    value=say("config.empty") if value is None else excerpt(value)))
    return cls(**values)


def _coerce(value, kind):
    """Turn a YAML or UI value into `kind`: YAML 1.1 reads 2e-4 as a string, and UIs hand back strings."""
    if typing.get_origin(kind) in (list, typing.List):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError
        return list(value)
    if isinstance(kind, types.UnionType):
        raise TypeError(f"union fields are not supported: {kind}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise TypeError
    if kind is int:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
        if not number.is_integer():
            raise ValueError
        return int(number)
    if kind is float:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    if kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise TypeError
        return str(value)
    raise TypeError(kind)


def _type_name(kind):
    """What a field of `kind` holds, as a message (the UI words it in its language)."""
    if typing.get_origin(kind) is list:
        return say("config.kind.list")
    names = {bool: "config.kind.bool", int: "config.kind.int", float: "config.kind.float", str: "config.kind.str"}
    return say(names[kind]) if kind in names else str(kind)
