"""Reading dataset files: the one place that knows file types (SUFFIXES). File-level sniffing (empty, binary,
wrong encoding, parquet magic), then rows of each file type as (row number, row) pairs.

The checker reads with a Report: whatever cannot be read becomes a problem in it instead of an exception, so
one pass reports everything it can. `read_rows` (training, conversion, cleaning) uses the same row readers
but stops at the first problem with a DataError.

jsonl, csv, parquet and txt are read row by row and a file is scanned for UTF-8 in 1 MB chunks, so a 200 MB
upload never sits in memory whole. A .json array must be parsed whole, so arrays over JSON_ARRAY_LIMIT are
refused with a request to convert them to JSON Lines.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from engine.data.formats import Detection
from engine.data.json_problems import file_problem, line_problem
from engine.data.registry import DataError
from engine.data.rules import kind_of
from engine.data.v1 import from_v1
from engine.messages import Message, say

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")
JSON_ARRAY_LIMIT = 50 * 1024**2  # bytes; larger arrays would have to be parsed whole
CHUNK = 1024**2  # bytes read at a time when scanning
MAX_KEPT = 1000  # problems kept in memory; the rest are only counted
SHOWN = 20  # problems printed by Report.render()
# Parquet is compressed, and repeats a value by reference: a few kilobytes can hold gigabytes of text. What
# it expands to is bounded per file and per row group from its metadata before a page is decompressed; text
# columns stay dictionary-encoded while read, so each row's cells are measured before they become Python
# strings, and a row is only built when its largest value, the row and the file so far stay within bounds.
PARQUET_EXPANDED_LIMIT = 512 * 1024**2  # bytes, the same as an upload's size
PARQUET_ROW_GROUP_LIMIT = 128 * 1024**2  # bytes
# Bounds on text while reading any file type (characters; Parquet's measured in bytes before decoding):
MAX_VALUE_BYTES = 4 * 1024**2  # one cell: far beyond any training example
MAX_ROW_BYTES = 16 * 1024**2

BINARY_MAGIC = {  # first bytes -> what the file is (a message code under check.binary.)
    b"PK\x03\x04": "zip",
    b"\x1f\x8b": "gzip",
    b"%PDF": "pdf",
    b"\x89PNG": "png",
    b"\xff\xd8\xff": "jpeg",
    b"PAR1": "parquet",
    b"SQLite format 3": "sqlite",
    b"\x7fELF": "elf",
}


# ---------------------------------------------------------------------------------------------------------
# The report


@dataclass
class Problem:
    row: int | None  # 1-based row (json array index, jsonl line, csv data row, txt document); None = whole file
    field: str | None
    message: str  # a Message

    def __str__(self) -> str:
        return self.line()

    def line(self) -> Message:
        """The message with where it is: "row 3, field 'output': is empty; every row needs it"."""
        if self.row is not None and self.field:
            return say("check.at_row_field", row=self.row, field=self.field, problem=self.message)
        if self.row is not None:
            return say("check.at_row", row=self.row, problem=self.message)
        if self.field:
            return say("check.at_field", field=self.field, problem=self.message)
        return self.message


@dataclass
class Report:
    path: Path
    rows: int = 0
    detection: Detection | None = None
    problems: list[Problem] = field(default_factory=list)  # the first MAX_KEPT
    total_problems: int = 0
    notes: list[str] = field(default_factory=list)  # Messages worth reading that do not make the data unusable

    @property
    def ok(self) -> bool:
        return self.total_problems == 0 and self.rows > 0

    def add(self, row: int | None, field_name: str | None, message: str) -> None:
        self.total_problems += 1
        if len(self.problems) < MAX_KEPT:
            self.problems.append(Problem(row, field_name, message))

    def render(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[Message]:
        """The report line by line; the UI shows each in the page's language."""
        name, detection = self.path.name, self.detection
        if detection is None:
            lines = [say("check.header", file=name, rows=self.rows)]
        else:
            lines = [say("check.header_format", file=name, rows=self.rows, formatting=detection.formatting,
                         confidence=f"{detection.confidence:.0%}"),
                     say("check.reason_line", reason=detection.reason)]
        lines += [say("check.note_line", note=note) for note in self.notes]
        if self.ok:
            return [*lines, say("check.usable")]
        count = self.total_problems
        lines.append(say("check.not_usable", count=count) if count != 1 else say("check.not_usable_one"))
        lines += [say("check.problem_line", problem=problem.line()) for problem in self.problems[:SHOWN]]
        if count > SHOWN:
            lines.append(say("check.more", count=count - SHOWN))
        return lines


class StopReading(Exception):
    """A problem that makes the rest of the file unreadable; already added to the report."""


# ---------------------------------------------------------------------------------------------------------
# File-level sniffing


def sniff_file(path: Path, report: Report) -> bool:
    """Add a problem and return False when the bytes cannot be a dataset of this file type."""
    size = path.stat().st_size
    if size == 0:
        report.add(None, None, say("check.empty_file"))
        return False
    with path.open("rb") as handle:
        head = handle.read(4096)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _sniff_parquet(head, report)
    for magic, kind in BINARY_MAGIC.items():
        if head.startswith(magic):
            report.add(None, None, say("check.binary_kind", kind=say(f"check.binary.{kind}"), suffix=suffix))
            return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(head):
        report.add(None, None, say("check.utf16"))
        return False
    if b"\x00" in head:
        report.add(None, None, say("check.nul_byte", offset=head.index(0), suffix=suffix))
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
        report.add(None, None, say("check.parquet_is_text", start=sample[:30]))
    else:
        report.add(None, None, say("check.parquet_signature"))
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
        report.add(None, None, say("check.whitespace_only"))
    return seen_text


def _add_encoding_problem(report: Report, chunk: bytes, err: UnicodeDecodeError, offset: int, newlines: int) -> None:
    line = newlines + chunk.count(b"\n", 0, err.start) + 1
    report.add(None, None, say("check.not_utf8", byte=f"{chunk[err.start]:02x}", offset=offset + err.start, line=line,
                               reason=err.reason))


# ---------------------------------------------------------------------------------------------------------
# Rows of each file type: generators of (row number, row); unreadable parts become problems


def file_rows(path: Path, report: Report, any_size: bool = False) -> Iterator[tuple[int, object]]:
    """(row number, row) of a file of one of SUFFIXES; a .json array over JSON_ARRAY_LIMIT only if `any_size`.
    LLaMA-Factory v1 rows come out in the shapes the rest of the studio reads (engine/data/v1.py)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        rows = _json_rows(path, report, None if any_size else JSON_ARRAY_LIMIT)
    else:
        readers = {".jsonl": _jsonl_rows, ".csv": _csv_rows, ".parquet": _parquet_rows, ".txt": _txt_rows}
        rows = readers[suffix](path, report)
    if suffix != ".parquet":  # Parquet measures its rows in Arrow
        rows = _bounded(rows, report)
    return ((number, from_v1(row)) for number, row in rows)


def _bounded(rows: Iterator[tuple[int, object]], report: Report) -> Iterator[tuple[int, object]]:
    """The rows whose text values and whole text stay within MAX_VALUE_BYTES and MAX_ROW_BYTES (characters);
    the others become problems, so no preview, check or training holds a value far beyond any example."""
    for number, row in rows:
        cells = row.items() if isinstance(row, dict) else ()
        sizes = {key: len(value) for key, value in cells if isinstance(value, str)}
        largest = max(sizes, key=sizes.get, default=None)
        if largest is not None and sizes[largest] > MAX_VALUE_BYTES:
            report.add(number, str(largest), say("check.value_too_big", size=_megabytes(sizes[largest]),
                                                 limit=MAX_VALUE_BYTES // 1024**2))
        elif sum(sizes.values()) > MAX_ROW_BYTES:
            report.add(number, None, say("check.row_too_big", limit=MAX_ROW_BYTES // 1024**2))
        else:
            yield number, row


def _megabytes(size: int) -> str:
    return f"{size / 1024**2:,.0f}"


def _json_rows(path: Path, report: Report, limit: int | None) -> Iterator[tuple[int, object]]:
    size = path.stat().st_size
    if limit is not None and size > limit:
        limit = JSON_ARRAY_LIMIT // 1024**2
        report.add(None, None, say("check.json_too_big", size=f"{size / 1024**2:.0f}", limit=limit))
        raise StopReading
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        report.add(None, None, file_problem(err))
        raise StopReading from None
    except RecursionError:
        report.add(None, None, say("check.nested_too_deep"))
        raise StopReading from None
    if not isinstance(data, list):
        report.add(None, None, _not_a_list(data))
        raise StopReading
    yield from enumerate(data, 1)


def _not_a_list(data) -> Message:
    lists = [key for key, value in data.items() if isinstance(value, list)] if isinstance(data, dict) else []
    if lists:
        return say("check.top_level_under", kind=kind_of(data), key=lists[0])
    return say("check.top_level", kind=kind_of(data))


def _jsonl_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(_bounded_lines(handle), 1):
            if line is None:
                report.add(number, None, say("check.row_too_big", limit=MAX_ROW_BYTES // 1024**2))
                continue
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except RecursionError:
                report.add(number, None, say("check.nested_too_deep"))
            except json.JSONDecodeError as err:
                report.add(number, None, line_problem(err, number))


def _bounded_lines(handle) -> Iterator[str | None]:
    """The lines of a text file; None for a line over MAX_ROW_BYTES characters, skipped a chunk at a time
    instead of being read whole (a one-line file of gigabytes is still one line)."""
    while line := handle.readline(MAX_ROW_BYTES + 1):
        if len(line) <= MAX_ROW_BYTES:
            yield line
            continue
        while line and not line.endswith("\n"):
            line = handle.readline(CHUNK)
        yield None


def _csv_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    csv.field_size_limit(MAX_VALUE_BYTES)  # long answers are normal (the default is 128 KB); a value past this is not
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if not header or len(set(header)) != len(header) or not all(name.strip() for name in header):
                report.add(None, None, say("check.csv_header", header=repr(header)))
                raise StopReading
            for number, record in enumerate(reader, 1):
                if len(record) != len(header):
                    report.add(number, None, say("check.csv_fields", fields=len(record), columns=len(header),
                                                 line=reader.line_num))
                    continue
                yield number, dict(zip(header, record))
        except csv.Error as err:
            if "field limit" in str(err):  # the reader cannot find the next row after a value it gave up on
                report.add(None, None, say("check.csv_value_too_big", line=reader.line_num,
                                           limit=MAX_VALUE_BYTES // 1024**2))
            else:
                report.add(None, None, say("check.csv_quoting", line=reader.line_num, error=str(err)))
            raise StopReading from None


def _parquet_rows(path: Path, report: Report) -> Iterator[tuple[int, object]]:
    from pyarrow import parquet

    try:
        text_columns = [f.name for f in parquet.ParquetFile(path).schema_arrow if _is_text(f.type)]
        table = parquet.ParquetFile(path, read_dictionary=text_columns)
        problem = _expansion_problem(table.metadata)
        if problem:
            report.add(None, None, problem)
            raise StopReading
        number, expanded = 0, 0
        for batch in table.iter_batches(batch_size=16):
            for index, (largest, size) in enumerate(_row_sizes(batch)):
                number += 1
                expanded += size
                if expanded > PARQUET_EXPANDED_LIMIT:
                    report.add(None, None, say("check.parquet_rows_expand", limit=PARQUET_EXPANDED_LIMIT // 1024**2))
                    raise StopReading
                if largest > MAX_VALUE_BYTES or size > MAX_ROW_BYTES:
                    report.add(number, None, say("check.parquet_row_too_big", size=_megabytes(size),
                                                 largest=_megabytes(largest), row_limit=MAX_ROW_BYTES // 1024**2,
                                                 value_limit=MAX_VALUE_BYTES // 1024**2))
                    continue
                yield number, batch.slice(index, 1).to_pylist()[0]
    except StopReading:
        raise
    except Exception as err:  # noqa: BLE001  (pyarrow raises several types; its message is what the user needs)
        report.add(None, None, say("check.parquet_unreadable", error=str(err)[:300]))
        raise StopReading from None


def _expansion_problem(metadata) -> str | None:
    """Why a Parquet file expands too far to read, from its metadata (nothing decompressed yet)."""
    groups = [metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)]
    if sum(groups) > PARQUET_EXPANDED_LIMIT:
        return say("check.parquet_expands", size=_megabytes(sum(groups)), limit=PARQUET_EXPANDED_LIMIT // 1024**2)
    if groups and max(groups) > PARQUET_ROW_GROUP_LIMIT:
        return say("check.parquet_row_group", size=_megabytes(max(groups)), limit=PARQUET_ROW_GROUP_LIMIT // 1024**2)
    return None


def _is_text(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)


def _row_sizes(batch) -> list[tuple[int, int]]:
    """(largest text value, all text) in bytes of each row, measured in Arrow: no value is built in Python.
    Nested columns are not measured here; the row-group bound holds them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sizes = [(0, 0)] * batch.num_rows
    for column in batch.columns:
        if pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
            lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
        elif _is_text(column.type):
            lengths = pc.binary_length(column)
        else:
            continue
        sizes = [(max(largest, length or 0), total + (length or 0))
                 for (largest, total), length in zip(sizes, lengths.to_pylist())]
    return sizes


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
# Whole files, for training: the first problem is a DataError


class _Refusal:
    """A Report that raises at the first problem, naming the file."""

    def __init__(self, path: Path):
        self.path = path

    def add(self, row: int | None, field_name: str | None, message: str) -> None:
        raise DataError(say("check.in_file", file=self.path.name, problem=Problem(row, field_name, message).line()))


def folder_files(folder: Path) -> list[Path]:
    """The data files of a dataset folder (LLaMA-Factory allows a folder as file_name), in name order. A link
    to a file outside the folder is refused: the folder was checked to lie inside the data folder, its links
    were not."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    for file in files:
        if not file.resolve().is_relative_to(folder.resolve()):
            raise DataError(say("check.folder_link_out", file=file.name, folder=folder.name))
    if not files:
        raise DataError(say("check.folder_empty", folder=folder.name, suffixes=", ".join(SUFFIXES)))
    return files


def read_rows(path: Path) -> list[dict]:
    """Rows of a json (array), jsonl, csv, parquet or txt (blank-line separated documents) file, or of every
    such file in a folder, one after the other. A .json array of any size is read (it was registered)."""
    return list(iter_rows(path))


def iter_rows(path: Path) -> Iterator[dict]:
    """read_rows one row at a time, each problem raised when the reading reaches it: a caller that wants a few
    rows, or a tally of them all, holds one row, not the file's (a .json array is still parsed whole)."""
    if path.is_dir():
        for file in folder_files(path):
            yield from iter_rows(file)
        return
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(say("check.unsupported_in_file", file=path.name, suffix=path.suffix.lower(),
                            suffixes=", ".join(SUFFIXES)))
    empty = True
    try:
        for _, row in file_rows(path, _Refusal(path), any_size=True):
            if not isinstance(row, dict):
                raise DataError(say("check.not_objects", file=path.name))
            empty = False
            yield row
    except UnicodeDecodeError as err:
        raise DataError(say("check.not_utf8_short", file=path.name, byte=err.start)) from None
    if empty:
        raise DataError(say("check.no_rows_in", file=path.name))
