"""Reading a config: YAML text into a mapping, and a mapping into the typed dataclass tree of
engine/config/schema.py, with every problem named at once.

Every YAML the studio reads goes through `load_yaml` (configs, LLaMA-Factory configs, Train › Extra arguments,
the CLI). What it refuses before anything is built: a text far longer than a config (MAX_CONFIG_CHARS), YAML
aliases (a few hundred bytes of nested aliases expand to gigabytes, and a config has no need of them) and deep
nesting. Values are coerced to each field's type, since YAML 1.1 and the web UI hand back strings for numbers.
An error names a value by a short excerpt (`excerpt`), never by the repr of all of it.
"""
from __future__ import annotations

import dataclasses
import re
import reprlib
import types
import typing
from pathlib import Path

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
    raw = load_yaml(text)
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError([say("yaml.not_sections", sections=", ".join(sections))])
    return raw


def load_yaml(text: str, max_chars: int = MAX_CONFIG_CHARS):
    """The value a YAML text holds, read within the bounds above; ConfigError naming what is wrong."""
    if len(text) > max_chars:
        raise ConfigError([say("yaml.too_long", chars=f"{len(text):,}", limit=f"{max_chars:,}")])
    try:
        _refuse_odd_yaml(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as err:
        raise ConfigError([say("yaml.invalid", error=shortened(str(err), 300))]) from None


def load_yaml_file(path: Path):
    """`load_yaml` of a file, its size checked before it is read."""
    size = path.stat().st_size
    if size > MAX_CONFIG_CHARS * 4:  # a character is at most 4 bytes of UTF-8
        raise ConfigError([say("yaml.too_long", chars=f"{size:,} bytes", limit=f"{MAX_CONFIG_CHARS:,}")])
    return load_yaml(path.read_text(encoding="utf-8"))


def _refuse_odd_yaml(text: str) -> None:
    """Aliases and deep nesting, found in the parser's events before anything is built from them."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError([say("yaml.aliases")])
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError([say("yaml.too_deep", depth=MAX_CONFIG_DEPTH)])


_SHORT = reprlib.Repr()  # its first few items and characters only (Python 3.11 takes no keyword arguments)
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxset = 3, 4, 4, 4, 4
_SHORT.maxstring = _SHORT.maxother = 60


def excerpt(value, limit: int = 80) -> str:
    """A repr of `value` cut to `limit` characters, built from its first few items only: an error names the
    value without echoing (or even building the repr of) all of it."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value) - limit} more characters)"
    return shortened(_SHORT.repr(value), limit)


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


# ---------------------------------------------------------------------------------------------------------
# Values given one at a time (`python -m engine train x.yaml key=value`)

_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def read_override(text: str) -> tuple[str, object]:
    """`key=value` from a command line as (key, value): the value read as YAML (true, 8, [a, b]) within the
    same limits as a config, and 1e-4 a number (YAML 1.1 leaves it as text)."""
    key, equals, value_text = text.partition("=")
    if not equals or not key.strip():
        raise ConfigError([f"{excerpt(text)} is not key=value (e.g. learning_rate=1e-4 or train.learning_rate=1e-4)"])
    value = (read_yaml(f"value: {value_text}", ["value"]) or {}).get("value")
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value):
        value = float(value)
    return key.strip(), value
