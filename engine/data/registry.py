"""The dataset registry (LLaMA-Factory's dataset_info.json schema): reading it, one entry with its defaults,
adding an entry, and the file an entry names. Reading files is engine/data/reader.py; turning rows into
training data is engine/data/conversion.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.messages import Message, say
from engine.paths import DEMO_DATA_DIR, DEMO_REGISTRY, data_dir, inside, registry_path


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
    folder: Path = DEMO_DATA_DIR  # what file_name is relative to (see registry_folder)

    def column(self, key: str, default: str | None = None) -> str | None:
        return self.columns.get(key, default)

    def tag(self, key: str, default: str) -> str:
        return self.tags.get(key, default)


# ---------------------------------------------------------------------------------------------------------
# Registry


def read_registry() -> dict[str, dict]:
    """Every registered dataset: the shipped demos, then the user's own (which win on a shared name)."""
    return {**_read_registry_file(DEMO_REGISTRY), **_read_registry_file(registry_path())}


def registry_folder(name: str) -> Path:
    """The folder `name`'s file_name is relative to: data_dir() for the user's datasets, the shipped data/
    for a demo one."""
    return data_dir() if name in _read_registry_file(registry_path()) else DEMO_DATA_DIR


def _read_registry_file(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(say("registry.not_utf8", path=str(path))) from None
    except json.JSONDecodeError as err:
        raise DataError(say("registry.not_json", path=str(path), line=err.lineno, column=err.colno,
                            error=err.msg)) from None
    except RecursionError:
        raise DataError(say("registry.too_deep", path=str(path))) from None
    if not isinstance(registry, dict):
        raise DataError(say("registry.not_object", path=str(path), kind=type(registry).__name__))
    return registry


def dataset_names() -> list[str]:
    """The names pickers offer: those of every registry file that can be read (registry_problems says why a
    file adds none), so one hand-edited file never keeps the studio from starting."""
    names: dict[str, dict] = {}
    for path in (DEMO_REGISTRY, registry_path()):
        try:
            names |= _read_registry_file(path)
        except (DataError, OSError):
            continue
    return list(names)


def registry_problems() -> list[str]:
    """Why a registry file cannot be read, one message per broken file."""
    problems = []
    for path in (DEMO_REGISTRY, registry_path()):
        try:
            _read_registry_file(path)
        except DataError as err:
            problems.append(err.args[0])
        except OSError as err:
            problems.append(say("registry.unreadable", path=str(path), error=err.strerror or str(err)))
    return problems


# The types of the entry keys this studio reads; a registry edited by hand may hold anything.
ENTRY_TYPES = {"file_name": str, "formatting": str, "ranking": (bool, int), "columns": dict, "tags": dict}
TYPE_WORDS = {"file_name": "a string", "formatting": "a string", "ranking": "true or false", "columns": "an object",
              "tags": "an object"}


def entry_type_problem(raw) -> str | None:
    """Why a registry entry cannot be read (a key of the wrong type), or None."""
    if not isinstance(raw, dict):
        return f"the entry must be an object; it is {type(raw).__name__}"
    for key, kind in ENTRY_TYPES.items():
        if key in raw and not isinstance(raw[key], kind):
            return f"{key!r} must be {TYPE_WORDS[key]}; it is {type(raw[key]).__name__}"
    for key in ("columns", "tags"):
        if any(not isinstance(value, str) for value in raw.get(key, {}).values()):
            return f"every value of {key!r} must be a column name (a string)"
    return None


# Media columns a LLaMA-Factory entry may declare that nothing here trains on yet (images: the mllm format).
UNSUPPORTED_MEDIA = ("videos", "audios")


def unsupported_media(name: str, raw: dict) -> Message | None:
    """Why entry `name` cannot be trained here: it declares video or audio columns, which would be dropped."""
    declared = [column for column in UNSUPPORTED_MEDIA if (raw.get("columns") or {}).get(column)]
    if not declared:
        return None
    return say("data.media_unsupported", dataset=name, columns=", ".join(declared))


def get_entry(name: str) -> DatasetEntry:
    registry = read_registry()
    if name not in registry:
        registered = ", ".join(registry) or "none"
        raise DataError(f"dataset {name!r} is not in {registry_path().name}; registered: {registered}")
    raw = registry[name]
    problem = entry_type_problem(raw)
    if problem:
        raise DataError(f"dataset {name!r} in {registry_path().name}: {problem}")
    if media := unsupported_media(name, raw):
        raise DataError(media)
    if "file_name" not in raw:
        network = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")
        source = next((key for key in network if key in raw), None)
        hint = f"it uses {source}, which needs network access" if source else "it has no file_name"
        raise DataError(f"dataset {name!r} cannot be loaded here: {hint}")
    return DatasetEntry(
        name=name,
        file_name=raw["file_name"],
        formatting=raw.get("formatting", "alpaca"),
        ranking=bool(raw.get("ranking", False)),
        columns=raw.get("columns", {}),
        tags=raw.get("tags", {}),
        folder=registry_folder(name),
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
        if name in read_registry():
            raise DataError(say("names.dataset_name_taken", name=name))
        registry = _read_registry_file(path)  # the user's alone: the shipped registry is never written
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
    path = inside(entry.folder, entry.file_name, f"dataset {entry.name!r} file_name")
    if not path.exists():
        raise DataError(f"dataset {entry.name!r}: file {entry.file_name} was not found in {entry.folder}")
    return path
