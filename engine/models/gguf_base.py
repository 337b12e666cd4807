"""A GGUF file as a base model: converted once into a plain Hugging Face folder in the model cache.

transformers reads a GGUF file (`from_pretrained(folder, gguf_file=name)`) by dequantising every tensor, which
takes from seconds to minutes on a CPU, and a model loaded that way refuses `save_pretrained`. So the first use
writes a plain copy (config, float32 safetensors, tokenizer with its chat template) under
cache_dir()/gguf/, and every stage, chat, evaluation, export and the token view then load that folder like any
other. The copy is keyed by the file's identity (resolved path, size, modification time): a file replaced in
place is converted again. Packaged models (engine/models/packaged.py) are GGUF files found by name.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from engine.models.builtin import built_once
from engine.models.packaged import is_packaged, packaged_entry, packaged_gguf
from engine.paths import cache_dir

GGUF_SUFFIX = ".gguf"
RECIPE_VERSION = 1  # bump when the conversion changes: every cached copy is made again


def is_gguf_model(name: str) -> bool:
    """A packaged model, or a path to a .gguf file."""
    return is_packaged(name) or name.lower().endswith(GGUF_SUFFIX)


def gguf_file(name: str) -> Path:
    """The GGUF file that `name` means; FileNotFoundError when there is none."""
    if is_packaged(name):
        return packaged_gguf(name)
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such GGUF file")
    return path.resolve()


def needs_conversion(name: str) -> bool:
    """True when GGUF model `name` has no converted copy in the cache yet (the next use converts it)."""
    if not is_gguf_model(name):
        return False
    try:
        return not (_cached_folder(gguf_file(name), _fallback_template(name)) / "config.json").exists()
    except FileNotFoundError:
        return False  # loading says what is missing


def gguf_model_folder(name: str, announce=print) -> Path:
    """The converted folder of GGUF model `name`, converting it first if needed; `announce` hears a line when
    the conversion starts (it is the longest wait of a first run)."""
    source, template = gguf_file(name), _fallback_template(name)
    folder = _cached_folder(source, template)

    def convert() -> None:
        announce(f"converting {source.name} ({source.stat().st_size / 1024**2:.0f} MB GGUF) into a plain model "
                 f"folder, once: {folder}")
        _convert(source, folder, template)

    return built_once(folder, folder.name, convert)  # the UI's chat and a worker may ask at once


def _fallback_template(name: str) -> str:
    """The studio template a packaged base model without its own gets (auto: none)."""
    return packaged_entry(name).template if is_packaged(name) else "auto"


def _cached_folder(source: Path, template: str) -> Path:
    status = source.stat()
    identity = f"{source}|{status.st_size}|{status.st_mtime_ns}|{RECIPE_VERSION}"
    identity += f"|{template}" if template != "auto" else ""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in source.stem)
    return cache_dir() / "gguf" / f"{stem}-{digest}"


def _convert(source: Path, folder: Path, template: str) -> None:
    started = time.time()
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        _write_plain_copy(source, staging, template)
        (staging / "gguf_source.json").write_text(json.dumps(
            {"gguf": str(source), "bytes": source.stat().st_size, "seconds": round(time.time() - started, 1)},
            indent=2))
        staging.rename(folder)  # atomic: readers never see a half-written model
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_plain_copy(source: Path, staging: Path, template: str) -> None:
    """Dequantise with transformers, then save the same weights from a fresh model of the same config: the
    GGUF-loaded one carries a quantization_config that makes save_pretrained refuse. A base model without a
    chat template gets `template` (a studio template file) so that `auto` works for it too."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.data.templates import load_template

    where = {"pretrained_model_name_or_path": str(source.parent), "gguf_file": source.name}
    tokenizer = AutoTokenizer.from_pretrained(**where)
    studio_template = load_template(template) if not tokenizer.chat_template and template != "auto" else None
    if studio_template:
        tokenizer.chat_template = studio_template.source
    loaded = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
    config = loaded.config
    config.__dict__.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    if studio_template:  # its end of turn ends a reply too (Gemma's <end_of_turn> beside <eos>)
        vocab = tokenizer.get_vocab()
        ends = [tokenizer.eos_token_id, *(vocab[word] for word in studio_template.stop_words if word in vocab)]
        plain.generation_config.eos_token_id = sorted(set(ends))
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
