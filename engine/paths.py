"""Where things live, and the one check that keeps a user-typed path inside the root it belongs to.

The project ships demo datasets (data/) and their registry (dataset_info.json): read, never written. What a
user makes lives in the workspace: uploaded datasets and their registry, runs, exports. Its default is the
git-ignored folder workspace/ of the project: a newcomer finds their runs next to the program they started,
deleting the project leaves nothing behind, and using the studio never changes a tracked file.
`python launch.py --workspace DIR` or STUDIO_WORKSPACE=DIR (for the CLI) moves it; each root can also be moved
on its own with an environment variable, so tests and users each get their own.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Inside a run folder saves/<model>/<method>/<run>/: the config it was started with, and the trained result
# (adapter or model, with its tokenizer and chat template) once it finished.
CONFIG_FILE = "config.yaml"
FINAL_DIR = "final"
TENSORBOARD_DIR = "tensorboard"  # TensorBoard event files of a run (`tensorboard --logdir saves/`)


DEMO_DATA_DIR = PROJECT_DIR / "data"  # shipped, read-only
DEMO_REGISTRY = PROJECT_DIR / "dataset_info.json"  # shipped, read-only; merged under the user's registry


def workspace_dir() -> Path:
    return Path(os.environ.get("STUDIO_WORKSPACE", PROJECT_DIR / "workspace")).resolve()


def data_dir() -> Path:
    """The user's datasets (uploads, cleaned copies); the user's registry points at them."""
    return Path(os.environ.get("STUDIO_DATA_DIR", workspace_dir() / "data")).resolve()


def registry_path() -> Path:
    """The user's registry (LLaMA-Factory's dataset_info.json schema); its `file_name`s are relative to
    data_dir(). The shipped DEMO_REGISTRY is read alongside it."""
    return Path(os.environ.get("STUDIO_REGISTRY", workspace_dir() / "dataset_info.json")).resolve()


def saves_dir() -> Path:
    """Run directories: saves/<model>/<method>/<run-name>/."""
    return Path(os.environ.get("STUDIO_SAVES_DIR", workspace_dir() / "saves")).resolve()


def exports_dir() -> Path:
    return Path(os.environ.get("STUDIO_EXPORTS_DIR", workspace_dir() / "exports")).resolve()


def scratch_dir() -> Path:
    """The studio's temporary files (configs offered for download, uploads): inside the workspace, and emptied
    whenever the studio starts, so that a crash leaves nothing behind for long."""
    return workspace_dir() / ".scratch"


def cache_dir() -> Path:
    """Built-in models and other things that are rebuilt on demand."""
    default = Path.home() / ".cache" / "finetune-studio"
    return Path(os.environ.get("STUDIO_CACHE_DIR", default)).resolve()


def llama_cpp_dir() -> Path:
    """llama.cpp's converter (convert_hf_to_gguf.py, conversion/, gguf-py/) for GGUF export: a setting of its
    own, since it is installed once (.ci/run extracts it from llama-cpp-python's sdist), never rebuilt."""
    default = Path.home() / ".cache" / "finetune-studio" / "llama.cpp"
    return Path(os.environ.get("STUDIO_LLAMA_CPP", default)).resolve()


# ---------------------------------------------------------------------------------------------------------
# Names a user gives (datasets, runs, stored files): any language's letters and digits, never a path

MAX_NAME_LENGTH = 100
# Device names Windows reserves with any extension: a folder holding one could not be copied there.
RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)), *(f"lpt{n}" for n in range(1, 10))}


def is_plain_name(name: str) -> bool:
    """One safe file or folder name: Unicode letters and digits (星湾岛问答 is one), '_', '-' and '.', starting
    with a letter or digit; so no separator, no `..`, no control character, no reserved device name."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and name[0].isalnum()
        and all(ch.isalnum() or ch in "-_." for ch in name)
        and name.split(".")[0].lower() not in RESERVED_NAMES
    )


def nearest_plain_name(text: str, fallback: str) -> str:
    """`text` (a file's stem, say) made plain: other characters become '_', '._-' trimmed from the ends;
    `fallback` when nothing usable is left. NFC first, so that a macOS name's accents stay letters."""
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:MAX_NAME_LENGTH].strip("._-")
    return name if is_plain_name(name) else fallback


class PathEscapeError(ValueError):
    pass


def inside(root: Path, relative: str, what: str) -> Path:
    """`root / relative`, refusing anything that would leave `root` (`..`, absolute paths, symlinks out)."""
    if not relative or Path(relative).is_absolute():
        raise PathEscapeError(f"{what} must be a path inside {root}; got {relative!r}")
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise PathEscapeError(f"{what} {relative!r} points outside {root}; keep it inside that folder")
    return target
