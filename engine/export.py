"""Export: a run's result as a standalone model folder (adapter merged into its base)."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig
from .models import load_model, load_tokenizer
from .paths import exports_dir, inside
from .runs import CONFIG_FILE
from .training import FINAL_DIR


@dataclass
class ExportResult:
    folder: Path
    files: list[tuple[str, int]]  # (name, bytes)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def merged_model(run_dir: Path):
    """The run's trained model as one plain transformers model: LoRA merged into the base weights."""
    config = RunConfig.load(Path(run_dir) / CONFIG_FILE)
    final = Path(run_dir) / FINAL_DIR
    if not final.exists():
        raise FileNotFoundError(f"run {Path(run_dir).name} has no trained result to export ({FINAL_DIR}/ is missing)")
    if (final / "adapter_config.json").exists():
        from peft import PeftModel

        return PeftModel.from_pretrained(load_model(config.model), str(final)).merge_and_unload()
    return load_model(config.model, location=str(final))


def export_run(run_dir: Path, name: str = "", max_shard_size: str = "2GB") -> ExportResult:
    """Write model (sharded safetensors), tokenizer with chat template and generation config to exports/<name>/.

    The folder is written under a temporary name and renamed at the end, so a failed export leaves nothing
    half-written, and an existing export is never overwritten.
    """
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir / CONFIG_FILE)
    name = name or config.export.export_dir or f"{run_dir.name}-merged"
    target = inside(exports_dir(), name, "export folder")
    if target.exists():
        raise FileExistsError(f"export folder {name!r} already exists in {exports_dir()}; choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model = merged_model(run_dir)
        model.save_pretrained(str(staging), max_shard_size=max_shard_size)
        tokenizer = load_tokenizer(config.model, location=str(run_dir / FINAL_DIR))
        tokenizer.save_pretrained(str(staging))
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sorted((p.name, p.stat().st_size) for p in target.iterdir() if p.is_file())
    return ExportResult(target, files)
