"""Export: a run's result as a folder under exports/.

What can be exported is a table, `TARGETS`: the merged model (adapter merged into its base, sharded
safetensors), optionally with GGUF files and an Ollama Modelfile next to it; or the LoRA adapter alone. Every
export carries a model card (README.md).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.config.schema import RunConfig
from engine.export.gguf import (GGUF_TYPES, GGUFError, gguf_refusal, model_architecture, ollama_modelfile,
                                vocabulary_refusal, write_gguf_files)
from engine.export.model_card import write_model_card
from engine.messages import Message, say
from engine.models.loading import (is_vision_model, load_text_processing, load_tokenizer, merged_model,
                                   refuse_non_finite_weights, resolve_model)
from engine.paths import CONFIG_FILE, FINAL_DIR, exports_dir, inside
from engine.data.templates import load_template

# Files of a saved adapter that an adapter-only export carries (the tokenizer travels with it).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


@dataclass
class ExportResult:
    folder: Path
    files: list[tuple[str, int]]  # (name, bytes)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


# ---------------------------------------------------------------------------------------------------------
# Targets


def _copy_adapter(run_dir: Path, config: RunConfig, staging: Path, max_shard_size: str) -> None:
    final = run_dir / FINAL_DIR
    for file_name in ADAPTER_FILES:
        if (final / file_name).exists():
            shutil.copy2(final / file_name, staging / file_name)
    load_text_processing(config.model, location=str(final)).save_pretrained(str(staging))


def _save_merged(run_dir: Path, config: RunConfig, staging: Path, max_shard_size: str) -> None:
    merged_model(run_dir).save_pretrained(str(staging), max_shard_size=max_shard_size)
    # A vision model's processor (tokenizer, image processor, chat template) makes the folder load like a Hub VLM.
    load_text_processing(config.model, location=str(run_dir / FINAL_DIR)).save_pretrained(str(staging))


def _any_run(run_dir: Path) -> str | None:
    return None


def _adapter_run(run_dir: Path) -> str | None:
    if (run_dir / FINAL_DIR / "adapter_config.json").exists():
        return None
    return say("export.no_adapter", run=run_dir.name)


@dataclass(frozen=True)
class ExportTarget:
    card: str  # what the model card calls this export
    write: Callable[[Path, RunConfig, Path, str], None]  # (run_dir, config, staging folder, max shard size)
    refuses: Callable[[Path], Message | None]  # why a run cannot be exported so; None when it can
    gguf: bool  # GGUF files (made from a merged model folder) can be added


TARGETS: dict[str, ExportTarget] = {
    "merged": ExportTarget("merged model", _save_merged, _any_run, gguf=True),
    "adapter": ExportTarget("LoRA adapter", _copy_adapter, _adapter_run, gguf=False),
}


# ---------------------------------------------------------------------------------------------------------


def export_run(
    run_dir: Path,
    name: str = "",
    max_shard_size: str = "2GB",
    adapter_only: bool = False,
    gguf_types: tuple[str, ...] | list[str] = (),
) -> ExportResult:
    """Write the run's result to exports/<name>/ and return what was written.

    Default: the merged model (sharded safetensors, at most `max_shard_size` each), tokenizer with chat
    template, generation config; `gguf_types` (GGUF_TYPES keys: "f16", "q4_k_m", ...) add <name>-<type>.gguf
    files (llama.cpp's converter and quantizer) and an Ollama Modelfile; if that fails after the merge, the error
    says so and the merged model stays in its folder.
    `adapter_only`: the LoRA adapter and tokenizer, no merge. Always a model card (README.md).
    The folder is written under a temporary name and renamed at the end, so a failed export leaves nothing
    half-written, and an existing export is never overwritten.
    """
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir / CONFIG_FILE)
    refuse_non_finite_weights(run_dir / FINAL_DIR)
    kind = "adapter" if adapter_only else "merged"
    target_spec = TARGETS[kind]
    gguf_types = _check_kinds(run_dir, config, target_spec, list(gguf_types))
    name = name or config.export.export_dir or f"{run_dir.name}-{kind}"
    target = inside(exports_dir(), name, "export folder")
    if target.exists():
        raise FileExistsError(say("export.folder_exists", name=name, folder=str(exports_dir())))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        target_spec.write(run_dir, config, staging, max_shard_size)
        write_model_card(staging, run_dir, target_spec.card)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # The merged model stands on its own: a GGUF step that fails afterwards says so and leaves it in place.
    if gguf_types:
        _save_gguf(config, target, gguf_types)
        write_model_card(target, run_dir, target_spec.card)  # now naming the GGUF files and the Modelfile
    files = sorted((p.name, p.stat().st_size) for p in target.iterdir() if p.is_file())
    return ExportResult(target, files)


def _check_kinds(run_dir: Path, config: RunConfig, target: ExportTarget, gguf_types: list[str]) -> list[str]:
    unknown = [kind for kind in gguf_types if kind not in GGUF_TYPES]
    if unknown:
        raise ValueError(say("export.unknown_gguf", kinds=unknown, choices=list(GGUF_TYPES)))
    if gguf_types and config.method.stage == "rm":
        raise ValueError(say("export.gguf_reward_model"))
    if gguf_types and is_vision_model(resolve_model(config.model.name_or_path)):
        raise ValueError(say("export.gguf_vision"))
    if gguf_types and not target.gguf:
        raise ValueError(say("export.gguf_needs_merged"))
    refusal = target.refuses(run_dir)
    if not refusal and gguf_types:  # asked of llama.cpp's converter before anything is merged
        refusal = gguf_refusal(_architecture(run_dir, config), gguf_types) or vocabulary_refusal(
            _config_location(run_dir, config), run_dir / FINAL_DIR)
    if refusal:
        raise ValueError(refusal)
    return gguf_types


def _config_location(run_dir: Path, config: RunConfig) -> str:
    # A full fine-tune saved the whole model; a LoRA run's config is its base model's.
    final = run_dir / FINAL_DIR
    return str(final) if (final / "config.json").exists() else resolve_model(config.model.name_or_path)


def _architecture(run_dir: Path, config: RunConfig) -> str:
    return model_architecture(_config_location(run_dir, config))


def _save_gguf(config: RunConfig, folder: Path, gguf_types: list[str]) -> None:
    try:
        paths = write_gguf_files(folder, folder, folder.name, gguf_types)
    except GGUFError as err:
        raise GGUFError(say("export.gguf_failed", error=err.args[0], folder=str(folder))) from err
    # Ollama gets the smallest file; the others are there for llama.cpp users who want more precision.
    chosen = min(paths, key=lambda path: path.stat().st_size).name
    tokenizer = load_tokenizer(config.model, location=str(folder))
    template = load_template(config.model.template, tokenizer)
    stops = [*template.stop_words, *([tokenizer.eos_token] if tokenizer.eos_token else [])]
    modelfile = ollama_modelfile(chosen, template.source, list(dict.fromkeys(stops)))
    (folder / "Modelfile").write_text(modelfile, encoding="utf-8")
