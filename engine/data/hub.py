"""Rows of a registry entry, from its file or from the hub dataset it names (LLaMA-Factory's `hf_hub_url`,
`ms_hub_url`, `om_hub_url`, `script_url` and `cloud_file_name` entries).

A hub entry is loaded with `datasets.load_dataset` (ModelScope's `MsDataset` / Modelers' `OmDataset` when that
package is installed), honouring the entry's `subset` (the dataset's configuration name), `split` (default
train), `folder` (a folder inside the repository) and `num_samples`. `datasets` keeps what it downloaded in its
cache, so a second load (and a load offline, HF_HUB_OFFLINE=1) reads from there. A hub id may also be a
local folder: the same code reads a dataset folder of parquet shards (train-*.parquet, test-*.parquet) on a
machine without network.

What an entry names stays where it belongs: `cloud_file_name` must be an s3:// or gs:// address, a hub id must
be a repository id (owner/name; a bare name such as `text` or `json` would be one of datasets' builders, which
read any local folder), and a local folder standing in for a hub dataset, like `folder` inside it, must lie in
the entry's dataset folder (a registry unpacked from a zip must not read /etc).

`num_samples` is LLaMA-Factory's: that many rows drawn at random without repeats (every row once, then
repeats, when it asks for more than there are), with a fixed seed so a rerun trains on the same rows.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import random
from collections.abc import Iterator
from pathlib import Path, PurePath

from engine.data.reader import folder_files, iter_rows
from engine.data.registry import DataError, DatasetEntry, dataset_file, is_hub_entry
from engine.data.v1 import from_v1
from engine.messages import say

SAMPLE_SEED = 42  # num_samples draws the same rows on every load
# Where each source key loads from, in words for messages.
HUBS = {"hf_hub_url": "the Hugging Face Hub", "ms_hub_url": "ModelScope", "om_hub_url": "Modelers (openMind)",
        "script_url": "a dataset folder", "cloud_file_name": "cloud storage"}
PACKAGES = {"ms_hub_url": "modelscope", "om_hub_url": "openmind"}
REMOTE_SCHEMES = ("s3://", "gs://")  # where LLaMA-Factory reads a cloud_file_name from


def entry_rows(entry: DatasetEntry) -> list[dict]:
    """Every row of `entry`, v1 rows in this studio's shapes (engine/data/v1.py)."""
    return list(iter_entry_rows(entry))


def iter_entry_rows(entry: DatasetEntry) -> Iterator[dict]:
    """entry_rows one at a time, for views and tallies that need not hold them all: a file is read row by row,
    a hub dataset (Arrow, on disk) indexed row by row."""
    if not is_hub_entry(entry):
        return iter_rows(dataset_file(entry))
    dataset, count = load_hub_dataset(entry), entry.hub.get("num_samples")
    rows = (dataset[index] for index in _sampled(len(dataset), count)) if count else dataset
    return (from_v1(dict(row)) for row in rows)


def entry_fingerprint(entry: DatasetEntry) -> str:
    """What identifies the rows of `entry`, for caches: its file's bytes, or the loaded hub dataset's fingerprint
    (datasets' own, from the cached data) and the keys that shape the load."""
    key = hashlib.sha256(repr(sorted(entry.hub.items())).encode())
    if is_hub_entry(entry):
        key.update(str(getattr(load_hub_dataset(entry), "_fingerprint", "")).encode())
        return key.hexdigest()
    source = dataset_file(entry)
    for file in folder_files(source) if source.is_dir() else [source]:
        key.update(file.name.encode())
        with file.open("rb") as stream:  # a block at a time: a dataset file may not fit in memory
            for block in iter(lambda: stream.read(1 << 22), b""):
                key.update(block)
    return key.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_hub_dataset(entry: DatasetEntry):
    """The datasets.Dataset a hub entry names; a DataError that names the dataset and the hub when it cannot be
    loaded (offline, not found, a split it does not have)."""
    source = _source(entry)
    try:
        if source in PACKAGES:
            return _load_with_package(entry, source)
        return _load_with_datasets(entry, source)
    except DataError:
        raise
    except ConnectionError:  # offline (HF_HUB_OFFLINE) or the hub not reachable, and nothing cached
        raise DataError(say("data.hub_unreachable", dataset=entry.name, hub=HUBS[source], key=source,
                            id=entry.hub[source])) from None
    except FileNotFoundError as err:
        raise DataError(say("data.hub_not_found", dataset=entry.name, hub=HUBS[source], key=source,
                            id=entry.hub[source], error=_short(err))) from None
    except Exception as err:  # noqa: BLE001  (datasets raises many kinds; its own words say what is wrong)
        raise DataError(say("data.hub_failed", dataset=entry.name, key=source, id=entry.hub[source],
                            error=_short(err))) from None


def _source(entry: DatasetEntry) -> str:
    """The key to load from: LLaMA-Factory prefers ModelScope / Modelers when USE_MODELSCOPE_HUB /
    USE_OPENMIND_HUB is set and the entry names one, else the entry's first source."""
    for key, variable in (("ms_hub_url", "USE_MODELSCOPE_HUB"), ("om_hub_url", "USE_OPENMIND_HUB")):
        if entry.hub.get(key) and os.environ.get(variable, "0").lower() in ("1", "true", "y"):
            return key
    return entry.source


def _load_with_datasets(entry: DatasetEntry, source: str):
    from datasets import disable_progress_bars, load_dataset

    disable_progress_bars()  # tqdm bars would flood train.log and the CLI; a load is quick or fails in words

    hub, split = entry.hub, entry.hub.get("split", "train")
    if source == "cloud_file_name":  # one JSON / JSON Lines file on s3:// or gs:// (read through fsspec)
        return load_dataset("json", data_files=_remote_file(entry), split="train")
    path = _dataset_location(entry, source)
    return load_dataset(path, name=hub.get("subset"), data_dir=_subfolder(entry), split=split)


def _remote_file(entry: DatasetEntry) -> str:
    location = entry.hub["cloud_file_name"]
    if not location.startswith(REMOTE_SCHEMES):
        raise DataError(say("data.cloud_not_remote", dataset=entry.name, value=location[:200],
                            schemes=", ".join(REMOTE_SCHEMES)))
    return location


def _dataset_location(entry: DatasetEntry, source: str) -> str:
    """A hub id as it is, or a local folder (script_url; a hub key naming a path) inside the dataset folder."""
    value = entry.hub[source]
    if source != "script_url" and not _names_a_path(entry, value):
        return _hub_id(entry, source, value)
    target = (entry.folder / value).resolve()  # an absolute value stands alone, and is checked the same
    if not target.is_relative_to(entry.folder.resolve()):
        raise DataError(say("data.location_outside", dataset=entry.name, key=source, value=value[:200],
                            folder=str(entry.folder)))
    return str(target)


def _names_a_path(entry: DatasetEntry, value: str) -> bool:
    """A value datasets would read as a local path: absolute, relative, or a name that exists as a file or
    folder here (in the working folder too, where load_dataset would look)."""
    return (PurePath(value).is_absolute() or value.startswith((".", "~")) or (entry.folder / value).exists()
            or Path(value).exists())


def _hub_id(entry: DatasetEntry, source: str, value: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        value = None
    if not value or value.count("/") != 1:
        raise DataError(say("data.hub_bad_id", dataset=entry.name, key=source, value=entry.hub[source][:200]))
    return value


def _subfolder(entry: DatasetEntry) -> str | None:
    """`folder`: a relative path inside the repository or dataset folder, never out of it."""
    folder = entry.hub.get("folder")
    if folder and (PurePath(folder).is_absolute() or ".." in PurePath(folder).parts or folder.startswith("~")):
        raise DataError(say("data.subfolder_outside", dataset=entry.name, value=folder[:200]))
    return folder


def _load_with_package(entry: DatasetEntry, source: str):
    package = PACKAGES[source]
    if importlib.util.find_spec(package) is None:
        raise DataError(say("data.hub_package", dataset=entry.name, key=source, package=package))
    hub, split = entry.hub, entry.hub.get("split", "train")
    if source == "ms_hub_url":
        from modelscope import MsDataset

        dataset = MsDataset.load(dataset_name=_hub_id(entry, source, hub[source]), subset_name=hub.get("subset"),
                                 data_dir=_subfolder(entry), split=split)
        return dataset.to_hf_dataset() if isinstance(dataset, MsDataset) else dataset
    from openmind import OmDataset

    return OmDataset.load_dataset(path=_hub_id(entry, source, hub[source]), name=hub.get("subset"),
                                  data_dir=_subfolder(entry), split=split)


def _sampled(rows: int, count: int) -> list[int]:
    """Indexes of `count` of `rows` rows drawn at random: each row once before any repeats (LLaMA-Factory's
    num_samples)."""
    if not rows:
        return []
    generator = random.Random(SAMPLE_SEED)
    order = generator.sample(range(rows), min(count, rows))
    return order + [generator.randrange(rows) for _ in range(count - len(order))]


def _short(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 300 else text[:300] + "…"
