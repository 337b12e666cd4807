"""Checking a dataset file before anyone trains on it: one specific, row-and-field message per problem.

Order of work: file-level sniffing and parsing into rows (engine/data/reader.py, streaming), then format
detection on the first rows, then every row against the detected (or user-chosen) format.
"""
from __future__ import annotations

from itertools import chain, islice
from pathlib import Path

# SHOWN is re-exported: callers read the report's limits from the checker.
from engine.data.reader import SHOWN, SUFFIXES, Report, StopReading, file_rows, kind_of, sniff_file  # noqa: F401
from engine.data.formats import FORMATS, SAMPLE_ROWS, UNKNOWN, Detection, detect_format, row_shape
from engine.paths import PathEscapeError, data_dir, inside

LONG_ROW_FACTOR = 2  # a row this many times the cutoff loses most of itself to truncation
CHARS_PER_TOKEN = 4  # rough, for Latin script when no tokenizer is given; CJK counts one token per character


# ---------------------------------------------------------------------------------------------------------
# One row against a format


def _text_field(row: dict, column: str | None, required: bool, label: str) -> str | None:
    """A message when row[column] is missing, not text, or (if required) empty; None when fine."""
    if column is None or column not in row or row[column] is None:
        return f"missing; every {label} row needs the column {column!r}" if required else None
    value = row[column]
    if not isinstance(value, str):
        return f"must be text, but is {kind_of(value)}"
    if required and not value.strip():
        return "is empty; every row needs it"
    return None


def _alpaca_problems(row: dict, detection: Detection) -> list[tuple[str | None, str]]:
    columns, label = detection.columns, detection.formatting
    fields = [("prompt", "instruction", True), ("query", None, False), ("system", None, False)]
    if label in ("alpaca", "kto"):  # preference rows answer in chosen/rejected instead
        fields.append(("response", "output", True))
    found = []
    for key, default, required in fields:
        column = columns.get(key, default)
        if column and (message := _text_field(row, column, required, label)):
            found.append((column, message))
    history = row.get(columns.get("history", "history"))
    if history and not all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair) for pair in history):
        found.append((columns.get("history", "history"), "must be a list of [question, answer] pairs of text"))
    return found


def _conversation_problems(row: dict, detection: Detection, ends_with: str) -> list[tuple[str | None, str]]:
    """Turns must use known role names and alternate user/assistant after an optional system turn."""
    column, tags = detection.columns.get("messages", "conversations"), detection.tags
    role_tag, content_tag = tags.get("role_tag", "from"), tags.get("content_tag", "value")
    user, assistant, system = tags.get("user_tag", "human"), tags.get("assistant_tag", "gpt"), tags.get("system_tag", "system")
    turns = row.get(column)
    if not isinstance(turns, list) or not turns:
        return [(column, "must be a non-empty list of turns" if column in row else f"missing; every {detection.formatting} row needs it")]
    if turns and isinstance(turns[0], dict) and turns[0].get(role_tag) == system:
        turns = turns[1:]
    expected = [user, assistant]
    for index, turn in enumerate(turns):
        where = f"turn {index + 1}"
        if not isinstance(turn, dict):
            return [(column, f"{where} must be an object with {role_tag!r} and {content_tag!r}")]
        role = turn.get(role_tag)
        if role not in (user, assistant):
            return [(column, f"{where} has {role_tag}={role!r}; role names must be {user!r}, {assistant!r} or {system!r} (first turn only)")]
        if role != expected[index % 2]:
            return [(column, f"turns out of order: {where} is from {role!r} but should be from {expected[index % 2]!r}; "
                             f"turns alternate {user}, {assistant}, {user}, ...")]
        content = turn.get(content_tag)
        if not isinstance(content, str) or not content.strip():
            return [(column, f"{where} has an empty or non-text {content_tag!r}")]
    last = user if ends_with == "user" else assistant
    if turns and turns[-1].get(role_tag) != last:
        return [(column, f"the last turn must be from {last!r}")]
    return []


def _preference_problems(row: dict, detection: Detection) -> list[tuple[str | None, str]]:
    columns = detection.columns
    sharegpt = "messages" in columns
    found = _conversation_problems(row, detection, ends_with="user") if sharegpt else _alpaca_problems(row, detection)
    answers = {}
    for key in ("chosen", "rejected"):
        column = columns.get(key, key)
        value = row.get(column)
        if sharegpt and isinstance(value, dict):
            value = value.get(detection.tags.get("content_tag", "value"))
        if not isinstance(value, str) or not value.strip():
            found.append((column, "is missing, empty or not text; every preference row needs a chosen and a rejected answer"))
        answers[key] = value
    if isinstance(answers["chosen"], str) and answers["chosen"].strip() and answers["chosen"].strip() == (answers["rejected"] or "").strip():
        found.append((columns.get("rejected", "rejected"), "is identical to 'chosen'; a preference pair needs two different answers"))
    return found


def _kto_problems(row: dict, detection: Detection) -> list[tuple[str | None, str]]:
    conversation = "messages" in detection.columns
    found = _conversation_problems(row, detection, "assistant") if conversation else _alpaca_problems(row, detection)
    tag = detection.columns.get("kto_tag", "label")
    if not isinstance(row.get(tag), bool):
        found.append((tag, f"must be true or false (is the answer desirable?), but is {kind_of(row.get(tag))}"))
    return found


def _row_problems(row: dict, detection: Detection) -> list[tuple[str | None, str]]:
    label = detection.formatting
    if label == "text":
        column = detection.columns.get("prompt", "text")
        message = _text_field(row, column, True, "text")
        return [(column, message)] if message else []
    if label in ("sharegpt", "openai"):
        return _conversation_problems(row, detection, ends_with="assistant")
    if label == "preference":
        return _preference_problems(row, detection)
    if label == "kto":
        return _kto_problems(row, detection)
    return _alpaca_problems(row, detection)


def _is_empty(value) -> bool:
    if isinstance(value, dict):
        return all(_is_empty(item) for item in value.values())
    if isinstance(value, list):
        return all(_is_empty(item) for item in value)
    return value is None or (isinstance(value, str) and not value.strip()) or value != value  # NaN


def row_text(value) -> str:
    """Every string inside a row (nested lists and objects too), one per line."""
    if isinstance(value, dict):
        return "\n".join(row_text(item) for item in value.values())
    if isinstance(value, list):
        return "\n".join(row_text(item) for item in value)
    return value if isinstance(value, str) else ""


def estimate_tokens(text: str, tokenizer=None) -> int:
    """Tokens in `text`: exact with a tokenizer, else CJK characters plus other characters / CHARS_PER_TOKEN."""
    if tokenizer is not None:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    return cjk + (len(text) - cjk) // CHARS_PER_TOKEN


# ---------------------------------------------------------------------------------------------------------
# The whole file


def check_file(
    path: Path,
    formatting: str = "auto",
    cutoff_len: int | None = None,
    tokenizer=None,
    columns: dict | None = None,
    tags: dict | None = None,
) -> Report:
    """Check a dataset file; `formatting` forces a format, `columns` overrides detected column names.

    With `cutoff_len`, rows over LONG_ROW_FACTOR × cutoff are problems (token counts are exact with a
    tokenizer, estimated from characters without).
    """
    path = Path(path)
    if path.is_dir():
        return _check_folder(path, formatting, cutoff_len, tokenizer, columns, tags)
    report = Report(path)
    if formatting != "auto" and formatting not in FORMATS:
        report.add(None, None, f"unknown format {formatting!r}; use auto or one of: {', '.join(FORMATS)}")
        return report
    if not _readable(path, report) or not sniff_file(path, report):
        return report
    try:
        _check_rows(file_rows(path, report), report, formatting, columns, tags, cutoff_len, tokenizer)
    except StopReading:
        pass
    return report


def _check_folder(folder: Path, formatting: str, cutoff_len, tokenizer, columns, tags) -> Report:
    """One report for every data file of a folder: rows add up, problems name their file, and all files
    must hold the same format."""
    from engine.data.registry import DataError, folder_files

    report = Report(folder)
    try:
        files = folder_files(folder)
    except DataError as err:
        report.add(None, None, str(err))
        return report
    for file in files:
        part = check_file(file, formatting, cutoff_len, tokenizer, columns, tags)
        report.rows += part.rows
        for problem in part.problems:
            report.add(problem.row, problem.field, f"{file.name}: {problem.message}")
        report.total_problems += part.total_problems - len(part.problems)
        if part.detection is None:
            continue
        if report.detection is None:
            report.detection = part.detection
        elif part.detection.formatting != report.detection.formatting:
            report.add(None, None, f"{file.name} holds {part.detection.formatting} data but "
                                   f"{files[0].name} holds {report.detection.formatting}; keep one format per folder")
    return report


def _readable(path: Path, report: Report) -> bool:
    if not path.exists():
        report.add(None, None, f"{path} does not exist")
    elif path.suffix.lower() not in SUFFIXES:
        report.add(None, None, f"unsupported file type {path.suffix!r}; use {', '.join(SUFFIXES)}")
    else:
        return True
    return False


def _check_rows(rows, report: Report, formatting: str, columns, tags, cutoff_len, tokenizer) -> None:
    first = list(islice(rows, SAMPLE_ROWS))
    objects = [row for _, row in first if isinstance(row, dict)]
    detection = report.detection = detect_format(objects, formatting, columns, tags) if objects else None
    if first and detection is not None and detection.formatting == UNKNOWN:
        report.add(None, None, f"unknown format: {detection.reason}")
    empty = 0
    for number, row in chain(first, rows):
        report.rows += 1
        if not isinstance(row, dict):
            report.add(number, None, f"is {kind_of(row)}, not an object; each row must be {{\"column\": value, ...}}")
            continue
        if _is_empty(row):
            empty += 1
            report.add(number, None, "is empty; remove it")
            continue
        if detection is not None and detection.formatting != UNKNOWN:
            _check_row(number, row, detection, formatting == "auto", report, cutoff_len, tokenizer)
    if report.rows == 0 and report.total_problems == 0:
        report.add(None, None, "the file has no rows")
    elif empty and empty == report.rows:
        report.add(None, None, f"all {empty} rows are empty; there is nothing to train on")
        report.problems.insert(0, report.problems.pop())  # the summary matters more than each row


def _check_row(number: int, row: dict, detection: Detection, auto: bool, report: Report, cutoff_len, tokenizer) -> None:
    shape = row_shape(row)
    if auto and shape not in (UNKNOWN, detection.formatting):
        report.add(number, None, f"mixed formats: this row looks like {shape} but the file is {detection.formatting}; "
                                 "keep one format per file (split it into two files)")
        return
    for field_name, message in _row_problems(row, detection):
        report.add(number, field_name, message)
    if cutoff_len:
        tokens = estimate_tokens(row_text(row), tokenizer)
        if tokens > LONG_ROW_FACTOR * cutoff_len:
            about = "" if tokenizer is not None else "about "
            report.add(number, None, f"is {about}{tokens} tokens, {tokens / cutoff_len:.1f}× the cutoff length {cutoff_len}; "
                                     "training would keep only the start — shorten or split it, or raise the cutoff")


def first_rows(path: Path, count: int) -> list[dict]:
    """Up to `count` object rows of a readable file (for previews); [] when the file cannot be parsed."""
    scratch = Report(Path(path))
    try:
        return [row for _, row in islice(file_rows(Path(path), scratch), count) if isinstance(row, dict)]
    except (StopReading, OSError, UnicodeDecodeError):
        return []


# ---------------------------------------------------------------------------------------------------------
# Registered datasets


NETWORK_SOURCES = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


def registry_label(raw: dict) -> str:
    """The detection label of a registry entry: preference, kto, text, openai, sharegpt or alpaca."""
    columns, tags = raw.get("columns", {}), raw.get("tags", {})
    if raw.get("ranking"):
        return "preference"
    if "kto_tag" in columns:
        return "kto"
    if raw.get("formatting") in ("sharegpt", "openai"):
        return "openai" if raw.get("formatting") == "openai" or tags.get("role_tag") == "role" else "sharegpt"
    if "response" not in columns and columns.get("prompt") == "text":
        return "text"
    return "alpaca"


def check_registered(name: str, cutoff_len: int | None = None, tokenizer=None) -> Report:
    """Check registered dataset `name`: its file_name must stay inside data_dir(), then its file."""
    from engine.data.registry import read_registry

    raw = read_registry().get(name)
    report = Report(Path(name))
    if raw is None:
        report.add(None, None, f"dataset {name!r} is not registered")
        return report
    if "file_name" not in raw:
        source = next((key for key in NETWORK_SOURCES if key in raw), "no file_name")
        report.add(None, None, f"dataset {name!r} uses {source}, which needs network access; it cannot be checked here")
        return report
    try:
        path = inside(data_dir(), raw["file_name"], f"dataset {name!r} file_name")
    except PathEscapeError as err:
        report.add(None, "file_name", str(err))
        return report
    return check_file(path, registry_label(raw), cutoff_len, tokenizer, raw.get("columns"), raw.get("tags"))
