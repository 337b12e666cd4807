"""What is probably wrong with a file that is not valid JSON, said so that a person can fix it.

Python's json module reports where parsing stopped ("Expecting value: line 17 column 3"), which is often the
line after the mistake: a trailing comma is only noticed at the `]` or `}` that follows it. This looks at the
text around that point and names the likely mistake and the line where the fix goes.
"""
from __future__ import annotations

import json

from engine.messages import Message, say

CLOSERS = "]}"


def file_problem(err: json.JSONDecodeError) -> Message:
    """A .json file that does not parse."""
    return say("json.invalid_file", problem=explain(err))


def line_problem(err: json.JSONDecodeError, number: int) -> Message:
    """Line `number` of a .jsonl file that does not parse."""
    if number == 1 and err.doc.strip() in ("[", "[{"):
        return say("json.array_in_jsonl")
    return say("json.invalid_line", line=number, problem=explain(err, number))


def explain(err: json.JSONDecodeError, first_line: int = 1) -> Message:
    """The likely mistake behind `err`; `first_line` is the file line of err.doc's first line (JSON Lines)."""
    doc, pos = err.doc, err.pos
    before = _previous_non_space(doc, pos)
    here = doc[pos] if pos < len(doc) else ""
    if before is not None and doc[before] == "," and here and here in CLOSERS:
        line, column = _place(doc, before, first_line)
        return say("json.trailing_comma", closer=here, line=line, column=column)
    if err.msg.startswith("Unterminated string"):
        line, column = _place(doc, pos, first_line)
        return say("json.unclosed_text", line=line, column=column)
    if err.msg.startswith("Invalid control character"):
        return say("json.control_character", line=_place(doc, pos, first_line)[0])
    if here == "'":
        return say("json.single_quotes", line=_place(doc, pos, first_line)[0])
    if err.msg == "Extra data":
        return say("json.several_values", line=_place(doc, pos, first_line)[0])
    if not doc[pos:].strip():
        return say("json.unexpected_end")
    if err.msg.startswith("Expecting ',' delimiter") and before is not None:
        line, (next_line, column) = _place(doc, before, first_line)[0], _place(doc, pos, first_line)
        if line == next_line:  # two values on one line (JSON Lines): point at the gap between them
            return say("json.missing_comma_on_line", line=line, column=column)
        return say("json.missing_comma", line=line, next_line=next_line)
    line, column = _place(doc, pos, first_line)
    return say("json.error_at", detail=err.msg, line=line, column=column)


def _previous_non_space(doc: str, pos: int) -> int | None:
    index = pos - 1
    while index >= 0 and doc[index].isspace():
        index -= 1
    return index if index >= 0 else None


def _place(doc: str, index: int, first_line: int) -> tuple[int, int]:
    """(line, column) of doc[index], both from 1, the line counted from `first_line`."""
    line_start = doc.rfind("\n", 0, index) + 1
    return first_line + doc.count("\n", 0, index), index - line_start + 1
