"""`{{name}}`-style placeholders in datasets: found by the checker, filled into a new dataset on request.

LLaMA-Factory ships `identity.json` ("I am {{name}}, an AI assistant developed by {{author}}") for the user to
fill in before training; trained as it is, the model learns the braces. The checker notes every placeholder
it meets (a note, not a problem: code datasets may hold Jinja or Handlebars on purpose), and
engine/data/cleaning.py `save_filled` writes a copy with the values put in, registered under a new name beside
the original (which is never changed).
"""
from __future__ import annotations

import re
from collections import Counter

from engine.messages import Message, say

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def row_placeholders(value) -> list[str]:
    """The placeholder names in the strings of a row (nested lists and objects too), once each, in order."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return list(dict.fromkeys(name for item in value for name in row_placeholders(item)))
    return list(dict.fromkeys(PLACEHOLDER.findall(value))) if isinstance(value, str) else []


def find_placeholders(rows: list) -> Counter:
    """Placeholder name -> rows holding it, in order of first appearance."""
    found: Counter = Counter()
    for row in rows:
        found.update(row_placeholders(row))
    return found


def placeholder_note(rows_with: int, names) -> Message:
    return say("check.placeholders", rows=rows_with, names=", ".join("{{" + name + "}}" for name in names))


def filled(value, values: dict[str, str]):
    """`value` with each known placeholder replaced by its value (unknown ones are left as they are)."""
    if isinstance(value, dict):
        return {key: filled(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [filled(item, values) for item in value]
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), value)
    return value


def parse_values(text: str) -> dict[str, str]:
    """`name=Studio` lines as {"name": "Studio"} (a value may hold commas and '=')."""
    pairs = (line.partition("=") for line in (text or "").splitlines())
    return {key.strip(): value.strip() for key, _, value in pairs if key.strip()}
