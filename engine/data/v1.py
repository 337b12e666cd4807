"""LLaMA-Factory v1 rows, read as the shapes this studio knows (OpenAI-style messages, preference pairs).

v1 writes every message's content as a list of typed parts, `{"type": ..., "value": ...}`:
  text        the words of the message
  reasoning   the model's thinking, put in front of the reply as <think>…</think> (LLaMA-Factory's thought words)
  tool_calls  the call(s) an assistant makes, JSON: {"name", "arguments"} or a list of them
  tools       the tool schemas (JSON), in the system message
  image_url   a picture: an <image> placeholder in the text and its path in the row's `images`
and each message a `loss_weight`. Preference rows hold two whole conversations, `chosen_messages` and
`rejected_messages`, that share everything but their last (assistant) message.

Reading happens as rows are read (engine/data/reader.py, engine/data/hub.py), so the checker, detection,
conversion and cleaning all see the same converted row; a row that is not v1 comes back unchanged.
"""
from __future__ import annotations

import json

THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n\n"
IMAGE_PLACEHOLDER = "<image>"  # engine/data/images.py PLACEHOLDER; not imported, images imports heavier things
PAIR_KEYS = (("chosen_messages", "rejected_messages"), ("chosen", "rejected"))


def from_v1(row):
    """`row` as an OpenAI-messages row ({"messages", "tools"?, "images"?}) or a preference pair ({"messages":
    the shared prompt, "chosen": message, "rejected": message}); any other row unchanged."""
    if not isinstance(row, dict):
        return row
    for chosen, rejected in PAIR_KEYS:
        if _is_conversation(row.get(chosen)) and _is_conversation(row.get(rejected)):
            return _pair(row, chosen, rejected)
    if _has_parts(row.get("messages")):
        return _conversation(row)
    return row


def _is_conversation(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _has_parts(messages) -> bool:
    """v1 content parts carry "value" (OpenAI's carry "text" / "image_url", engine/data/images.py reads those)."""
    return isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("content"), list)
        and any(isinstance(part, dict) and "value" in part for part in m["content"])
        for m in messages
    )


def _conversation(row: dict) -> dict:
    extra: dict = {}
    messages = [message for m in row["messages"] if (message := _message(m, extra)) is not None]
    rest = {key: value for key, value in row.items() if key != "messages"}
    return {**rest, "messages": messages, **extra}


def _message(message, extra: dict) -> dict | None:
    """One v1 message as {"role", "content", "tool_calls"?}; its tools and images go into `extra`. A system
    message that held only the tools is left out (they ride in the row's `tools`)."""
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    text, thinking, calls = [], [], []
    for part in message["content"]:
        kind, value = (part.get("type"), part.get("value")) if isinstance(part, dict) else ("text", part)
        if kind == "reasoning":
            thinking.append(str(value))
        elif kind == "tool_calls":
            calls += _calls(value)
        elif kind == "tools":
            extra["tools"] = value
        elif kind == "image_url":
            extra.setdefault("images", []).append(value)
            text.append(IMAGE_PLACEHOLDER)
        else:
            text.append("" if value is None else str(value))
    content = "".join(text)
    if thinking:
        content = THINK_OPEN + "".join(thinking) + THINK_CLOSE + content
    if message.get("role") == "system" and not content and "tools" in extra:
        return None
    converted = {"role": message.get("role"), "content": content}
    return {**converted, "tool_calls": calls} if calls else converted


def _calls(value) -> list:
    """The calls of a tool_calls part (JSON text or already parsed); text that is not JSON stays as one call's
    text so that the checker can say it is not a call."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return [value]
    return value if isinstance(value, list) else [value]


def _pair(row: dict, chosen_key: str, rejected_key: str) -> dict:
    """Two whole conversations as a prompt and two answers, when they share all but their last message (the
    row is left as it is otherwise: the checker says why it cannot be used)."""
    extra: dict = {}
    chosen = [message for m in row[chosen_key] if (message := _message(m, extra)) is not None]
    rejected = [message for m in row[rejected_key] if (message := _message(m, extra)) is not None]
    if chosen[:-1] != rejected[:-1] or {chosen[-1].get("role"), rejected[-1].get("role")} != {"assistant"}:
        return row
    rest = {key: value for key, value in row.items() if key not in (chosen_key, rejected_key)}
    return {**rest, "messages": chosen[:-1], "chosen": chosen[-1], "rejected": rejected[-1], **extra}
