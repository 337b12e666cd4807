"""Cleaning an instruction dataset into a new one: trim, drop short/long/duplicate rows, split; and a copy with
its `{{name}}` placeholders filled in (engine/data/placeholders.py finds them).

Rows keep their original format (alpaca, sharegpt or OpenAI messages), so the cleaned set is registered
with the original entry's formatting, columns and tags; the original file and entry are never touched.

"Prompt" below means the user turns of a row (alpaca: instruction + input, plus any history questions)
and "response" the assistant turns.

Near duplicates use a normalized-text hash, not MinHash: the prompt is NFKC-normalized, case-folded and
stripped of everything but letters and digits, then hashed. It catches rows that differ only in case,
spacing, punctuation or full-/half-width forms, in one O(n) pass with no false positives; it does not
catch reworded prompts (MinHash over shingles would, at the cost of tuning a threshold).
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from pathlib import Path
from dataclasses import dataclass, field

from engine.data.checker import estimate_tokens
from engine.data.placeholders import filled, find_placeholders
from engine.data.conversion import to_messages
from engine.data.formats import formats_of_kind, registry_label
from engine.data.hub import entry_rows
from engine.data.registry import HUB_KEYS, DataError, add_registry_entry, get_entry, read_registry
from engine.messages import Message, say
from engine.data.uploads import check_dataset_name, free_file_name

REASONS = ("invalid row", "empty or too short", "over token limit", "exact duplicate", "near duplicate")
CLEANABLE = formats_of_kind("conversation")  # rows cleaning can read as prompt and response


@dataclass
class CleanOptions:
    trim_whitespace: bool = True
    min_prompt_chars: int = 1  # after trimming; shorter prompts are dropped
    min_response_chars: int = 1
    max_tokens: int = 0  # 0 = no limit; prompt + response tokens (exact with `tokenizer`, else estimated)
    tokenizer: object = None
    exact_dedup: bool = True  # same prompt text
    near_dedup: bool = True  # same prompt after normalization (see the module docstring)
    validation_ratio: float = 0.0  # share of kept rows held out, 0..0.5
    seed: int = 42


@dataclass
class CleanResult:
    source: str
    total: int
    train: list[dict]
    validation: list[dict]
    removed: dict[str, int] = field(default_factory=dict)  # reason -> rows

    def summary(self) -> str:
        dropped = ", ".join(f"{count} {reason}" for reason, count in self.removed.items() if count) or "nothing"
        return (f"{self.total} rows: removed {dropped}; kept {len(self.train)} for training"
                + (f" and {len(self.validation)} for validation" if self.validation else ""))

    def save_as(self, new_name: str) -> list[str]:
        """Register the cleaned rows as `new_name` (and `new_name`_validation when split); returns the names."""
        parts = {new_name: self.train} | ({f"{new_name}_validation": self.validation} if self.validation else {})
        for name in parts:
            check_dataset_name(name)
        # The cleaned rows are a file: the source's hub keys (a hub id, split, num_samples) no longer apply.
        original = {key: value for key, value in read_registry()[self.source].items() if key not in HUB_KEYS}
        for name, rows in parts.items():
            path = _write_new_file(name, rows)
            try:
                add_registry_entry(name, {**original, "file_name": path.name})
            except BaseException:  # another save took the name meanwhile: its file is the registered one
                path.unlink(missing_ok=True)
                raise
        return list(parts)


def _write_new_file(name: str, rows: list[dict]) -> Path:
    """rows as JSON Lines in a file of the data folder that did not exist before (mode "x": two saves at once
    never write into one file; the one that lost the name tries the next)."""
    while True:
        path = free_file_name(name, ".jsonl")
        try:
            out = path.open("x", encoding="utf-8")
        except FileExistsError:
            continue
        try:
            with out:
                out.writelines(json.dumps(row, ensure_ascii=False, default=_plain) + "\n" for row in rows)
            return path
        except BaseException:  # a half-written file (disk full, a value JSON cannot hold) must not stay behind
            path.unlink(missing_ok=True)
            raise


def save_filled(source: str, new_name: str, values: dict[str, str]) -> Message:
    """Register a copy of dataset `source` with every placeholder filled in as `new_name` (a JSON Lines file
    in the workspace's data folder); a DataError when a placeholder has no value or there is none."""
    rows = entry_rows(get_entry(source))
    found = find_placeholders(rows)
    if not found:
        raise DataError(say("placeholders.none", dataset=source))
    missing = [name for name in found if not (values.get(name) or "").strip()]
    if missing:
        raise DataError(say("placeholders.missing_value", names=", ".join(missing)))
    check_dataset_name(new_name)
    path = _write_new_file(new_name, [filled(row, values) for row in rows])
    # A copy is a file: the source's hub keys (hub id, split, num_samples) do not apply to it.
    original = {key: value for key, value in read_registry()[source].items() if key not in HUB_KEYS}
    add_registry_entry(new_name, {**original, "file_name": path.name})
    shown = ", ".join(f"{name} = {values[name]}" for name in found)
    return say("placeholders.saved", rows=len(rows), name=new_name, values=shown)


def _plain(value):
    # Parquet rows may carry numpy arrays for nested columns; JSON wants lists.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot save a {type(value).__name__} value")


# ---------------------------------------------------------------------------------------------------------


def clean_dataset(name: str, options: CleanOptions | None = None) -> CleanResult:
    """Clean registered dataset `name` (alpaca, sharegpt or OpenAI messages); nothing is written until save_as."""
    options = options or CleanOptions()
    entry = get_entry(name)
    label = registry_label(read_registry()[name])
    if label not in CLEANABLE:
        raise DataError(say("cleaning.wrong_kind", name=name, label=label, kinds=list(CLEANABLE)))
    rows = entry_rows(entry)
    removed = dict.fromkeys(REASONS, 0)
    kept, seen_exact, seen_near = [], set(), set()
    for number, row in enumerate(rows, 1):
        row = _trimmed(row) if options.trim_whitespace else row
        reason = _drop_reason(entry, row, number, options, seen_exact, seen_near)
        if reason:
            removed[reason] += 1
        else:
            kept.append(row)
    train, validation = _split(kept, options.validation_ratio, options.seed)
    return CleanResult(name, len(rows), train, validation, removed)


def _drop_reason(entry, row: dict, number: int, options: CleanOptions, seen_exact: set, seen_near: set) -> str | None:
    try:
        messages = to_messages(entry, row, number)
    except DataError as err:
        # engine/data/registry.py refuses an empty required field with "... is empty ..."; that is a cleaning reason
        return "empty or too short" if "is empty" in str(err) else "invalid row"
    prompt = "\n".join(m["content"] for m in messages if m["role"] == "user")
    response = "\n".join(m["content"] for m in messages if m["role"] == "assistant")
    if len(prompt.strip()) < options.min_prompt_chars or len(response.strip()) < options.min_response_chars:
        return "empty or too short"
    if options.max_tokens and estimate_tokens(prompt + "\n" + response, options.tokenizer) > options.max_tokens:
        return "over token limit"
    if options.exact_dedup:
        if prompt in seen_exact:
            return "exact duplicate"
        seen_exact.add(prompt)
    if options.near_dedup:
        key = normalized_hash(prompt)
        if key in seen_near:
            return "near duplicate"
        seen_near.add(key)
    return None


def normalized_hash(text: str) -> str:
    """Hash of `text` after NFKC, case folding and dropping all but letters and digits (any script)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return hashlib.sha1(re.sub(r"[\W_]+", "", folded).encode("utf-8")).hexdigest()


def _trimmed(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {key: _trimmed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trimmed(item) for item in value]
    return value


def _split(rows: list[dict], ratio: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Shuffle with `seed`, hold out round(ratio × rows) (at least 1 when ratio > 0 and there are 2+ rows)."""
    if not 0 <= ratio <= 0.5:
        raise DataError(say("cleaning.bad_ratio", ratio=ratio))
    held = max(1, round(ratio * len(rows))) if ratio and len(rows) > 1 else 0
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    validation = sorted(order[:held])
    chosen = set(validation)
    return [row for i, row in enumerate(rows) if i not in chosen], [rows[i] for i in validation]
