"""Bringing a user's file into the studio: check it, copy it into the data folder, register it.

Nothing is half-done: a file with any problem raises DataError (its message is the check report) before
anything is copied; the copy never replaces an existing file (a free name is picked); a registry write that
fails removes the copy again.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.data.registry import DataError, add_registry_entry, read_registry
from engine.data.formats import Detection
from engine.messages import say
from engine.paths import data_dir, is_plain_name, nearest_plain_name
from engine.data.checker import Report, check_file, first_rows

MAX_UPLOAD_BYTES = 512 * 1024**2  # checked before a byte is read
PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 2000  # a preview cell shows this much; the page never receives a whole huge value


@dataclass
class ImportResult:
    name: str
    file_name: str  # relative to data_dir(), as written to the registry
    rows: int
    detection: Detection
    preview: "pandas.DataFrame"  # noqa: F821  (first PREVIEW_ROWS rows, nested values shown as JSON)


# ---------------------------------------------------------------------------------------------------------
# Looking before importing


def preview_file(path: Path, formatting: str = "auto"):
    """(Detection or None, DataFrame of the first rows, Report) for a file the user is about to import."""
    path = Path(path)
    report = _check_upload(path, formatting, None)
    return report.detection, _preview(path, report), report


def _check_upload(path: Path, formatting: str, columns: dict | None) -> Report:
    if path.is_file() and path.stat().st_size > MAX_UPLOAD_BYTES:
        report = Report(path)
        report.add(None, None, say("check.upload_too_big", size=f"{path.stat().st_size / 1024**2:.0f}",
                                   limit=MAX_UPLOAD_BYTES // 1024**2))
        return report
    return check_file(path, formatting, columns=columns)


def _preview(path: Path, report: Report):
    """The first rows as a table; empty when the file could not be read at all."""
    import pandas as pd

    rows = first_rows(path, PREVIEW_ROWS) if report.rows else []
    return pd.DataFrame([{key: _cell(value) for key, value in row.items()} for row in rows])


def _cell(value):
    # Tables show scalars; conversations and history are lists, shown as compact JSON.
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
    if isinstance(shown, str) and len(shown) > PREVIEW_CELL_CHARS:
        return say("data.preview_cut", text=shown[:PREVIEW_CELL_CHARS], more=len(shown) - PREVIEW_CELL_CHARS)
    return shown


# ---------------------------------------------------------------------------------------------------------
# Importing


def import_dataset(source: Path, name: str, formatting: str = "auto", columns: dict | None = None) -> ImportResult:
    """Check `source`, copy it into data_dir() under a free file name and register it as `name`."""
    source = Path(source)
    check_dataset_name(name)
    report = _check_upload(source, formatting, columns)
    if not report.ok:
        raise DataError(say("check.not_imported", file=source.name, report=report.render()))
    target = _copy_to_free_name(source)
    try:
        add_registry_entry(name, report.detection.registry_entry(target.name))
    except BaseException:
        target.unlink(missing_ok=True)  # the copy is ours alone: it was created exclusively above
        raise
    return ImportResult(name, target.name, report.rows, report.detection, _preview(target, report))


def check_dataset_name(name: str) -> None:
    """Refuse a name that is not plain or is already registered, saying which and what to do."""
    if not is_plain_name(name):
        raise DataError(say("names.dataset_name_unusable", name=name))
    if name in read_registry():
        raise DataError(say("names.dataset_name_taken", name=name))


def free_file_name(stem: str, suffix: str) -> Path:
    """A path in data_dir() that does not exist yet: stem.suffix, else stem-2.suffix, stem-3.suffix, ..."""
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = nearest_plain_name(stem, "dataset")
    candidates = (folder / f"{stem}{suffix}" if n == 1 else folder / f"{stem}-{n}{suffix}" for n in range(1, 10_000))
    return next(path for path in candidates if not path.exists())


def _copy_to_free_name(source: Path) -> Path:
    """Copy into data_dir(); mode "xb" creates the file exclusively, so a file that appeared meanwhile is kept."""
    while True:
        target = free_file_name(source.stem, source.suffix.lower())
        try:
            with source.open("rb") as reader, target.open("xb") as writer:
                _copy_or_remove(reader, writer, target)
            return target
        except FileExistsError:
            continue  # another upload took this name between the look and the create; try the next one


def _copy_or_remove(reader, writer, target: Path) -> None:
    try:
        shutil.copyfileobj(reader, writer, 1024**2)
    except BaseException:  # a disk-full half copy must not stay behind
        target.unlink(missing_ok=True)
        raise
