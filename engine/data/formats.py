"""The dataset formats (a FormatSpec each, in FORMATS) and recognising which one a list of rows is, in
LLaMA-Factory's dataset_info.json vocabulary.

Every row gets a *shape* from its keys alone (one of FORMATS, or "unknown"); the shape most rows share is
the file's format, and the share of rows that have it is the confidence. The columns and tags found in the
first row of that shape are what a registry entry needs, so `Detection.registry_entry()` can be written to
dataset_info.json as is.

Detection labels are richer than the registry's `formatting` values (alpaca / sharegpt, plus "openai" that
engine/data/registry.py accepts): preference data is alpaca or sharegpt with `ranking: true`, KTO data carries
`columns.kto_tag`, and plain text is alpaca with `columns.prompt = "text"`.

A new format is an entry in FORMATS (with its problems function in engine/data/rules.py), a shape in
`row_shape`/`columns_for`, and, for a new kind of training data, a loader in engine/data/conversion.py;
tests/test_format_specs.py fails until all of them agree.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.data import rules
from engine.messages import Message, say

UNKNOWN = "unknown"
SAMPLE_ROWS = 1000  # rows looked at when detecting; the checker validates every row afterwards

# Column names people use for the same thing, most LLaMA-Factory-like first.
PROMPT_NAMES = ("instruction", "prompt", "question")
RESPONSE_NAMES = ("output", "response", "answer", "completion")
QUERY_NAMES = ("input", "query")
CONVERSATION_NAMES = ("conversations", "messages")
KTO_NAMES = ("label", "kto_tag")


# ---------------------------------------------------------------------------------------------------------
# The formats

KINDS = ("conversation", "preference", "kto", "text", "vision")  # kinds of training data; a stage needs one or more


@dataclass(frozen=True)
class FormatSpec:
    """One dataset format: what the checker, conversion, cleaning and the UI need to know about it."""

    label: str  # detection label (what `detect_format` and `registry_label` call it)
    kind: str  # the training data it gives, one of KINDS
    formatting: str  # the registry `formatting` an upload of it is written with
    columns: dict  # default registry `columns` (a registry entry names only those it changes)
    tags: dict  # default registry `tags` of conversation turns; {} for column formats
    signature: Message  # what the detector sees in a row of it, for its reason sentence
    row_problems: Callable  # (row, Detection) -> [(field, message)]; see engine/data/rules.py
    example: dict  # one valid row, as a user would write it

    def holds(self) -> Message:
        """What a dataset of this format holds, in words: "alpaca instructions"."""
        return say(f"data.holds.{self.label}")


ALPACA, PAIRS, KTO = rules.ALPACA_COLUMNS, rules.PAIR_COLUMNS, rules.KTO_COLUMNS

FORMATS: dict[str, FormatSpec] = {
    "alpaca": FormatSpec(
        "alpaca", kind="conversation", formatting="alpaca", columns=ALPACA, tags={},
        signature=say("data.signature.alpaca"), row_problems=rules.alpaca_problems,
        example={"instruction": "Name a colour.", "input": "", "output": "Blue."},
    ),
    "sharegpt": FormatSpec(
        "sharegpt", kind="conversation", formatting="sharegpt",
        columns=rules.SHAREGPT_COLUMNS, tags=rules.SHAREGPT_TAGS,
        signature=say("data.signature.sharegpt"), row_problems=rules.conversation_problems,
        example={"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
    ),
    "openai": FormatSpec(
        "openai", kind="conversation", formatting="sharegpt", columns=rules.OPENAI_COLUMNS, tags=rules.OPENAI_TAGS,
        signature=say("data.signature.openai"), row_problems=rules.conversation_problems,
        example={"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    ),
    "preference": FormatSpec(
        "preference", kind="preference", formatting="alpaca", columns={"prompt": ALPACA["prompt"], **PAIRS}, tags={},
        signature=say("data.signature.preference"), row_problems=rules.preference_problems,
        example={"instruction": "Say hi.", "chosen": "Hello!", "rejected": "Go away."},
    ),
    "kto": FormatSpec(
        "kto", kind="kto", formatting="alpaca",
        columns={"prompt": ALPACA["prompt"], "response": ALPACA["response"], **KTO}, tags={},
        signature=say("data.signature.kto"), row_problems=rules.kto_problems,
        example={"instruction": "Say hi.", "output": "Hello!", "label": True},
    ),
    "text": FormatSpec(
        "text", kind="text", formatting="alpaca", columns=rules.TEXT_COLUMNS, tags={},
        signature=say("data.signature.text"), row_problems=rules.text_problems,
        example={"text": "A plain document to continue."},
    ),
    # LLaMA-Factory's multimodal shape: turns with <image> placeholders, an images column of paths.
    "mllm": FormatSpec(
        "mllm", kind="vision", formatting="sharegpt", columns=rules.MLLM_COLUMNS, tags=rules.OPENAI_TAGS,
        signature="conversations with images", row_problems=rules.mllm_problems,
        example={"messages": [{"role": "user", "content": "<image>What colour is the shape?"},
                              {"role": "assistant", "content": "The shape is red."}],
                 "images": ["demo_vision/demo_vision-circle-red-0.png"]},
    ),
}


def formats_of_kind(kind: str) -> tuple[str, ...]:
    """Labels of the formats that give training data of `kind`."""
    return tuple(label for label, spec in FORMATS.items() if spec.kind == kind)


def describe_kind(kind: str) -> Message:
    """A kind of training data in words: "preference pairs (chosen/rejected)"."""
    return say(f"data.kind.{kind}")


def registry_label(raw: dict) -> str:
    """The detection label of a registry entry: preference, kto, text, openai, sharegpt or alpaca."""
    columns, tags = raw.get("columns", {}), raw.get("tags", {})
    if raw.get("ranking"):
        return "preference"
    if "kto_tag" in columns:
        return "kto"
    if "images" in columns:
        return "mllm"
    if raw.get("formatting") in ("sharegpt", "openai"):
        return "openai" if raw.get("formatting") == "openai" or tags.get("role_tag") == "role" else "sharegpt"
    if "response" not in columns and columns.get("prompt") == "text":
        return "text"
    return "alpaca"


@dataclass
class Detection:
    """What a file holds. `formatting` is a detection label (see FORMATS); the rest is registry vocabulary."""

    formatting: str
    ranking: bool = False
    columns: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    confidence: float = 0.0
    reason: str = ""  # a Message
    media_folder: Path | None = None  # what the rows' image paths are relative to; None = the data folder

    @property
    def registry_formatting(self) -> str:
        """The registry's `formatting`: conversations (sharegpt or OpenAI messages, also as preference or KTO
        data) are "sharegpt", the rest their format's."""
        if "messages" in self.columns:
            return "sharegpt"
        return FORMATS[self.formatting].formatting if self.formatting in FORMATS else "alpaca"

    def registry_entry(self, file_name: str) -> dict:
        """A dataset_info.json entry for this data, exactly as LLaMA-Factory documents the schema."""
        entry: dict = {"file_name": file_name}
        if self.registry_formatting != "alpaca":
            entry["formatting"] = self.registry_formatting
        if self.ranking:
            entry["ranking"] = True
        entry["columns"] = dict(self.columns)
        if self.tags:
            entry["tags"] = dict(self.tags)
        return entry


# ---------------------------------------------------------------------------------------------------------
# One row


def _first(row: dict, names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in row), None)


def _conversation_tags(turns) -> dict:
    """role/content or from/value tags and the role names used, from the turns of one row."""
    objects = [turn for turn in turns if isinstance(turn, dict)] if isinstance(turns, list) else []
    first = objects[0] if objects else {}
    tags = dict(rules.OPENAI_TAGS) if "role" in first or "content" in first else dict(rules.SHAREGPT_TAGS)
    roles = {turn.get(tags["role_tag"]) for turn in objects}
    if tags["role_tag"] == "from" and roles & {"user", "assistant"} and not roles & {"human", "gpt"}:
        tags.update(user_tag="user", assistant_tag="assistant")  # from/value keys with OpenAI role names
    return tags


def row_shape(row: dict) -> str:
    """The format this one row looks like, from its keys (values are the checker's business)."""
    if not isinstance(row, dict):
        return UNKNOWN
    if "chosen" in row and "rejected" in row:
        return "preference"
    conversation = _first(row, CONVERSATION_NAMES)
    if _first(row, KTO_NAMES) and (conversation or _first(row, PROMPT_NAMES)):
        return "kto"
    if conversation and "images" in row:
        return "mllm"
    if conversation:
        return "openai" if _conversation_tags(row[conversation])["role_tag"] == "role" else "sharegpt"
    if _first(row, PROMPT_NAMES) or _first(row, RESPONSE_NAMES):  # one missing is the checker's message
        return "alpaca"
    if "text" in row:
        return "text"
    return UNKNOWN


def columns_for(shape: str, row: dict) -> tuple[dict, dict]:
    """Registry `columns` and `tags` for a row of `shape`; defaults where the row lacks a column."""
    if shape == "text":
        return dict(rules.TEXT_COLUMNS), {}
    if shape == "mllm":
        conversation = _first(row, CONVERSATION_NAMES) or rules.MLLM_COLUMNS["messages"]
        return {"messages": conversation, "images": "images"}, _conversation_tags(row.get(conversation))
    conversation = _first(row, CONVERSATION_NAMES)
    if shape in ("sharegpt", "openai") or (shape in ("preference", "kto") and conversation):
        default = FORMATS["openai" if shape == "openai" else "sharegpt"].columns["messages"]
        columns = {"messages": conversation or default}
        tags = dict(rules.OPENAI_TAGS) if shape == "openai" else _conversation_tags(row.get(conversation))
    else:
        columns = {"prompt": _first(row, PROMPT_NAMES) or rules.ALPACA_COLUMNS["prompt"]}
        if query := _first(row, QUERY_NAMES):
            columns["query"] = query
        if shape in ("alpaca", "kto"):
            columns["response"] = _first(row, RESPONSE_NAMES) or rules.ALPACA_COLUMNS["response"]
        tags = {}
    if shape == "preference":
        columns.update(rules.PAIR_COLUMNS)
    if shape == "kto":
        columns["kto_tag"] = _first(row, KTO_NAMES) or rules.KTO_COLUMNS["kto_tag"]
    for optional in ("system", "tools", "history"):
        if optional in row:
            columns[optional] = optional
    return columns, tags


# ---------------------------------------------------------------------------------------------------------
# Many rows


def detect_format(
    rows: list[dict], formatting: str = "auto", columns: dict | None = None, tags_override: dict | None = None
) -> Detection:
    """The format of `rows` (the first SAMPLE_ROWS of them), with a confidence and a one-sentence reason.

    `formatting` other than "auto" forces that label (the user knows better); `columns` and `tags` override
    the detected mapping, e.g. {"prompt": "question"} for a file with unusual names.
    """
    if formatting != "auto" and formatting not in FORMATS:
        raise ValueError(f"unknown format {formatting!r}; choose auto or one of: {', '.join(FORMATS)}")
    sample = rows[:SAMPLE_ROWS]
    shapes = [row_shape(row) for row in sample]
    counts = Counter(shapes)
    forced = formatting != "auto"
    label = formatting if forced else _majority(counts)
    matching = counts.get(label, 0)
    matching_rows = [row for row, shape in zip(sample, shapes) if shape == label]
    example = matching_rows[0] if matching_rows else (sample[0] if sample else {})
    # Optional columns (system, history, ...) count when any matching row has them, not only the first.
    merged = {**{key: None for row in matching_rows for key in row}, **example}
    found_columns, tags = columns_for(label, merged) if label != UNKNOWN else ({}, {})
    found_columns.update(columns or {})
    tags.update(tags_override or {})
    confidence = matching / len(sample) if sample and label != UNKNOWN else 0.0
    return Detection(
        formatting=label,
        ranking=label == "preference",
        columns=found_columns,
        tags=tags,
        confidence=round(confidence, 3),
        reason=_reason(label, forced, matching, len(sample), counts, example),
    )


def _majority(counts: Counter) -> str:
    known = [(count, shape) for shape, count in counts.items() if shape != UNKNOWN]
    return max(known)[1] if known else UNKNOWN


def _reason(label: str, forced: bool, matching: int, total: int, counts: Counter, example) -> Message:
    if not total:
        return say("data.reason.no_rows")
    if label == UNKNOWN:
        keys = sorted({key for key in example}) if isinstance(example, dict) else []
        return say("data.reason.unknown", total=total, columns=", ".join(keys) if keys else say("data.none"))
    what = FORMATS[label].signature
    if forced:
        return say("data.reason.forced", label=label, matching=matching, total=total, what=what)
    others = [
        say("data.reason.other_shape", count=count, shape=shape)
        for shape, count in counts.most_common()
        if shape != label
    ]
    if others:
        return say(
            "data.reason.detected_others", matching=matching, total=total, what=what, label=label, others=others
        )
    return say("data.reason.detected", matching=matching, total=total, what=what, label=label)
