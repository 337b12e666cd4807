"""Checking a dataset file before anyone trains on it: one specific, row-and-field message per problem.

The check streams: jsonl, csv, parquet and txt are read row by row and a file is scanned for UTF-8 in 1 MB
chunks, so a 200 MB upload never sits in memory whole. A .json array must be parsed whole, so arrays over
JSON_ARRAY_LIMIT are refused with a request to convert them to JSON Lines.

Order of work: file-level sniffing (empty, binary, wrong encoding, parquet magic), then parsing into rows,
then format detection on the first rows, then every row against the detected (or user-chosen) format.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Iterator

from .formats import FORMATS, SAMPLE_ROWS, UNKNOWN, Detection, detect_format, row_shape
from .paths import PathEscapeError, data_dir, inside

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")
JSON_ARRAY_LIMIT = 50 * 1024**2  # bytes; larger arrays would have to be parsed whole
CHUNK = 1024**2  # bytes read at a time when scanning
MAX_KEPT = 1000  # problems kept in memory; the rest are only counted
SHOWN = 20  # problems printed by Report.render()
LONG_ROW_FACTOR = 2  # a row this many times the cutoff loses most of itself to truncation
CHARS_PER_TOKEN = 4  # rough, for Latin script when no tokenizer is given; CJK counts one token per character

BINARY_MAGIC = {
    b"PK\x03\x04": "ZIP archive (an .xlsx or .docx is one too)",
    b"\x1f\x8b": "gzip archive",
    b"%PDF": "PDF document",
    b"\x89PNG": "PNG image",
    b"\xff\xd8\xff": "JPEG image",
    b"PAR1": "Parquet file",
    b"SQLite format 3": "SQLite database",
    b"\x7fELF": "program (ELF executable)",
}


# ---------------------------------------------------------------------------------------------------------
# The report


@dataclass
class Problem:
    row: int | None  # 1-based row (json array index, jsonl line, csv data row, txt document); None = whole file
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [f"row {self.row}"] if self.row is not None else []
        where += [f"field {self.field!r}"] if self.field else []
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass
class Report:
    path: Path
    rows: int = 0
    detection: Detection | None = None
    problems: list[Problem] = field(default_factory=list)  # the first MAX_KEPT
    total_problems: int = 0

    @property
    def ok(self) -> bool:
        return self.total_problems == 0 and self.rows > 0

    def add(self, row: int | None, field_name: str | None, message: str) -> None:
        self.total_problems += 1
        if len(self.problems) < MAX_KEPT:
            self.problems.append(Problem(row, field_name, message))

    def render(self) -> str:
        lines = [f"{self.path.name}: {self.rows} rows"]
        if self.detection is not None:
            lines[0] += f", format {self.detection.formatting} (confidence {self.detection.confidence:.0%})"
            lines.append(f"  {self.detection.reason}")
        if self.ok:
            lines.append("usable: no problems found")
            return "\n".join(lines)
        count = self.total_problems
        lines.append(f"not usable: {count} problem{'s' if count != 1 else ''}")
        lines += [f"  - {problem}" for problem in self.problems[:SHOWN]]
        if count > SHOWN:
            lines.append(f"  ... and {count - SHOWN} more")
        return "\n".join(lines)


class _Stop(Exception):
    """A problem that makes the rest of the file unreadable; already added to the report."""


# ---------------------------------------------------------------------------------------------------------
# File-level sniffing


def _sniff(path: Path, report: Report) -> bool:
    """Add a problem and return False when the bytes cannot be a dataset of this file type."""
    size = path.stat().st_size
    if size == 0:
        report.add(None, None, "the file is empty (0 bytes); it needs at least one row")
        return False
    with path.open("rb") as handle:
        head = handle.read(4096)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _sniff_parquet(head, report)
    for magic, kind in BINARY_MAGIC.items():
        if head.startswith(magic):
            report.add(None, None, f"this is a {kind}, not a {suffix} text file; export the data as {suffix}")
            return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(head):
        report.add(None, None, "the file is UTF-16 encoded; save it as UTF-8 (in most editors: Save As → Encoding → UTF-8)")
        return False
    if b"\x00" in head:
        report.add(None, None, f"this is a binary file (a NUL byte at byte offset {head.index(0)}), not {suffix} text")
        return False
    return _scan_utf8(path, report)


def _looks_utf16(head: bytes) -> bool:
    # UTF-16 without a BOM: ASCII text leaves every other byte NUL.
    sample = head[:200]
    return len(sample) >= 8 and (set(sample[0::2]) == {0} or set(sample[1::2]) == {0})


def _sniff_parquet(head: bytes, report: Report) -> bool:
    if head.startswith(b"PAR1"):
        return True
    sample = head[:40].decode("utf-8", errors="replace")
    if sample.isprintable() or sample.strip().startswith(("[", "{")):
        report.add(None, None, f"this is not a Parquet file: it is text starting with {sample[:30]!r}; "
                               "rename it to .json, .jsonl or .csv to match what it holds")
    else:
        report.add(None, None, "this is not a Parquet file (it lacks the PAR1 signature); export it again as Parquet")
    return False


def _scan_utf8(path: Path, report: Report) -> bool:
    """Check the whole file decodes as UTF-8 (BOM allowed) and holds more than whitespace, 1 MB at a time."""
    offset, newlines, carry, seen_text = 0, 0, b"", False
    with path.open("rb") as handle:
        while True:
            data = handle.read(CHUNK)
            chunk = carry + data
            if not chunk:
                break
            try:
                text, carry = chunk.decode("utf-8"), b""
            except UnicodeDecodeError as err:
                cut_character = data and err.end == len(chunk) and err.reason == "unexpected end of data"
                if not cut_character:
                    _add_encoding_problem(report, chunk, err, offset, newlines)
                    return False
                text, carry = chunk[: err.start].decode("utf-8"), chunk[err.start :]
            used = len(chunk) - len(carry)
            newlines += chunk.count(b"\n", 0, used)
            offset += used
            seen_text = seen_text or bool(text.replace("\ufeff", "").strip())
    if not seen_text:
        report.add(None, None, "the file holds only whitespace; it needs at least one row")
    return seen_text


def _add_encoding_problem(report: Report, chunk: bytes, err: UnicodeDecodeError, offset: int, newlines: int) -> None:
    line = newlines + chunk.count(b"\n", 0, err.start) + 1
    report.add(
        None,
        None,
        f"the file is not valid UTF-8: byte 0x{chunk[err.start]:02x} at byte offset {offset + err.start} (line {line}) "
        f"cannot be decoded ({err.reason}); it is probably Latin-1/Windows-1252 or GBK text — save it as UTF-8",
    )


# ---------------------------------------------------------------------------------------------------------
# Rows of each file type: generators of (row number, row); unreadable parts become problems


def _rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    readers = {".json": _json_rows, ".jsonl": _jsonl_rows, ".csv": _csv_rows, ".parquet": _parquet_rows, ".txt": _txt_rows}
    return readers[path.suffix.lower()](path, report)


def _json_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    size = path.stat().st_size
    if size > JSON_ARRAY_LIMIT:
        report.add(None, None, f"the file is a {size / 1024**2:.0f} MB JSON array; arrays over "
                               f"{JSON_ARRAY_LIMIT // 1024**2} MB are not read whole. Convert it to JSON Lines "
                               "(.jsonl, one object per line), which is checked and loaded row by row")
        raise _Stop
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        hint = "; it looks like JSON Lines (one object per line): name it .jsonl" if err.msg == "Extra data" else ""
        report.add(None, None, f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}{hint}")
        raise _Stop from None
    if not isinstance(data, list):
        report.add(None, None, _not_a_list(data))
        raise _Stop
    yield from enumerate(data, 1)


def _not_a_list(data) -> str:
    message = f"the top level is {_kind(data)}; it must be a list of rows: [{{...}}, {{...}}]"
    lists = [key for key, value in data.items() if isinstance(value, list)] if isinstance(data, dict) else []
    return message + (f" (the rows seem to be under {lists[0]!r}: keep only that list)" if lists else "")


def _jsonl_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as err:
                hint = "; the file looks like a JSON array: name it .json" if number == 1 and line.strip() in ("[", "[{") else ""
                report.add(number, None, f"line {number} is not valid JSON: {err.msg} at column {err.colno}{hint}")


def _csv_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    csv.field_size_limit(2**31 - 1)  # long answers are normal; the default 128 KB limit is not
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if not header or len(set(header)) != len(header) or not all(name.strip() for name in header):
                report.add(None, None, f"the CSV header {header!r} must name every column once")
                raise _Stop
            for number, record in enumerate(reader, 1):
                if len(record) != len(header):
                    report.add(number, None, f"has {len(record)} fields but the header has {len(header)} (line "
                                             f"{reader.line_num}); a quote or comma is probably out of place")
                    continue
                yield number, dict(zip(header, record))
        except csv.Error as err:
            report.add(None, None, f"broken CSV quoting near line {reader.line_num}: {err}; every quoted field "
                                   'must be closed, and a quote inside one is written twice ("")')
            raise _Stop from None


def _parquet_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    import pyarrow.parquet as parquet

    try:
        table = parquet.ParquetFile(path)
        number = 0
        for batch in table.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except Exception as err:  # pyarrow raises several types; its message is what the user needs
        report.add(None, None, f"could not be read as Parquet: {err}")
        raise _Stop from None


def _txt_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    """Documents: blank-line separated blocks, or one per line when the file has no blank line."""
    with path.open(encoding="utf-8-sig") as handle:
        by_block = any(not line.strip() for line in handle)
    with path.open(encoding="utf-8-sig") as handle:
        documents = _blocks(handle) if by_block else (line.strip() for line in handle if line.strip())
        yield from ((number, {"text": text}) for number, text in enumerate(documents, 1))


def _blocks(lines) -> Iterator[str]:
    block: list[str] = []
    for line in chain(lines, [""]):  # the sentinel ends the last block
        if line.strip():
            block.append(line)
        elif block:
            yield "".join(block).strip()
            block = []


# ---------------------------------------------------------------------------------------------------------
# One row against a format


def _text_field(row: dict, column: str | None, required: bool, label: str) -> str | None:
    """A message when row[column] is missing, not text, or (if required) empty; None when fine."""
    if column is None or column not in row or row[column] is None:
        return f"missing; every {label} row needs the column {column!r}" if required else None
    value = row[column]
    if not isinstance(value, str):
        return f"must be text, but is {_kind(value)}"
    if required and not value.strip():
        return "is empty; every row needs it"
    return None


def _kind(value) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object", str: "text", type(None): "null"}
    return names.get(type(value), type(value).__name__)


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
        found.append((tag, f"must be true or false (is the answer desirable?), but is {_kind(row.get(tag))}"))
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


def _row_text(value) -> str:
    if isinstance(value, dict):
        return "\n".join(_row_text(item) for item in value.values())
    if isinstance(value, list):
        return "\n".join(_row_text(item) for item in value)
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
    if not _readable(path, report) or not _sniff(path, report):
        return report
    try:
        _check_rows(_rows(path, report), report, formatting, columns, tags, cutoff_len, tokenizer)
    except _Stop:
        pass
    return report


def _check_folder(folder: Path, formatting: str, cutoff_len, tokenizer, columns, tags) -> Report:
    """One report for every data file of a folder: rows add up, problems name their file, and all files
    must hold the same format."""
    from .data import DataError, folder_files

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
            report.add(number, None, f"is {_kind(row)}, not an object; each row must be {{\"column\": value, ...}}")
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
        tokens = estimate_tokens(_row_text(row), tokenizer)
        if tokens > LONG_ROW_FACTOR * cutoff_len:
            about = "" if tokenizer is not None else "about "
            report.add(number, None, f"is {about}{tokens} tokens, {tokens / cutoff_len:.1f}× the cutoff length {cutoff_len}; "
                                     "training would keep only the start — shorten or split it, or raise the cutoff")


def first_rows(path: Path, count: int) -> list[dict]:
    """Up to `count` object rows of a readable file (for previews); [] when the file cannot be parsed."""
    scratch = Report(Path(path))
    try:
        return [row for _, row in islice(_rows(Path(path), scratch), count) if isinstance(row, dict)]
    except (_Stop, OSError, UnicodeDecodeError):
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
    from .data import read_registry

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
