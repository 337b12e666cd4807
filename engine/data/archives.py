"""Unpacking an uploaded dataset archive (a zip of a JSON/JSONL file and its pictures) without trusting it.

A zip names its own paths and sizes, so each is checked before a byte is written, and again while writing:
at most MAX_ENTRIES entries and MAX_UNPACKED_BYTES in all, no entry that inflates more than MAX_RATIO times
(a zip bomb: kilobytes that become gigabytes), nor the archive as a whole (thousands of small entries that
each compress well), nothing past the disk's free space or the data folder's budget, no absolute path or `..`
that would write outside the target folder, no symlink or device, and no entry whose data runs past the size
its header claims. A problem raises ArchiveError naming the entry. A folder is copied under the same limits.
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from engine.data.registry import DataError
from engine.messages import say
from engine.paths import data_dir

MAX_ENTRIES = 20_000
MAX_UNPACKED_BYTES = 2 * 1024**3
MAX_RATIO = 200  # uncompressed / compressed; pictures barely compress, JSON ~10×
RATIO_FLOOR = 1024**2  # a smaller entry may compress as well as it likes; the archive's total ratio still counts
MAX_DATA_FOLDER_BYTES = 50 * 1024**3  # the workspace's data folder as a whole, after an unpack
DISK_RESERVE = 1024**3  # bytes an unpack must leave free on the disk
SKIPPED = ("__MACOSX/", ".DS_Store")  # what macOS adds to a zip; never data
CHUNK = 1024**2


class ArchiveError(DataError):
    """An archive (or folder) that is refused; the message names the entry and the limit."""


# ---------------------------------------------------------------------------------------------------------
# Zip archives


def unpack_zip(archive: Path, target: Path) -> list[Path]:
    """Unpack `archive` into the existing folder `target`; the files written, in the archive's order."""
    try:
        with zipfile.ZipFile(archive) as opened:
            members = _checked_members(opened)
            _refuse_totals(members, target)
            return [_unpack_member(opened, member, target, budget) for member, budget in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as err:
        raise ArchiveError(say("archive.unreadable", archive=Path(archive).name, error=str(err)[:160])) from None


def _checked_members(opened: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, int]]:
    """[(member, bytes it may write)] for every file entry, after the checks of the whole listing."""
    infos = [info for info in opened.infolist() if not any(part in info.filename for part in SKIPPED)]
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(say("archive.too_many_entries", count=len(infos), limit=MAX_ENTRIES))
    total, seen, members = 0, set(), []
    for info in infos:
        relative = entry_path(info.filename)
        if info.is_dir():
            continue
        _refuse_special(info)
        if relative in seen:
            raise ArchiveError(say("archive.duplicate", entry=info.filename))
        seen.add(relative)
        ratio = info.file_size // max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise ArchiveError(say("archive.ratio", entry=info.filename, ratio=ratio, limit=MAX_RATIO))
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(say("archive.too_big", entry=info.filename, limit=MAX_UNPACKED_BYTES // 1024**2))
        members.append((info, info.file_size))
    return members


def _refuse_totals(members: list[tuple[zipfile.ZipInfo, int]], target: Path) -> None:
    """The archive as a whole: its total inflation, the disk's free space, the data folder's budget."""
    total = sum(size for _, size in members)
    compressed = sum(info.compress_size for info, _ in members)
    if total > RATIO_FLOOR and total // max(compressed, 1) > MAX_RATIO:
        raise ArchiveError(say("archive.total_ratio", entries=len(members), size=total // 1024**2,
                               ratio=total // max(compressed, 1), limit=MAX_RATIO))
    free = shutil.disk_usage(target).free
    if total + DISK_RESERVE > free:
        raise ArchiveError(say("archive.disk_full", size=total // 1024**2, free=free // 1024**2))
    data = data_dir()
    if Path(target).resolve().is_relative_to(data):
        used = sum(path.stat().st_size for path in data.rglob("*") if path.is_file())
        if used + total > MAX_DATA_FOLDER_BYTES:
            raise ArchiveError(say("archive.data_folder_full", used=used // 1024**2, size=total // 1024**2,
                                   limit=MAX_DATA_FOLDER_BYTES // 1024**2))


def entry_path(name: str) -> PurePosixPath:
    """The entry's path relative to the target folder; ArchiveError when it would land outside it."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(say("archive.escapes", entry=name))
    return path


def _refuse_special(info: zipfile.ZipInfo) -> None:
    """Symlinks, devices and pipes (the Unix file type in the high bits of external_attr; none = a plain file)."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind and kind != stat.S_IFREG:
        raise ArchiveError(say("archive.not_a_file", entry=info.filename))


def _unpack_member(opened: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> Path:
    """Write one entry, counting what comes out: a header that understates the size stops at its claim."""
    destination = target.joinpath(*entry_path(info.filename).parts)
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with opened.open(info) as reader, destination.open("xb") as writer:
        while chunk := reader.read(CHUNK):
            written += len(chunk)
            if written > budget:
                raise ArchiveError(say("archive.size_lies", entry=info.filename, size=budget))
            writer.write(chunk)
    return destination


# ---------------------------------------------------------------------------------------------------------
# Folders


def copy_folder(source: Path, target: Path) -> list[Path]:
    """Copy the files of folder `source` into the existing folder `target` under the same limits; symlinks
    are refused (they could point anywhere on this machine)."""
    files, total = [], 0
    for path in sorted(Path(source).rglob("*")):
        name = path.relative_to(source).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ArchiveError(say("archive.not_a_file", entry=name))
        if path.is_dir() or any(part in name for part in SKIPPED):
            continue
        total += path.stat().st_size
        if len(files) >= MAX_ENTRIES:
            raise ArchiveError(say("archive.too_many_entries", count=f"{MAX_ENTRIES}+", limit=MAX_ENTRIES))
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(say("archive.too_big", entry=name, limit=MAX_UNPACKED_BYTES // 1024**2))
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination, follow_symlinks=False)
        files.append(destination)
    return files


def unpack(source: Path, target: Path) -> list[Path]:
    """A zip archive or a folder, into `target`."""
    return copy_folder(source, target) if Path(source).is_dir() else unpack_zip(source, target)
