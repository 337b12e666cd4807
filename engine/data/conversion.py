"""Turning the rows of a registered dataset into training data, one loader per kind of data (KIND_LOADERS):
conversations (alpaca / sharegpt / OpenAI-messages rows as one internal form, a list of {"role", "content"}
messages), preference pairs, KTO examples and plain texts.

Default columns and tags come from each format's FormatSpec and the turn order from engine/data/rules.py, so
conversion and the checker agree on what a usable row is.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.data.formats import FORMATS, describe_kind, registry_label
from engine.data.images import ImageError, VisionSample, flatten_parts, row_image_names, vision_sample
from engine.data.hub import entry_rows, iter_entry_rows
from engine.data.registry import DataError, DatasetEntry, get_entry, read_registry
from engine.data.rules import ROLE_SLOT, misplaced_turn, with_tool_tags, without_system
from engine.data.templates import Conversation
from engine.messages import Message, say

# ---------------------------------------------------------------------------------------------------------
# Conversion to messages


def to_messages(entry: DatasetEntry, row: dict, number: int) -> list[dict]:
    """The row as [{"role": ..., "content": ...}], system first if any, then user/assistant turns (and tool
    turns: assistant "tool_calls" and "tool" answers; a conversation's `tools` ride on the Conversation)."""
    if entry.formatting == "alpaca":
        return _alpaca_messages(entry, row, number)
    if entry.formatting in ("sharegpt", "openai"):
        return _sharegpt_messages(entry, row, number)
    raise DataError(
        f"dataset {entry.name!r}: formatting {entry.formatting!r} is not supported; use alpaca or sharegpt"
    )


def _field(entry: DatasetEntry, row: dict, column: str | None, number: int, required: bool) -> str:
    value = row.get(column) if column else None
    if value is None or (isinstance(value, float) and math.isnan(value)):  # missing or NaN
        value = ""
    if not isinstance(value, str):
        kind = type(value).__name__
        raise DataError(f"dataset {entry.name!r} row {number}: field {column!r} must be text; got {kind}")
    if required and not value.strip():
        raise DataError(f"dataset {entry.name!r} row {number}: field {column!r} is empty; every row needs it")
    return value


def _alpaca_messages(entry: DatasetEntry, row: dict, number: int) -> list[dict]:
    default = FORMATS["alpaca"].columns
    instruction = _field(entry, row, entry.column("prompt", default["prompt"]), number, required=True)
    query = _field(entry, row, entry.column("query", default["query"]), number, required=False)
    response = _field(entry, row, entry.column("response", default["response"]), number, required=True)
    system = _field(entry, row, entry.column("system"), number, required=False)
    messages = [{"role": "system", "content": system}] if system else []
    for pair in row.get(entry.column("history", default["history"]) or "", None) or []:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise DataError(f"dataset {entry.name!r} row {number}: history must be a list of [question, answer] pairs")
        messages += [{"role": "user", "content": str(pair[0])}, {"role": "assistant", "content": str(pair[1])}]
    prompt = "\n".join(part for part in (instruction, query) if part)
    return messages + [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def _sharegpt_messages(entry: DatasetEntry, row: dict, number: int) -> list[dict]:
    spec = FORMATS[entry.formatting]
    column = entry.column("messages", spec.columns["messages"])
    tags = with_tool_tags({**spec.tags, **entry.tags})
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    role_of = {tags["user_tag"]: "user", tags["assistant_tag"]: "assistant", tags["system_tag"]: "system",
               tags["function_tag"]: FUNCTION_CALL, tags["observation_tag"]: "tool"}
    turns = row.get(column)
    if not isinstance(turns, list) or not turns:
        raise DataError(f"dataset {entry.name!r} row {number}: field {column!r} must be a non-empty list of turns")
    messages = []
    system = _field(entry, row, entry.column("system"), number, required=False)
    if system:
        messages.append({"role": "system", "content": system})
    for index, turn in enumerate(turns):
        where = f"dataset {entry.name!r} row {number}, turn {index + 1}"
        if not isinstance(turn, dict) or turn.get(role_tag) not in role_of:
            raise DataError(f"{where}: {role_tag!r} must be one of {', '.join(role_of)}")
        messages.append(_turn_message(role_of[turn[role_tag]], turn, content_tag, where))
    _check_alternation(messages, f"dataset {entry.name!r} row {number}")
    return Conversation(messages, _tools(entry, row, number))


FUNCTION_CALL = "function_call"  # a sharegpt turn whose content is the call(s) as JSON


def _turn_message(role: str, turn: dict, content_tag: str, where: str) -> dict:
    """One turn as a message: function_call turns become assistant tool_calls; OpenAI tool_calls pass on."""
    content = turn.get(content_tag)
    if role == FUNCTION_CALL:
        return {"role": "assistant", "content": "", "tool_calls": _calls(content, where)}
    if role == "assistant" and turn.get("tool_calls"):
        return {"role": "assistant", "content": content or "", "tool_calls": _calls(turn["tool_calls"], where)}
    if not isinstance(content, str):
        raise DataError(f"{where}: {content_tag!r} must be text")
    return {"role": role, "content": content}


def _calls(value, where: str) -> list[dict]:
    """[{"type": "function", "function": {"name", "arguments"}}] from a JSON text or list of calls, each
    either {"name", "arguments"} (LLaMA-Factory) or OpenAI's {"type": "function", "function": {...}}."""
    calls = _json(value, where)
    calls = calls if isinstance(calls, list) else [calls]
    found = []
    for call in calls:
        call = call.get("function", call) if isinstance(call, dict) else call
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise DataError(f"{where}: a function call must be {{\"name\": ..., \"arguments\": {{...}}}}")
        arguments = _json(call.get("arguments", {}), where)
        found.append({"type": "function", "function": {"name": call["name"], "arguments": arguments}})
    return found


def _json(value, where: str):
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: not valid JSON ({err.msg})") from None


def _tools(entry: DatasetEntry, row: dict, number: int) -> list | None:
    """The row's tool schemas (the `tools` column, JSON text or a list) in the chat-template convention."""
    value = row.get(entry.column("tools", "tools"))
    if value in (None, "", []):
        return None
    tools = _json(value, f"dataset {entry.name!r} row {number}, tools")
    tools = tools if isinstance(tools, list) else [tools]
    if not all(isinstance(tool, dict) for tool in tools):
        raise DataError(f"dataset {entry.name!r} row {number}: tools must be a list of function schemas")
    return [tool if "type" in tool else {"type": "function", "function": tool} for tool in tools]


def _check_alternation(messages: list[dict], where: str) -> None:
    # A tool's answer takes the user's place in the turn order, a call the assistant's (LLaMA-Factory's rule).
    roles = without_system([ROLE_SLOT.get(message["role"], message["role"]) for message in messages])
    wrong = misplaced_turn(roles)
    if wrong is None:
        return
    index, expected = wrong
    if index == len(roles):
        raise DataError(f"{where}: the conversation must end with an assistant reply")
    raise DataError(f"{where}: turn {index + 1} should be from the {expected} but is from the {roles[index]}")


def load_conversations(name: str, max_samples: int = 0) -> list[list[dict]]:
    """All rows of registered dataset `name` as message lists (at most `max_samples`, 0 = all)."""
    entry, rows = _rows_of(name, max_samples)
    return [to_messages(entry, row, number) for number, row in enumerate(rows, 1)]


def iter_conversations(name: str) -> Iterator[list[dict]]:
    """load_conversations one row at a time, for tallies that need not hold them all."""
    entry = get_entry(name)
    return (to_messages(entry, row, number) for number, row in enumerate(iter_entry_rows(entry), 1))


def conversation_at(name: str, number: int) -> tuple[list[dict], int, int]:
    """(messages, row number, rows) of one row of `name`: row `number`, clamped to the dataset's rows."""
    entry, row, number, rows = _row_at(name, number)
    return to_messages(entry, row, number), number, rows


def _row_at(name: str, number: int) -> tuple[DatasetEntry, dict, int, int]:
    """(entry, row, its 1-based number clamped to 1..rows, rows): the rows are read one at a time and only the
    wanted one is kept (the last, when `number` is past the end); the rest are counted."""
    entry, wanted = get_entry(name), max(number, 1)
    row, rows = None, 0
    for rows, current in enumerate(iter_entry_rows(entry), 1):
        row = current if rows <= wanted else row
    if row is None:
        raise DataError(say("check.no_rows_in", file=name))
    return entry, row, min(wanted, rows), rows


# ---------------------------------------------------------------------------------------------------------
# Other stages' data: plain text, preference pairs, KTO examples


def _rows_of(name: str, max_samples: int) -> tuple[DatasetEntry, list[dict]]:
    entry = get_entry(name)
    rows = entry_rows(entry)
    return entry, rows[:max_samples] if max_samples else rows


def load_texts(name: str, max_samples: int = 0) -> list[str]:
    """Documents of a plain-text (pretraining) dataset: its `prompt` column, "text" by default."""
    entry, rows = _rows_of(name, max_samples)
    return list(_texts(entry, rows))


def iter_texts(name: str) -> Iterator[str]:
    """load_texts one document at a time."""
    entry = get_entry(name)
    return _texts(entry, iter_entry_rows(entry))


def _texts(entry: DatasetEntry, rows: Iterable[dict]) -> Iterator[str]:
    column = entry.column("prompt", FORMATS["text"].columns["prompt"])
    return (_field(entry, row, column, number, required=True) for number, row in enumerate(rows, 1))


def load_preference_pairs(name: str, max_samples: int = 0) -> list[dict]:
    """[{"prompt": messages ending with the user's turn, "chosen": text, "rejected": text}] of a ranking dataset."""
    entry, rows = _rows_of(name, max_samples)
    pairs = []
    for number, row in enumerate(rows, 1):
        # Each answer is checked by building the whole conversation it would end, then split off again.
        chosen = to_messages(entry, _with_answer(entry, row, "chosen", number), number)
        rejected = to_messages(entry, _with_answer(entry, row, "rejected", number), number)
        pairs.append({"prompt": chosen[:-1], "chosen": chosen[-1]["content"], "rejected": rejected[-1]["content"]})
    return pairs


def _with_answer(entry: DatasetEntry, row: dict, key: str, number: int) -> dict:
    answer = row.get(entry.column(key, FORMATS["preference"].columns[key]))
    if entry.formatting == "alpaca":
        return {**row, entry.column("response", FORMATS["alpaca"].columns["response"]): answer}
    column = entry.column("messages", FORMATS[entry.formatting].columns["messages"])
    if not isinstance(answer, dict) or not isinstance(row.get(column), list):
        raise DataError(
            f"dataset {entry.name!r} row {number}: {key!r} must be one turn object and {column!r} a list of turns"
        )
    return {**row, column: [*row[column], answer]}


def load_kto_examples(name: str, max_samples: int = 0) -> list[dict]:
    """[{"messages": [...], "label": bool}]: whether the final answer is desirable, from columns.kto_tag."""
    entry, rows = _rows_of(name, max_samples)
    tag = entry.column("kto_tag", FORMATS["kto"].columns["kto_tag"])
    examples = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get(tag), bool):
            raise DataError(f"dataset {entry.name!r} row {number}: field {tag!r} must be true or false")
        examples.append({"messages": to_messages(entry, row, number), "label": row[tag]})
    return examples


def load_vision_samples(name: str, max_samples: int = 0) -> list[VisionSample]:
    """Conversations with images (LLaMA-Factory's mllm shape): each row's messages, `<image>` placeholders in
    the text, and the checked image files they stand for, inside the data folder."""
    entry, rows = _rows_of(name, max_samples)
    return [_vision_sample(entry, row, number) for number, row in enumerate(rows, 1)]


def vision_sample_at(name: str, number: int) -> tuple[VisionSample, int, int]:
    """(sample, row number, rows) of one row of vision dataset `name`, as conversation_at."""
    entry, row, number, rows = _row_at(name, number)
    return _vision_sample(entry, row, number), number, rows


def _vision_sample(entry: DatasetEntry, row: dict, number: int) -> VisionSample:
    column = entry.column("images", FORMATS["mllm"].columns["images"])
    # The turns as conversion reads them (the registry's formatting: sharegpt or openai defaults).
    spec = FORMATS[entry.formatting]
    turns, content_tag = entry.column("messages", spec.columns["messages"]), {**spec.tags, **entry.tags}["content_tag"]
    row = flatten_parts(row, turns, content_tag, column)
    try:
        # Image paths are relative to the folder the dataset's registry points into (shipped data or workspace).
        return vision_sample(to_messages(entry, row, number), row_image_names(row, column),
                             f"dataset {entry.name!r} row {number}", root=entry.folder)
    except ImageError as err:
        raise DataError(str(err)) from None


def load_conversations_with_images(name: str, max_samples: int = 0) -> list[tuple[list[dict], list[Path]]]:
    """(messages, pictures) of every row of a conversation or vision dataset; text data has no pictures."""
    if dataset_kind(name) == "vision":
        return [(sample.messages, sample.images) for sample in load_vision_samples(name, max_samples)]
    return [(messages, []) for messages in load_conversations(name, max_samples)]


# ---------------------------------------------------------------------------------------------------------
# By kind

KIND_LOADERS = {
    "conversation": load_conversations,
    "preference": load_preference_pairs,
    "kto": load_kto_examples,
    "text": load_texts,
    "vision": load_vision_samples,
}  # kind (engine/data/formats.py KINDS) -> loader(name, max_samples=0)


def dataset_kind(name: str) -> str:
    """The kind of training data registered dataset `name` gives: conversation, preference, kto or text."""
    get_entry(name)  # the usual clear error for an unknown or network-only dataset
    return FORMATS[registry_label(read_registry()[name])].kind


def stage_data_problem(stage: str, needs: tuple[str, ...], dataset: str) -> Message | None:
    """Why registered `dataset` cannot feed `stage`, which trains on data of the kinds `needs`; None if it can.

    "stage dpo needs preference pairs (chosen/rejected); demo_alpaca_en is alpaca instructions"
    """
    if dataset_kind(dataset) in needs:
        return None
    registry = read_registry()
    holds = FORMATS[registry_label(registry[dataset])].holds()
    fitting = [name for name, entry in registry.items() if _kind_of(entry) in needs][:3]
    return say("data.stage_needs_fix", stage=stage, needs=_any_of(needs), dataset=dataset, holds=holds,
               fitting=", ".join(fitting) if fitting else say("data.none_registered"))


def _kind_of(entry: dict) -> str | None:
    try:
        return FORMATS[registry_label(entry)].kind
    except (KeyError, ValueError, TypeError):  # an entry this version cannot read: not offered as a way out
        return None


def _any_of(kinds: tuple[str, ...]) -> Message:
    first = describe_kind(kinds[0])
    return first if len(kinds) == 1 else say("data.kinds_either", first=first, rest=_any_of(kinds[1:]))
