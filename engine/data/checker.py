"""Checking a dataset file before anyone trains on it: one specific, row-and-field message per problem.

Order of work: file-level sniffing and parsing into rows (engine/data/reader.py, streaming), then format
detection on the first rows, then every row against the detected (or user-chosen) format.
"""
from __future__ import annotations

import math
from itertools import chain, islice
from pathlib import Path

# SHOWN is re-exported: callers read the report's limits from the checker.
from engine.data.formats import FORMATS, SAMPLE_ROWS, UNKNOWN, Detection, detect_format, registry_label, row_shape
from engine.data.reader import SHOWN, SUFFIXES, Report, StopReading, file_rows, folder_files, sniff_file  # noqa: F401
from engine.data.registry import DataError, get_entry, is_hub_entry, read_registry, registry_folder, unsupported_media
from engine.data.placeholders import placeholder_note, row_placeholders
from engine.data.rules import kind_of
from engine.messages import say
from engine.paths import PathEscapeError, inside

LONG_ROW_FACTOR = 2  # a row this many times the cutoff loses most of itself to truncation
CHARS_PER_TOKEN = 4  # rough, for Latin script when no tokenizer is given; CJK counts one token per character


# ---------------------------------------------------------------------------------------------------------
# One row


def _is_empty(value) -> bool:
    if isinstance(value, dict):
        return all(_is_empty(item) for item in value.values())
    if isinstance(value, list):
        return all(_is_empty(item) for item in value)
    blank = isinstance(value, str) and not value.strip()
    return value is None or blank or (isinstance(value, float) and math.isnan(value))


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
    media_folder: Path | None = None,
) -> Report:
    """Check a dataset file; `formatting` forces a format, `columns` overrides detected column names, and
    image paths are relative to `media_folder` (the data folder when None).

    With `cutoff_len`, rows over LONG_ROW_FACTOR × cutoff are problems (token counts are exact with a
    tokenizer, estimated from characters without).
    """
    path = Path(path)
    if path.is_dir():
        return _check_folder(path, formatting, cutoff_len, tokenizer, columns, tags, media_folder)
    report = Report(path)
    if formatting != "auto" and formatting not in FORMATS:
        report.add(None, None, say("check.unknown_formatting", formatting=formatting, formats=", ".join(FORMATS)))
        return report
    if not _readable(path, report) or not sniff_file(path, report):
        return report
    try:
        _check_rows(file_rows(path, report), report, formatting, columns, tags, cutoff_len, tokenizer, media_folder)
    except StopReading:
        pass
    return report


def _check_folder(folder: Path, formatting: str, cutoff_len, tokenizer, columns, tags, media_folder) -> Report:
    """One report for every data file of a folder: rows add up, problems name their file, and all files
    must hold the same format."""
    report = Report(folder)
    try:
        files = folder_files(folder)
    except DataError as err:
        report.add(None, None, err.args[0])
        return report
    for file in files:
        part = check_file(file, formatting, cutoff_len, tokenizer, columns, tags, media_folder)
        report.rows += part.rows
        for problem in part.problems:
            report.add(problem.row, problem.field, say("check.in_file", file=file.name, problem=problem.message))
        report.total_problems += part.total_problems - len(part.problems)
        report.notes += [say("check.in_file", file=file.name, problem=note) for note in part.notes]
        if part.detection is None:
            continue
        if report.detection is None:
            report.detection = part.detection
        elif part.detection.formatting != report.detection.formatting:
            report.add(None, None, say("check.folder_mixed", file=file.name, formatting=part.detection.formatting,
                                       first=files[0].name, other=report.detection.formatting))
    return report


def _readable(path: Path, report: Report) -> bool:
    if not path.exists():
        report.add(None, None, say("check.missing_file", path=str(path)))
    elif path.suffix.lower() not in SUFFIXES:
        report.add(None, None, say("check.unsupported", suffix=path.suffix, suffixes=", ".join(SUFFIXES)))
    else:
        return True
    return False


def _check_rows(rows, report: Report, formatting: str, columns, tags, cutoff_len, tokenizer, media_folder) -> None:
    first = list(islice(rows, SAMPLE_ROWS))
    objects = [row for _, row in first if isinstance(row, dict)]
    detection = report.detection = detect_format(objects, formatting, columns, tags) if objects else None
    if detection is not None:
        detection.media_folder = media_folder
    if first and detection is not None and detection.formatting == UNKNOWN:
        report.add(None, None, say("check.unknown_format", reason=detection.reason))
    empty, placeholders, rows_with_placeholders = 0, {}, 0
    for number, row in chain(first, rows):
        report.rows += 1
        if not isinstance(row, dict):
            report.add(number, None, say("check.row_not_object", kind=kind_of(row)))
            continue
        if found := row_placeholders(row):
            rows_with_placeholders += 1
            placeholders.update(dict.fromkeys(found))
        if _is_empty(row):
            empty += 1
            report.add(number, None, say("check.row_empty"))
            continue
        if detection is not None and detection.formatting != UNKNOWN:
            _check_row(number, row, detection, formatting == "auto", report, cutoff_len, tokenizer)
    if placeholders:
        report.notes.append(placeholder_note(rows_with_placeholders, placeholders))
    if report.rows == 0 and report.total_problems == 0:
        report.add(None, None, say("check.no_rows"))
    elif empty and empty == report.rows:
        report.add(None, None, say("check.all_empty", count=empty))
        report.problems.insert(0, report.problems.pop())  # the summary matters more than each row


def _check_row(
    number: int, row: dict, detection: Detection, auto: bool, report: Report, cutoff_len, tokenizer
) -> None:
    shape = row_shape(row)
    if auto and shape not in (UNKNOWN, detection.formatting):
        report.add(number, None, say("check.mixed_formats", shape=shape, formatting=detection.formatting))
        return
    for field_name, message in FORMATS[detection.formatting].row_problems(row, detection):
        report.add(number, field_name, message)
    if cutoff_len:
        tokens = estimate_tokens(row_text(row), tokenizer)
        if tokens > LONG_ROW_FACTOR * cutoff_len:
            code = "check.long_row" if tokenizer is not None else "check.long_row_about"
            report.add(number, None, say(code, tokens=tokens, ratio=f"{tokens / cutoff_len:.1f}", cutoff=cutoff_len))


def first_rows(path: Path, count: int) -> list[dict]:
    """Up to `count` object rows of a readable file (for previews); [] when the file cannot be parsed."""
    scratch = Report(Path(path))
    try:
        return [row for _, row in islice(file_rows(Path(path), scratch), count) if isinstance(row, dict)]
    except (StopReading, OSError, UnicodeDecodeError):
        return []


# ---------------------------------------------------------------------------------------------------------
# Registered datasets


def check_registered(name: str, cutoff_len: int | None = None, tokenizer=None) -> Report:
    """Check registered dataset `name`: its file_name must stay inside its folder, then its file; a hub entry's
    rows are loaded (engine/data/hub.py) and checked the same way."""
    raw = read_registry().get(name)
    report = Report(Path(name))
    if raw is None:
        report.add(None, None, say("check.not_registered", name=name))
        return report
    if media := unsupported_media(name, raw):
        report.add(None, "columns", media)
        return report
    try:
        entry = get_entry(name)
        if is_hub_entry(entry):
            return _check_hub(entry, registry_label(raw), cutoff_len, tokenizer, report)
        path = inside(registry_folder(name), raw["file_name"], f"dataset {name!r} file_name")
    except PathEscapeError as err:
        report.add(None, "file_name", str(err))
        return report
    except DataError as err:
        report.add(None, None, err.args[0])
        return report
    return check_file(path, registry_label(raw), cutoff_len, tokenizer, raw.get("columns"), raw.get("tags"),
                      registry_folder(name))


def _check_hub(entry, label: str, cutoff_len, tokenizer, report: Report) -> Report:
    from engine.data.hub import entry_rows

    rows = entry_rows(entry)  # a DataError (offline, not found) becomes the report's one problem
    # Pictures named by a hub entry's rows are relative to its registry's folder, as LLaMA-Factory reads them.
    _check_rows(iter(enumerate(rows, 1)), report, label, entry.columns, entry.tags, cutoff_len, tokenizer,
                entry.folder)
    return report
