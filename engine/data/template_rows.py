"""Every conversation rendered with the run's chat template before a model loads.

A model's own template may refuse rows the studio's formats allow: Gemma 2's raises "System role not
supported" for any system prompt, others demand strictly alternating turns. Found while training, it fails
the whole run after the model has loaded, on a raw TemplateError. Rendering needs only the tokenizer (for its
special tokens), so Start and the worker find it first, and say which rows and what to do.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.data.templates import ChatTemplate, render_messages
from engine.messages import Message, say

MAX_ROWS = 5000  # rendered per dataset at most: ~1 ms each, so Start waits a few seconds at worst
SHOWN_ROWS = 8  # row numbers named in the message


@dataclass
class Refusals:
    """The rows a template refused, by the first error's text, and how many were rendered."""
    error: str = ""
    rows: list[int] = field(default_factory=list)
    with_system: int = 0  # of the refused rows, those holding a system message
    rendered: int = 0


def template_refusals(template: ChatTemplate, tokenizer, conversations: Iterable[list[dict]]) -> Refusals:
    """Render each conversation (numbered from 1) as training will; collect the rows the template refuses."""
    from jinja2 import TemplateError

    found = Refusals()
    for number, messages in enumerate(conversations, 1):
        if number > MAX_ROWS:
            break
        found.rendered = number
        try:
            render_messages(template, tokenizer, messages)
        except TemplateError as err:
            found.error = found.error or str(err)
            found.rows.append(number)
            found.with_system += any(message.get("role") == "system" for message in messages)
    return found


def refusal_message(dataset: str, template_name: str, found: Refusals) -> Message | None:
    """What to tell the person: the rows, the template's own words, and what to do about it."""
    if not found.rows:
        return None
    rows = ", ".join(map(str, found.rows[:SHOWN_ROWS])) + (" …" if len(found.rows) > SHOWN_ROWS else "")
    advice = say("template.system_advice" if found.with_system == len(found.rows) else "template.rows_advice")
    return say("template.refuses_rows", dataset=dataset, template=template_name, count=len(found.rows),
               total=found.rendered, rows=rows, error=found.error, advice=advice)
