"""What a user writes about a run: a free-text note, tags, and whether it is archived (hidden from the
default run list, its files kept). One small JSON file in the run folder (files.py NOTES_FILE), written whole
and renamed into place, so a reader never sees half of it; the worker never touches it.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from engine.messages import Message, say
from engine.runs.files import NOTES_FILE

MAX_NOTE_LENGTH = 2000
MAX_TAG_LENGTH = 40
MAX_TAGS = 20
# Tags are typed as one line: commas (ASCII or Chinese) or semicolons separate them.
TAG_SEPARATORS = re.compile(r"[,，;；]")


class NotesRefused(ValueError):
    """A note or tag that cannot be kept; `message` says why in the user's terms."""

    def __init__(self, message: Message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RunNotes:
    text: str = ""
    tags: tuple[str, ...] = ()
    archived: bool = False


def read_notes(run_dir: Path) -> RunNotes:
    """The run's notes; empty ones when it has none or the file is unreadable (a run list never fails on it)."""
    try:
        raw = json.loads((Path(run_dir) / NOTES_FILE).read_text(encoding="utf-8"))
        return RunNotes(text=str(raw.get("text", "")), tags=tuple(str(tag) for tag in raw.get("tags", [])),
                        archived=bool(raw.get("archived", False)))
    except (OSError, ValueError, TypeError, AttributeError):
        return RunNotes()


def update_notes(run_dir: Path, **changes) -> RunNotes:
    """Change some of text / tags / archived (tags as a list or as one typed line) and save; returns the new
    notes. NotesRefused for a note or a tag that is too long, or too many tags."""
    if "tags" in changes:
        changes["tags"] = parse_tags(changes["tags"])
    notes = replace(read_notes(run_dir), **changes)
    if len(notes.text) > MAX_NOTE_LENGTH:
        raise NotesRefused(say("runs.note_too_long", length=len(notes.text), limit=MAX_NOTE_LENGTH))
    _write(Path(run_dir), notes)
    return notes


def parse_tags(tags: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Tags from a typed line ("lr-sweep, baseline") or a list: trimmed, inner spaces single, empty ones and
    repeats dropped, in the order given."""
    parts = TAG_SEPARATORS.split(tags) if isinstance(tags, str) else list(tags)
    cleaned = tuple(dict.fromkeys(" ".join(str(tag).split()) for tag in parts if str(tag).strip()))
    too_long = next((tag for tag in cleaned if len(tag) > MAX_TAG_LENGTH), None)
    if too_long:
        raise NotesRefused(say("runs.tag_too_long", tag=too_long, limit=MAX_TAG_LENGTH))
    if len(cleaned) > MAX_TAGS:
        raise NotesRefused(say("runs.too_many_tags", count=len(cleaned), limit=MAX_TAGS))
    return cleaned


def _write(run_dir: Path, notes: RunNotes) -> None:
    target = run_dir / NOTES_FILE
    partial = target.with_name(f".{NOTES_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(notes), ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(partial, target)
