"""The dataset registry (LLaMA-Factory's dataset_info.json schema): reading it, one entry with its defaults,
adding an entry, and the file an entry names. Reading files is engine/data/reader.py; entries that name a Hub
dataset are loaded by engine/data/hub.py; turning rows into training data is engine/data/conversion.py.

Three registries are merged, each later one winning on a shared name: the shipped demos, the run's
`data.dataset_dir` (a LLaMA-Factory `data/` folder with its own dataset_info.json, file names relative to it),
and the user's workspace registry.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from contextvars import ContextVar
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
    file_name: str  # "" for an entry loaded from a hub (then `source` and `hub` say from where)
    formatting: str = "alpaca"
    ranking: bool = False
    columns: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    folder: Path = DEMO_DATA_DIR  # what file_name (and a script_url folder) is relative to (see registry_folder)
    source: str = "file_name"  # the key the rows come from: file_name or one of HUB_SOURCES
    hub: dict = field(default_factory=dict)  # the entry's HUB_KEYS (hf_hub_url, subset, split, num_samples, ...)

    def column(self, key: str, default: str | None = None) -> str | None:
        return self.columns.get(key, default)

    def tag(self, key: str, default: str) -> str:
        return self.tags.get(key, default)


# ---------------------------------------------------------------------------------------------------------
# Registry


REGISTRY_FILE = "dataset_info.json"  # the registry's name inside a dataset folder, as in LLaMA-Factory

# The run's data.dataset_dir while its datasets are read (a context, not a global: each UI request and each run
# reads with its own; `using_dataset_dir`).
_DATASET_DIR: ContextVar[Path | None] = ContextVar("dataset_dir", default=None)


@contextmanager
def using_dataset_dir(folder: str | Path | None):
    """Read registries with `folder`'s dataset_info.json between the demos and the user's (a run's
    data.dataset_dir; "" or None = none) inside this block."""
    token = _DATASET_DIR.set(dataset_folder(folder) if folder else None)
    try:
        yield
    finally:
        _DATASET_DIR.reset(token)


def dataset_folder(folder: str | Path) -> Path:
    """`folder` as a dataset folder: it must exist and hold a dataset_info.json."""
    path = Path(folder).expanduser().resolve()
    if not (path / REGISTRY_FILE).is_file():
        raise DataError(say("data.dataset_dir_missing", folder=str(folder), file=REGISTRY_FILE))
    return path


def _registries() -> list[tuple[Path, Path]]:
    """(registry file, the folder its file names are relative to), later ones winning on a shared name."""
    extra = _DATASET_DIR.get()
    return [(DEMO_REGISTRY, DEMO_DATA_DIR), *([(extra / REGISTRY_FILE, extra)] if extra else []),
            (registry_path(), data_dir())]


def read_registry() -> dict[str, dict]:
    """Every registered dataset: the shipped demos, the run's dataset_dir, then the user's own."""
    merged: dict[str, dict] = {}
    for registry, _ in _registries():
        merged.update(_read_registry_file(registry))
    return merged


def dataset_names(dataset_dir: str | None = "") -> list[str]:
    """The names pickers offer, with `dataset_dir`'s entries (without them when that folder has no registry:
    the check at Start says so). A registry file that cannot be read adds none (registry_problems says why),
    so one hand-edited file never keeps the studio from starting."""
    try:
        with using_dataset_dir(dataset_dir):
            return _readable_names()
    except DataError:
        return _readable_names()


def _readable_names() -> list[str]:
    names: dict[str, dict] = {}
    for registry, _ in _registries():
        try:
            names |= _read_registry_file(registry)
        except (DataError, OSError):
            continue
    return list(names)


def registry_folder(name: str) -> Path:
    """The folder `name`'s file_name is relative to: data_dir() for the user's datasets, the dataset_dir for
    one of its entries, the shipped data/ for a demo one."""
    return next((folder for registry, folder in reversed(_registries()) if name in _read_registry_file(registry)),
                DEMO_DATA_DIR)


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


def registry_problems() -> list[str]:
    """Why a registry file cannot be read, one message per broken file."""
    problems = []
    for registry, _ in _registries():
        try:
            _read_registry_file(registry)
        except DataError as err:
            problems.append(err.args[0])
        except OSError as err:
            problems.append(say("registry.unreadable", path=str(registry), error=err.strerror or str(err)))
    return problems


# Where an entry's rows come from besides file_name, in LLaMA-Factory's order of precedence (a hub url wins
# over script_url, which wins over cloud_file_name, which wins over file_name), and the keys that shape a load.
HUB_SOURCES = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")
HUB_KEYS = (*HUB_SOURCES, "subset", "split", "folder", "num_samples")

# The types of the entry keys this studio reads; a registry edited by hand may hold anything.
ENTRY_TYPES = {"file_name": str, "formatting": str, "ranking": (bool, int), "columns": dict, "tags": dict,
               **{key: str for key in (*HUB_SOURCES, "subset", "split", "folder")}, "num_samples": int}
TYPE_WORDS = {"file_name": "a string", "formatting": "a string", "ranking": "true or false", "columns": "an object",
              "tags": "an object", **{key: "a string" for key in (*HUB_SOURCES, "subset", "split", "folder")},
              "num_samples": "a whole number"}


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
    source = entry_source(raw)
    if source is None:
        raise DataError(say("data.no_source", dataset=name, sources=", ".join(("file_name", *HUB_SOURCES))))
    return DatasetEntry(
        name=name,
        file_name=raw.get("file_name", "") if source == "file_name" else "",
        formatting=raw.get("formatting", "alpaca"),
        ranking=bool(raw.get("ranking", False)),
        columns=raw.get("columns", {}),
        tags=raw.get("tags", {}),
        folder=registry_folder(name),
        source=source,
        hub={key: raw[key] for key in HUB_KEYS if key in raw},
    )


def entry_source(raw: dict) -> str | None:
    """The key an entry's rows come from (LLaMA-Factory's precedence, see HUB_SOURCES), None when it has none."""
    return next((key for key in (*HUB_SOURCES, "file_name") if raw.get(key)), None)


def is_hub_entry(entry: DatasetEntry) -> bool:
    return entry.source != "file_name"


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


def remove_stale_temporaries() -> None:
    """The temporary registries a writer killed mid-write left (add_registry_entry's `<registry>*.tmp`); under
    the writers' lock, so that a write in progress keeps its own."""
    import fcntl

    path = registry_path()
    if not path.parent.is_dir():
        return
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in path.parent.glob(path.name + "*.tmp"):
            stale.unlink(missing_ok=True)


def dataset_file(entry: DatasetEntry) -> Path:
    if is_hub_entry(entry):  # callers that need a file ask engine/data/hub.py for rows instead
        raise DataError(say("data.not_a_file", dataset=entry.name, source=entry.source))
    path = inside(entry.folder, entry.file_name, f"dataset {entry.name!r} file_name")
    if not path.exists():
        raise DataError(f"dataset {entry.name!r}: file {entry.file_name} was not found in {entry.folder}")
    return path
