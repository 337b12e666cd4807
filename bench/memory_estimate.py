"""Predicted vs measured peak training memory, for the estimator in engine/train/memory.py.

Each case trains the engine's own SFT trainer for two steps (the second one with optimizer states allocated)
on a model of a published shape (Qwen2.5-0.5B / 1.5B) built from its config with random weights, on rows
long enough that every batch is exactly batch × cutoff_len tokens. Every case runs in a fresh process:
  GPU  the peak is torch.cuda.max_memory_allocated()
  CPU  the peak of live tensor bytes, counted by a dispatch mode that sees every tensor the step creates
       and frees (what max_memory_allocated counts on a GPU: tensors, not allocator caches or Python objects)
CPU runs default to float32: bfloat16 matmuls on a CPU without bf16 instructions are ~15× slower.

    python bench/memory_estimate.py                      # every case
    python bench/memory_estimate.py --cases 0.5b-lora    # some
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")

GIB = 1024**3
SHAPES = {"0.5b": "Qwen/Qwen2.5-0.5B-Instruct", "1.5b": "Qwen/Qwen2.5-1.5B-Instruct"}
# name: (shape, fine-tuning type, quantization, batch, cutoff_len, gradient checkpointing)
CASES = {
    "0.5b-lora": ("0.5b", "lora", "none", 2, 256, False),
    "0.5b-lora-ckpt": ("0.5b", "lora", "none", 4, 256, True),
    "0.5b-qlora": ("0.5b", "lora", "4bit", 2, 256, False),
    "0.5b-full": ("0.5b", "full", "none", 2, 256, False),
    "1.5b-lora": ("1.5b", "lora", "none", 2, 256, False),
    "1.5b-qlora": ("1.5b", "lora", "4bit", 2, 256, False),
}


# ---------------------------------------------------------------------------------------------------------
# One case, in its own process


def live_tensor_tracker():
    """A dispatch mode counting the bytes of live tensor storages: those alive when it starts, plus every
    storage an operation creates, until it is freed. `peak` is the most at any moment."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    from torch.utils.weak import WeakIdKeyDictionary

    class LiveTensorBytes(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.counted = WeakIdKeyDictionary()
            self.live = sum(self._count(obj) for obj in gc.get_objects() if isinstance(obj, torch.Tensor))
            self.peak = self.live

        def _count(self, tensor) -> int:
            if tensor.device.type == "meta":
                return 0
            storage = tensor.untyped_storage()
            if storage in self.counted:  # a view of a storage already counted
                return 0
            self.counted[storage] = True
            weakref.finalize(storage, self._free, storage.nbytes())
            return storage.nbytes()

        def _free(self, nbytes: int) -> None:
            self.live -= nbytes

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.live += sum(self._count(t) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
            self.peak = max(self.peak, self.live)
            return out

    return LiveTensorBytes()


def random_model(shape_name: str, folder: Path) -> Path:
    """A model of the published shape with random weights (bf16 on disk), and the demo tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    from engine.models.builtin import builtin_path
    from engine.models.published_configs import PUBLISHED_CONFIGS

    target = folder / shape_name
    if (target / "config.json").exists():
        return target
    published = {key: value for key, value in PUBLISHED_CONFIGS[SHAPES[shape_name]].items() if key != "model_type"}
    config = Qwen2Config(**published)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(target)
    AutoTokenizer.from_pretrained(builtin_path("builtin:tiny-demo")).save_pretrained(target)
    return target


def long_rows_dataset(data_dir: Path) -> str:
    """Rows far longer than any cutoff here, so every example is cut to exactly cutoff_len tokens."""
    words = (PROJECT / "data" / "demo_pretrain.txt").read_text(encoding="utf-8").split()
    rows = [{"instruction": " ".join(words[i:i + 20]), "input": "", "output": " ".join(words[i + 20:i + 1200])}
            for i in range(0, 40 * 30, 30)]
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "long.json").write_text(json.dumps(rows))
    (data_dir / "dataset_info.json").write_text(json.dumps({"bench_long": {"file_name": "long.json"}}))
    return "bench_long"


def measure(case: str, dtype: str, work: Path) -> dict:
    shape_name, finetuning_type, quantization, batch, cutoff, checkpointing = CASES[case]
    os.environ.update(STUDIO_DATA_DIR=str(work / "data"), STUDIO_REGISTRY=str(work / "data" / "dataset_info.json"),
                      STUDIO_SAVES_DIR=str(work / "saves"))
    import torch

    from engine.config.schema import RunConfig
    from engine.runs.events import EventLog
    from engine.train.memory import estimate_memory
    from engine.paths import cache_dir
    from engine.runs.store import create_run
    from engine.train.stages.sft import build_sft_trainer
    from engine.train.trainer import RunContext

    config = RunConfig()
    config.model.name_or_path = str(random_model(shape_name, cache_dir() / "bench-models"))
    config.model.dtype, config.model.quantization = dtype, quantization
    config.data.datasets = [long_rows_dataset(work / "data")]
    config.data.cutoff_len, config.data.val_size = cutoff, 0.0
    config.method.finetuning_type = finetuning_type
    config.train.max_steps, config.train.per_device_train_batch_size = 2, batch
    config.train.gradient_checkpointing, config.train.save_steps, config.train.logging_steps = checkpointing, 1000, 1
    run_dir = create_run(config)
    trainer = build_sft_trainer(RunContext(config, run_dir, EventLog(run_dir), lambda: False))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        trainer.train()
        measured, how = torch.cuda.max_memory_allocated(), "torch.cuda.max_memory_allocated"
    else:
        with live_tensor_tracker() as tracker:
            trainer.train()
        measured, how = tracker.peak, "live tensor bytes (CPU)"
    estimate = estimate_memory(config)
    return {
        "case": case,
        "dtype": dtype,
        "measured": measured,
        "how": how,
        **{name: value * GIB for name, value in estimate.table()},
    }


# ---------------------------------------------------------------------------------------------------------
# All cases, side by side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--dtype", default="", help="float32 / bfloat16; default: bfloat16 on a GPU, float32 on a CPU")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one case in this process
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as work:
            print("RESULT " + json.dumps(measure(args.one, args.dtype, Path(work))), flush=True)
        return
    import torch

    dtype = args.dtype or ("bfloat16" if torch.cuda.is_available() else "float32")
    print(
        f"{'case':16} {'dtype':9} {'weights':>8} {'grads':>7} {'optim':>7} {'activ':>7} {'predicted':>10} "
        f"{'measured':>9} {'error':>7}   (GiB)"
    )
    for case in args.cases.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--one", case, "--dtype", dtype], capture_output=True, text=True
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            print(
                f"{case:16} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
            )
            continue
        r = {k: v / GIB if isinstance(v, (int, float)) else v for k, v in json.loads(lines[0][7:]).items()}
        error = (r["total"] - r["measured"]) / r["measured"] * 100
        print(
            f"{case:16} {r['dtype']:9} {r['weights']:8.2f} {r['gradients']:7.2f} {r['optimizer']:7.2f} "
            f"{r['activations']:7.2f} {r['total']:10.2f} {r['measured']:9.2f} {error:+6.1f}%   {r['how']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
