"""Datasets: the registry (LLaMA-Factory's dataset_info.json schema), file loading, and conversion of
alpaca / sharegpt / OpenAI-messages rows into one internal form: a list of {"role", "content"} messages.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.paths import data_dir, inside, registry_path

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


def add_registry_entry(name: str, entry: dict) -> None:
    """Add `name` to the registry, refusing a name already there.

    A lock file serialises writers (two uploads at once would otherwise lose one); the new registry goes to
    a temporary file that replaces the old one in a single os.replace, so a crash leaves the old file whole.
    """
    import fcntl
    import os
    import tempfile

    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        registry = read_registry()
        if name in registry:
            raise DataError(f"a dataset named {name!r} is already registered; pick another name")
        registry[name] = entry
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(registry, out, indent=2, ensure_ascii=False)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def dataset_file(entry: DatasetEntry) -> Path:
    path = inside(data_dir(), entry.file_name, f"dataset {entry.name!r} file_name")
    if not path.exists():
        raise DataError(f"dataset {entry.name!r}: file {entry.file_name} was not found in {data_dir()}")
    return path


# ---------------------------------------------------------------------------------------------------------
# Files


DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")


def folder_files(folder: Path) -> list[Path]:
    """The data files of a dataset folder (LLaMA-Factory allows a folder as file_name), in name order."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
    if not files:
        raise DataError(f"folder {folder.name} holds no {', '.join(DATA_SUFFIXES)} file")
    return files


def read_rows(path: Path) -> list[dict]:
    """Rows of a json (array), jsonl, csv, parquet or txt (blank-line separated documents) file, or of every
    such file in a folder, one after the other."""
    if path.is_dir():
        return [row for file in folder_files(path) for row in read_rows(file)]
    suffix = path.suffix.lower()
    if suffix == ".json":
        rows = _read_json(path)
    elif suffix == ".jsonl":
        rows = [_parse_json_line(path, n, line) for n, line in enumerate(_text(path).splitlines(), 1) if line.strip()]
    elif suffix in (".csv", ".parquet"):
        import pandas as pd

        try:
            # dtype=str: a CSV answer "42" is text to train on, not a number
            frame = pd.read_csv(path, keep_default_na=False, dtype=str) if suffix == ".csv" else pd.read_parquet(path)
        except Exception as err:  # pandas raises many types; the message is what users need
            raise DataError(f"{path.name} could not be read as {suffix[1:]}: {err}") from None
        rows = frame.to_dict(orient="records")
    elif suffix == ".txt":
        rows = [{"text": document} for document in _documents(_text(path))]
    else:
        raise DataError(f"{path.name}: unsupported file type {suffix!r}; use .json, .jsonl, .csv, .parquet or .txt")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DataError(f"{path.name} must hold a list of objects (one per example)")
    if not rows:
        raise DataError(f"{path.name} has no rows")
    return rows


def _documents(text: str) -> list[str]:
    """Blank-line separated documents; a text without any blank line has one document per line."""
    lines = text.splitlines()
    if all(line.strip() for line in lines):
        return [line.strip() for line in lines]
    return [part.strip() for part in re.split(r"\n[ \t]*\n", text) if part.strip()]


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


# ---------------------------------------------------------------------------------------------------------
# Other stages' data: plain text, preference pairs, KTO examples


def _rows_of(name: str, max_samples: int) -> tuple[DatasetEntry, list[dict]]:
    entry = get_entry(name)
    rows = read_rows(dataset_file(entry))
    return entry, rows[:max_samples] if max_samples else rows


def load_texts(name: str, max_samples: int = 0) -> list[str]:
    """Documents of a plain-text (pretraining) dataset: its `prompt` column, "text" by default."""
    entry, rows = _rows_of(name, max_samples)
    column = entry.column("prompt", "text")
    return [_field(entry, row, column, number, required=True) for number, row in enumerate(rows, 1)]


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
    answer = row.get(entry.column(key, key))
    if entry.formatting == "alpaca":
        return {**row, entry.column("response", "output"): answer}
    column = entry.column("messages", "conversations")
    if not isinstance(answer, dict) or not isinstance(row.get(column), list):
        raise DataError(f"dataset {entry.name!r} row {number}: {key!r} must be one turn object and {column!r} a list of turns")
    return {**row, column: [*row[column], answer]}


def load_kto_examples(name: str, max_samples: int = 0) -> list[dict]:
    """[{"messages": [...], "label": bool}]: whether the final answer is desirable, from columns.kto_tag."""
    entry, rows = _rows_of(name, max_samples)
    tag = entry.column("kto_tag", "label")
    examples = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get(tag), bool):
            raise DataError(f"dataset {entry.name!r} row {number}: field {tag!r} must be true or false")
        examples.append({"messages": to_messages(entry, row, number), "label": row[tag]})
    return examples
