"""The rules a row of each dataset format must follow, written once: the conversation turn order, the tags
sharegpt and OpenAI-messages turns use by default, and one problems function per format.

The default columns and tags here are LLaMA-Factory's; each FormatSpec carries the ones of its format.

A problems function takes a row and a `Detection` (engine/data/formats.py: the format label, columns and
tags) and returns [(field, message)], empty when the row is usable. engine/data/formats.py puts each into
its format's FormatSpec; the checker runs them on every row and conversion (engine/data/conversion.py)
applies the same turn order when it builds messages.
"""
from __future__ import annotations

import json

from engine.messages import Message, say

# Default registry columns: the column of each role when a registry entry does not name it.
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}
SHAREGPT_COLUMNS = {"messages": "conversations"}
OPENAI_COLUMNS = {"messages": "messages"}
PAIR_COLUMNS = {"chosen": "chosen", "rejected": "rejected"}
KTO_COLUMNS = {"kto_tag": "label"}
TEXT_COLUMNS = {"prompt": "text"}
MLLM_COLUMNS = {"messages": "messages", "images": "images"}  # LLaMA-Factory's mllm_demo

# Default tags of conversation turns: {"from": "human", "value": ...} and {"role": "user", "content": ...}.
SHAREGPT_TAGS = {
    "role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt", "system_tag": "system",
}
OPENAI_TAGS = {
    "role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
    "system_tag": "system",
}
# Tool-calling turns' default names, added when tags are read (registry entries keep only what they name).
TOOL_TAGS = {"function_tag": "function_call", "observation_tag": "observation"}
OPENAI_TOOL_TAGS = {"function_tag": "function_call", "observation_tag": "tool"}


def with_tool_tags(tags: dict) -> dict:
    """`tags` plus the function_call / observation names its format uses unless it names its own."""
    return {**(OPENAI_TOOL_TAGS if tags.get("role_tag") == "role" else TOOL_TAGS), **tags}


# Where tool turns stand in the turn order: a tool's answer in the user's place, a call in the assistant's.
ROLE_SLOT = {"tool": "user", "function_call": "assistant"}

TURN_ORDER = ("user", "assistant")  # after an optional system turn, turns alternate these, starting with the user


def kind_of(value) -> Message | str:
    """What a JSON value is, in words: 'a list', 'text', 'null'..."""
    names = {bool: "bool", int: "number", float: "number", list: "list", dict: "object", str: "text",
             type(None): "null"}
    name = names.get(type(value))
    return say(f"check.value.{name}") if name else type(value).__name__


# ---------------------------------------------------------------------------------------------------------
# The conversation rule


def without_system(roles: list) -> list:
    """The turns after an optional leading system turn."""
    return roles[1:] if roles[:1] == ["system"] else roles


def misplaced_turn(roles: list, last: str = "assistant") -> tuple[int, str] | None:
    """Where `roles` (system/user/assistant, system turn already removed) break the conversation rule:
    (index of the turn, the role expected there), or None when they follow it.

    Turns alternate user, assistant, user, ... and the last one is from `last` ("assistant" for training
    data, "user" for a preference prompt whose answers are the chosen/rejected columns). An index equal to
    len(roles) means the order is right but the conversation does not end with `last`.
    """
    for index, role in enumerate(roles):
        if role != TURN_ORDER[index % 2]:
            return index, TURN_ORDER[index % 2]
    if not roles or roles[-1] != last:
        return len(roles), last
    return None


# ---------------------------------------------------------------------------------------------------------
# One row of each format: [(field, message)]


def text_field_problem(row: dict, column: str | None, required: bool, label: str) -> str | None:
    """A message when row[column] is missing, not text, or (if required) empty; None when fine."""
    if column is None or column not in row or row[column] is None:
        return say("rules.missing_column", label=label, column=column) if required else None
    value = row[column]
    if not isinstance(value, str):
        return say("rules.not_text", kind=kind_of(value))
    if required and not value.strip():
        return say("rules.empty")
    return None


def text_problems(row: dict, detection) -> list[tuple[str | None, str]]:
    column = detection.columns.get("prompt", TEXT_COLUMNS["prompt"])
    message = text_field_problem(row, column, True, "text")
    return [(column, message)] if message else []


def alpaca_problems(row: dict, detection) -> list[tuple[str | None, str]]:
    columns, label = detection.columns, detection.formatting
    fields = [("prompt", True), ("query", False), ("system", False)]
    if label in ("alpaca", "kto"):  # preference rows answer in chosen/rejected instead
        fields.append(("response", True))
    found = []
    for key, required in fields:
        column = columns.get(key, ALPACA_COLUMNS.get(key))
        if column and (message := text_field_problem(row, column, required, label)):
            found.append((column, message))
    history_column = columns.get("history", ALPACA_COLUMNS["history"])
    history = row.get(history_column)
    pairs_of_text = all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
                        for pair in history or [])
    if not pairs_of_text:
        found.append((history_column, say("rules.history_pairs")))
    return found


def conversation_problems(row: dict, detection, ends_with: str = "assistant") -> list[tuple[str | None, str]]:
    """Turns must use known role names and follow the conversation rule (see misplaced_turn)."""
    column = detection.columns.get("messages", SHAREGPT_COLUMNS["messages"])
    tags = with_tool_tags({**SHAREGPT_TAGS, **detection.tags})
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    name_of = {"user": tags["user_tag"], "assistant": tags["assistant_tag"], "system": tags["system_tag"]}
    role_of = {name: role for role, name in name_of.items()}
    # Tool turns stand in the user's (a tool's answer) or the assistant's (a call) place in the turn order.
    role_of |= {tags["function_tag"]: "assistant", tags["observation_tag"]: "user"}
    turns = row.get(column)
    if not isinstance(turns, list) or not turns:
        missing = say("rules.missing", label=detection.formatting)
        return [(column, say("rules.no_turns") if column in row else missing)]
    roles = [role_of.get(turn.get(role_tag)) if isinstance(turn, dict) else None for turn in turns]
    turns = turns[len(turns) - len(without_system(roles)):]
    wrong = misplaced_turn(without_system(roles), ends_with)
    for index, turn in enumerate(turns):
        where = index + 1
        if not isinstance(turn, dict):
            return [(column, say("rules.turn_not_object", turn=where, role_tag=role_tag, content_tag=content_tag))]
        role = turn.get(role_tag)
        user, assistant, system = name_of["user"], name_of["assistant"], name_of["system"]
        function, observation = tags["function_tag"], tags["observation_tag"]
        if role not in (user, assistant, function, observation):
            message = say("rules.unknown_role", turn=where, role_tag=role_tag, role=role, user=user,
                          assistant=assistant, system=system)
            return [(column, message)]
        if wrong and wrong[0] == index:
            message = say("rules.out_of_order", turn=where, role=role, expected=name_of[wrong[1]], user=user,
                          assistant=assistant)
            return [(column, message)]
        content = turn.get(content_tag)
        if role == function or turn.get("tool_calls"):
            if problem := _call_problem(turn.get("tool_calls") or content):
                return [(column, f"{where}: {problem}")]
        elif not isinstance(content, str) or not content.strip():
            return [(column, say("rules.empty_content", turn=where, content_tag=content_tag))]
    if wrong:
        return [(column, say("rules.last_turn", role=name_of[wrong[1]]))]
    return []


def _call_problem(calls) -> str | None:
    """Why a function_call turn (JSON text) or an OpenAI tool_calls list is not a call, or None."""
    if isinstance(calls, str):
        try:
            calls = json.loads(calls)
        except json.JSONDecodeError:
            return "a function call must be JSON: {\"name\": ..., \"arguments\": {...}}"
    calls = calls if isinstance(calls, list) else [calls]
    for call in calls:
        call = call.get("function", call) if isinstance(call, dict) else call
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return "a function call needs a \"name\" and \"arguments\""
    return None


def mllm_problems(row: dict, detection) -> list[tuple[str | None, str]]:
    """A conversation (OpenAI-style image parts allowed) whose `<image>` placeholders each have a usable
    image file inside the data folder, listed in the images column."""
    from engine.data.images import flatten_parts, image_problems

    column = detection.columns.get("messages", MLLM_COLUMNS["messages"])
    content_tag = {**SHAREGPT_TAGS, **detection.tags}["content_tag"]
    images = detection.columns.get("images", MLLM_COLUMNS["images"])
    row = flatten_parts(row, column, content_tag, images)
    found = conversation_problems(row, detection)
    if found:
        return found
    texts = [turn.get(content_tag) for turn in row[column]]
    return [(images, problem) for problem in image_problems(row, images, texts, detection.media_folder)]


def preference_problems(row: dict, detection) -> list[tuple[str | None, str]]:
    columns = detection.columns
    # Whole conversations as answers are read as a prompt and two replies (engine/data/v1.py) only when they
    # share all but a last assistant message; such a row reaches here unread.
    for key in ("chosen_messages", "chosen"):
        if isinstance(row.get(key), list):
            return [(key, say("rules.pair_conversations_differ"))]
    sharegpt = "messages" in columns
    found = conversation_problems(row, detection, ends_with="user") if sharegpt else alpaca_problems(row, detection)
    answers = {}
    for key in ("chosen", "rejected"):
        column = columns.get(key, PAIR_COLUMNS[key])
        value = row.get(column)
        if sharegpt and isinstance(value, dict):
            value = value.get(detection.tags.get("content_tag", SHAREGPT_TAGS["content_tag"]))
        if not isinstance(value, str) or not value.strip():
            found.append((column, say("rules.pair_missing")))
        answers[key] = value
    chosen = answers["chosen"].strip() if isinstance(answers["chosen"], str) else ""
    if chosen and chosen == (answers["rejected"] or "").strip():
        found.append((columns.get("rejected", PAIR_COLUMNS["rejected"]), say("rules.pair_identical")))
    return found


def kto_problems(row: dict, detection) -> list[tuple[str | None, str]]:
    conversation = "messages" in detection.columns
    found = conversation_problems(row, detection) if conversation else alpaca_problems(row, detection)
    tag = detection.columns.get("kto_tag", KTO_COLUMNS["kto_tag"])
    if not isinstance(row.get(tag), bool):
        found.append((tag, say("rules.kto_label", kind=kind_of(row.get(tag)))))
    return found
