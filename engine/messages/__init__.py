"""What the studio says to a person, as a stable code with parameters.

The engine speaks English (the CLI prints it); the web UI shows the same message in the page's language. So a
sentence a user can read is never built in place as an f-string: it is `say("code", name=value, ...)`, which
looks up the English template here. The result is a `Message`: a `str` holding the English text, so code that
prints, joins or searches messages keeps working, plus `.code` and `.params` so that the UI can render it in
another language (webui/messages_zh.py holds the Chinese of every code; a test fails when one is missing).

Parameters are plain values, other Messages (rendered in the same language) or lists of them (joined by commas).
"""
from __future__ import annotations

import string

from engine.messages.english import ENGLISH


class Message(str):
    """English text of `code` with `params` filled in; `.code` and `.params` travel with it."""

    code: str
    params: dict

    def __new__(cls, code: str, **params):
        if code not in ENGLISH:
            raise KeyError(f"no English text for message code {code!r}; add it to engine/messages/english.py")
        message = super().__new__(cls, render(ENGLISH[code], params, ENGLISH))
        message.code, message.params = code, params
        return message

    def __reduce__(self):  # pickled by code and parameters, like it is built (multiprocessing, gr.State)
        return _rebuild, (self.code, self.params)

    def as_dict(self) -> dict:
        """{"code", "params"} for JSON files (events.jsonl): a reader re-renders it in its own language."""
        return {"code": self.code, "params": {k: v.as_dict() if isinstance(v, Message) else v
                                               for k, v in self.params.items()}}


def _rebuild(code: str, params: dict) -> Message:
    return Message(code, **params)


def say(code: str, **params) -> Message:
    return Message(code, **params)


def lines(items: list) -> Message:
    """Several messages (or plain texts) as one, a line each: each line is rendered in the reader's language."""
    first, *rest = items
    return say("lines.more", first=first, rest=lines(rest)) if rest else say("lines.one", line=first)


def message_of(err: BaseException) -> Message | str:
    """The Message an exception was raised with (rendered in the reader's language), else its plain text."""
    return err.args[0] if len(err.args) == 1 and isinstance(err.args[0], Message) else str(err)


def from_dict(record: dict) -> Message:
    """The Message that `Message.as_dict()` wrote."""
    params = {k: from_dict(v) if isinstance(v, dict) and "code" in v else v for k, v in record["params"].items()}
    return Message(record["code"], **params)


def render(template: str, params: dict, catalog: dict[str, str]) -> str:
    """`template` with `params` filled in; parameters that are Messages are rendered from `catalog` too."""
    values = {name: _render_value(v, catalog) for name, v in params.items()}
    return template.format(**values) if values else template


def _render_value(value, catalog: dict[str, str]):
    """A Message in `catalog`'s language; a list of values joined by commas (column names, other shapes)."""
    if isinstance(value, Message):
        return render(catalog[value.code], value.params, catalog)
    if isinstance(value, list):
        return ", ".join(str(_render_value(item, catalog)) for item in value)
    return value


def placeholders(template: str) -> set[str]:
    """The parameter names a template uses (translations must use the same ones)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
