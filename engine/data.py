"""Datasets: the registry (LLaMA-Factory's dataset_info.json schema), file loading, and conversion of
alpaca / sharegpt / OpenAI-messages rows into one internal form: a list of {"role", "content"} messages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .paths import data_dir, inside, registry_path

ROLES = ("system", "user", "assistant")


class DataError(ValueError):
    """A dataset that cannot be used; the message names the file, row and field and says what to do."""


@dataclass
class DatasetEntry:
    """One registry entry, with LLaMA-Factory's defaults filled in."""

    name: str
    file_name: str
    formatting: str = "alpaca"
    ranking: bool = False
    columns: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)

    def column(self, key: str, default: str | None = None) -> str | None:
        return self.columns.get(key, default)

    def tag(self, key: str, default: str) -> str:
        return self.tags.get(key, default)


# ---------------------------------------------------------------------------------------------------------
# Registry


def read_registry() -> dict[str, dict]:
    path = registry_path()
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}") from None


def get_entry(name: str) -> DatasetEntry:
    registry = read_registry()
    if name not in registry:
        raise DataError(f"dataset {name!r} is not in {registry_path().name}; registered: {', '.join(registry) or 'none'}")
    raw = registry[name]
    if "file_name" not in raw:
        source = next((k for k in ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name") if k in raw), None)
        hint = f"it uses {source}, which needs network access" if source else "it has no file_name"
        raise DataError(f"dataset {name!r} cannot be loaded here: {hint}")
    return DatasetEntry(
        name=name,
        file_name=raw["file_name"],
        formatting=raw.get("formatting", "alpaca"),
        ranking=bool(raw.get("ranking", False)),
        columns=raw.get("columns", {}),
        tags=raw.get("tags", {}),
    )


def dataset_file(entry: DatasetEntry) -> Path:
    path = inside(data_dir(), entry.file_name, f"dataset {entry.name!r} file_name")
    if not path.exists():
        raise DataError(f"dataset {entry.name!r}: file {entry.file_name} was not found in {data_dir()}")
    return path


# ---------------------------------------------------------------------------------------------------------
# Files


def read_rows(path: Path) -> list[dict]:
    """Rows of a json (array), jsonl, csv, parquet or txt (blank-line separated documents) file."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        rows = _read_json(path)
    elif suffix == ".jsonl":
        rows = [_parse_json_line(path, n, line) for n, line in enumerate(_text(path).splitlines(), 1) if line.strip()]
    elif suffix in (".csv", ".parquet"):
        import pandas as pd

        try:
            frame = pd.read_csv(path, keep_default_na=False) if suffix == ".csv" else pd.read_parquet(path)
        except Exception as err:  # pandas raises many types; the message is what users need
            raise DataError(f"{path.name} could not be read as {suffix[1:]}: {err}") from None
        rows = frame.to_dict(orient="records")
    elif suffix == ".txt":
        rows = [{"text": part.strip()} for part in _text(path).split("\n\n") if part.strip()]
    else:
        raise DataError(f"{path.name}: unsupported file type {suffix!r}; use .json, .jsonl, .csv, .parquet or .txt")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DataError(f"{path.name} must hold a list of objects (one per example)")
    if not rows:
        raise DataError(f"{path.name} has no rows")
    return rows


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path.name} is not UTF-8 text (byte {err.start}); save it as UTF-8 and upload again") from None


def _read_json(path: Path):
    try:
        return json.loads(_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path.name} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None


def _parse_json_line(path: Path, number: int, line: str) -> dict:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"{path.name} line {number} is not valid JSON: {err.msg} at column {err.colno}") from None


# ---------------------------------------------------------------------------------------------------------
# Conversion to messages


def to_messages(entry: DatasetEntry, row: dict, number: int) -> list[dict]:
    """The row as [{"role": ..., "content": ...}], system first if any, then user/assistant turns."""
    if entry.formatting == "alpaca":
        return _alpaca_messages(entry, row, number)
    if entry.formatting in ("sharegpt", "openai"):
        return _sharegpt_messages(entry, row, number)
    raise DataError(f"dataset {entry.name!r}: formatting {entry.formatting!r} is not supported; use alpaca or sharegpt")


def _field(entry: DatasetEntry, row: dict, column: str | None, number: int, required: bool) -> str:
    value = row.get(column) if column else None
    if value is None or (isinstance(value, float) and value != value):  # missing or pandas NaN
        value = ""
    if not isinstance(value, str):
        raise DataError(f"dataset {entry.name!r} row {number}: field {column!r} must be text; got {type(value).__name__}")
    if required and not value.strip():
        raise DataError(f"dataset {entry.name!r} row {number}: field {column!r} is empty; every row needs it")
    return value


def _alpaca_messages(entry: DatasetEntry, row: dict, number: int) -> list[dict]:
    instruction = _field(entry, row, entry.column("prompt", "instruction"), number, required=True)
    query = _field(entry, row, entry.column("query", "input"), number, required=False)
    response = _field(entry, row, entry.column("response", "output"), number, required=True)
    system = _field(entry, row, entry.column("system"), number, required=False)
    messages = [{"role": "system", "content": system}] if system else []
    for pair in row.get(entry.column("history", "history") or "", None) or []:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise DataError(f"dataset {entry.name!r} row {number}: history must be a list of [question, answer] pairs")
        messages += [{"role": "user", "content": str(pair[0])}, {"role": "assistant", "content": str(pair[1])}]
    prompt = "\n".join(part for part in (instruction, query) if part)
    return messages + [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def _sharegpt_messages(entry: DatasetEntry, row: dict, number: int) -> list[dict]:
    openai = entry.formatting == "openai"
    column = entry.column("messages", "messages" if openai else "conversations")
    role_tag = entry.tag("role_tag", "role" if openai else "from")
    content_tag = entry.tag("content_tag", "content" if openai else "value")
    role_of = {
        entry.tag("user_tag", "user" if openai else "human"): "user",
        entry.tag("assistant_tag", "assistant" if openai else "gpt"): "assistant",
        entry.tag("system_tag", "system"): "system",
    }
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
        role, content = role_of[turn[role_tag]], turn.get(content_tag)
        if not isinstance(content, str):
            raise DataError(f"{where}: {content_tag!r} must be text")
        messages.append({"role": role, "content": content})
    _check_alternation(messages, f"dataset {entry.name!r} row {number}")
    return messages


def _check_alternation(messages: list[dict], where: str) -> None:
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise DataError(f"{where}: turn {index + 1} should be from the {expected} but is from the {message['role']}")
    if not turns or turns[-1]["role"] != "assistant":
        raise DataError(f"{where}: the conversation must end with an assistant reply")


def load_conversations(name: str, max_samples: int = 0) -> list[list[dict]]:
    """All rows of registered dataset `name` as message lists (at most `max_samples`, 0 = all)."""
    entry = get_entry(name)
    rows = read_rows(dataset_file(entry))
    if max_samples:
        rows = rows[:max_samples]
    return [to_messages(entry, row, number) for number, row in enumerate(rows, 1)]
