"""Bringing a user's file into the studio: check it, copy it into the data folder, register it.

Nothing is half-done: a file with any problem raises DataError (its message is the check report) before
anything is copied; the copy never replaces an existing file (a free name is picked); a registry write that
fails removes the copy again.

A dataset with pictures comes as a zip (or a folder) holding one JSON/JSONL file and its images, with image
paths relative to that file. It is unpacked under limits (engine/data/archives.py) into a new folder of the
data folder, checked there, its image paths rewritten relative to the data folder (LLaMA-Factory's rule, so the
registry entry works there too) and registered; any problem removes the folder again.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.data.registry import DataError, add_registry_entry, read_registry
from engine.data.formats import Detection
from engine.messages import say
from engine.paths import data_dir, is_plain_name, nearest_plain_name
from engine.data.archives import ArchiveError, unpack
from engine.data.checker import Report, check_file, first_rows
from engine.data.images import (ImageError, file_problem, flatten_parts, image_column, rebase_images, resolve_image,
                                 row_image_names, thumbnail)

MAX_UPLOAD_BYTES = 512 * 1024**2  # checked before a byte is read
PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 2000  # a preview cell shows this much; the page never receives a whole huge value
PREVIEW_THUMBNAILS = 8
ARCHIVE_SUFFIXES = (".zip",)
ARCHIVE_DATA_SUFFIXES = (".json", ".jsonl")


@dataclass
class ImportResult:
    name: str
    file_name: str  # relative to data_dir(), as written to the registry
    rows: int
    detection: Detection
    preview: "pandas.DataFrame"  # noqa: F821  (first PREVIEW_ROWS rows, nested values shown as JSON)


@dataclass
class Preview:
    detection: Detection | None
    rows: "pandas.DataFrame"  # noqa: F821  (the first PREVIEW_ROWS rows)
    report: Report
    thumbnails: list = field(default_factory=list)  # [(PIL image, "row N: file name")] of the first rows' images


# ---------------------------------------------------------------------------------------------------------
# Looking before importing


def preview_file(path: Path, formatting: str = "auto") -> Preview:
    """What a file (or a zip / folder of a dataset and its images) the user is about to import holds."""
    path = Path(path)
    if is_archive(path):
        return _preview_archive(path, formatting)
    report = _check_upload(path, formatting, None)
    return Preview(report.detection, _preview(path, report), report, _thumbnails(path, report))


def is_archive(path: Path) -> bool:
    return Path(path).is_dir() or Path(path).suffix.lower() in ARCHIVE_SUFFIXES


def _preview_archive(path: Path, formatting: str) -> Preview:
    """Unpacked into a scratch folder that is gone afterwards; thumbnails are copies in memory."""
    with tempfile.TemporaryDirectory(prefix="upload-") as scratch:
        try:
            _refuse_big(path)
            unpack(path, Path(scratch))
            dataset = dataset_in(Path(scratch))
        except ArchiveError as err:
            report = Report(path)
            report.add(None, None, err.args[0])
            return Preview(None, _preview(path, report), report)
        report = check_file(dataset, formatting, media_folder=dataset.parent)
        return Preview(report.detection, _preview(dataset, report), report, _thumbnails(dataset, report))


def dataset_in(folder: Path) -> Path:
    """The one JSON/JSONL dataset file of an unpacked upload (a LLaMA-Factory dataset_info.json is not one)."""
    found = sorted(path for path in folder.rglob("*") if path.suffix.lower() in ARCHIVE_DATA_SUFFIXES
                   and path.name != "dataset_info.json" and path.is_file())
    if len(found) != 1:
        names = ", ".join(path.relative_to(folder).as_posix() for path in found[:5])
        raise ArchiveError(say("archive.no_dataset" if not found else "archive.several_datasets", names=names))
    return found[0]


def _thumbnails(path: Path, report: Report) -> list:
    """Small copies of the first rows' pictures, captioned with the row and file; unusable ones are left out
    (the report says why)."""
    detection = report.detection
    if detection is None or image_column(detection.columns) is None:
        return []
    column, turns = detection.columns["images"], detection.columns.get("messages", "messages")
    content_tag = detection.tags.get("content_tag", "content")
    shown = []
    for number, row in enumerate(first_rows(path, PREVIEW_ROWS), 1):
        for name in row_image_names(flatten_parts(row, turns, content_tag, column), column):
            try:
                file = resolve_image(name, detection.media_folder)
            except ImageError:
                continue
            if file_problem(file) is None:
                shown.append((thumbnail(file), f"row {number}: {name}"))
    return shown[:PREVIEW_THUMBNAILS]


def _check_upload(path: Path, formatting: str, columns: dict | None) -> Report:
    try:
        _refuse_big(path)
    except DataError as err:
        report = Report(path)
        report.add(None, None, err.args[0])
        return report
    return check_file(path, formatting, columns=columns)


def _refuse_big(path: Path) -> None:
    """Checked before a byte is read."""
    if path.is_file() and path.stat().st_size > MAX_UPLOAD_BYTES:
        raise ArchiveError(say("check.upload_too_big", size=f"{path.stat().st_size / 1024**2:.0f}",
                               limit=MAX_UPLOAD_BYTES // 1024**2))


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
    if is_archive(source):
        return import_archive(source, name, formatting, columns)
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


def import_archive(source: Path, name: str, formatting: str = "auto", columns: dict | None = None) -> ImportResult:
    """Unpack a zip or folder of a dataset and its images into a new folder of data_dir(), check, register."""
    _refuse_big(source)
    folder = _new_folder(source.stem)
    try:
        unpack(source, folder)
        dataset = dataset_in(folder)
        report = check_file(dataset, formatting, columns=columns, media_folder=dataset.parent)
        if not report.ok:
            raise DataError(say("check.not_imported", file=source.name, report=report.render()))
        _rebase_file(dataset, report.detection, dataset.parent.relative_to(data_dir()).as_posix())
        file_name = dataset.relative_to(data_dir()).as_posix()
        report.detection.media_folder = None  # the rows now name their pictures from the data folder
        add_registry_entry(name, report.detection.registry_entry(file_name))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # ours alone: created exclusively below
        raise
    return ImportResult(name, file_name, report.rows, report.detection, _preview(dataset, report))


def _new_folder(stem: str) -> Path:
    """A folder of data_dir() created now (mkdir refuses one that exists, so two uploads never share it)."""
    while True:
        folder = free_file_name(stem, "")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def _rebase_file(dataset: Path, detection: Detection, folder: str) -> None:
    """Rewrite the dataset's image paths to start at the data folder (JSON stays JSON, JSONL stays JSONL)."""
    if image_column(detection.columns) is None:
        return
    from engine.data.reader import read_rows

    turns, content_tag = detection.columns.get("messages", "messages"), detection.tags.get("content_tag", "content")
    rows = [rebase_images(row, turns, content_tag, detection.columns["images"], folder) for row in read_rows(dataset)]
    if dataset.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        text = json.dumps(rows, ensure_ascii=False, indent=1)
    dataset.write_text(text, encoding="utf-8")


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
