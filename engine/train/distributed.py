"""Training on several processes: what the `distributed` section resolves to, and what each engine is told.

The studio writes no parallelism of its own. torch.distributed (gloo on CPUs, NCCL on GPUs) carries DDP;
PyTorch FSDP and DeepSpeed ZeRO shard the model; the Trainer (through accelerate) drives all three from its
TrainingArguments. This module turns the run config into those arguments, writes the DeepSpeed and FSDP
configs into the run directory (so a run is reproducible from its folder), and lets the ranks agree on a
stop, which they must take at the same step or the next collective would wait forever.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.config.schema import RunConfig
from engine.messages import say

DEEPSPEED_FILE = "deepspeed_config.json"
FSDP_FILE = "fsdp_config.json"
SHARDED = ("fsdp", "zero2", "zero3")
DEEPSPEED_STAGES = {"zero2": 2, "zero3": 3}


# ---------------------------------------------------------------------------------------------------------
# What the config resolves to on this machine


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def processes_per_node(config: RunConfig) -> int:
    """The asked number, or auto (0): one per visible GPU, one on a CPU-only machine."""
    return config.distributed.processes_per_node or max(visible_gpus(), 1)


def world_size(config: RunConfig) -> int:
    return processes_per_node(config) * config.distributed.nodes


def strategy(config: RunConfig) -> str:
    """ddp | fsdp | zero2 | zero3, or "single" for one plain process (auto with one process)."""
    chosen = config.distributed.strategy
    if chosen == "auto":
        return "ddp" if world_size(config) > 1 else "single"
    return chosen


def needs_launcher(config: RunConfig) -> bool:
    """Whether the run trains in ranks started by torch.distributed's launcher rather than in the worker:
    several processes, or a sharding engine (DeepSpeed and FSDP need a process group even for one)."""
    return world_size(config) > 1 or strategy(config) in SHARDED


def mixed_precision(config: RunConfig) -> str | None:
    """"bf16", "fp16" or None: the Trainer's autocast, and the same in the DeepSpeed config (which must agree)."""
    import torch

    from engine.models.loading import torch_dtype

    if not torch.cuda.is_available():
        return None
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(torch_dtype(config.model.dtype))


def config_problems(config: RunConfig) -> list[str]:
    """Strategy and offload combinations no engine offers; what this machine has is the preflight's question."""
    spread, problems = config.distributed, []
    if spread.node_rank >= spread.nodes:
        problems.append(say("distributed.node_rank_out_of_range", node_rank=spread.node_rank, nodes=spread.nodes))
    if spread.nodes > 1 and not spread.master_address.strip():
        problems.append(say("distributed.no_master_address"))
    if spread.offload_parameters and spread.strategy not in ("zero3", "fsdp"):
        problems.append(say("distributed.offload_parameters_needs_sharding", strategy=spread.strategy))
    if spread.offload_optimizer and spread.strategy not in ("zero2", "zero3"):
        problems.append(say("distributed.offload_optimizer_needs_zero", strategy=spread.strategy))
    if config.model.quantization != "none" and spread.strategy in ("fsdp", "zero3"):
        problems.append(say("distributed.quantized_sharding", quantization=config.model.quantization,
                            strategy=spread.strategy))
    return problems


# ---------------------------------------------------------------------------------------------------------
# The engines' configs


def deepspeed_config(config: RunConfig, precision: str | None) -> dict:
    """A DeepSpeed config for ZeRO-2/3 from the run config. Batch sizes, learning rate and clipping stay
    "auto": the Trainer fills them from the same run config, so they cannot disagree."""
    spread = config.distributed
    zero: dict = {"stage": DEEPSPEED_STAGES[spread.strategy], "overlap_comm": True, "contiguous_gradients": True,
                  "reduce_bucket_size": "auto"}
    if spread.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if zero["stage"] == 3:
        zero.update(stage3_prefetch_bucket_size="auto", stage3_param_persistence_threshold="auto",
                    # final/ must be a plain model folder, not shards only DeepSpeed can read
                    stage3_gather_16bit_weights_on_model_save=True)
        if spread.offload_parameters:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "train_batch_size": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16"},
        "zero_optimization": zero,
        "steps_per_print": 10**9,  # progress goes to events.jsonl; DeepSpeed's own lines would only repeat it
        "wall_clock_breakdown": False,
    }


def fsdp_config(config: RunConfig) -> dict:
    """TrainingArguments' fsdp_config: FSDP2, each decoder layer its own shard unit, full state dicts in
    checkpoints and final/ (loadable without FSDP), parameters offloaded to the CPU when asked."""
    return {
        "version": 2,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "transformer_layer_cls_to_wrap": decoder_layer_classes(config.model.name_or_path),
        "reshard_after_forward": True,
        "cpu_offload": config.distributed.offload_parameters,
        "state_dict_type": "FULL_STATE_DICT",
    }


def decoder_layer_classes(name_or_path: str) -> list[str]:
    """The decoder layer class of a model (e.g. LlamaDecoderLayer), from the `_no_split_modules` its
    transformers class declares: the unit FSDP shards and gathers one at a time."""
    import transformers

    from engine.models.loading import resolve_model

    model_config = json.loads((Path(resolve_model(name_or_path)) / "config.json").read_text())
    classes = [getattr(transformers, name, None) for name in model_config.get("architectures") or []]
    return sorted({layer for cls in classes if cls is not None for layer in (cls._no_split_modules or [])})


def training_options(config: RunConfig, run_dir: Path) -> dict:
    """Extra TrainingArguments for the run's strategy; the engine configs are also written to `run_dir`."""
    chosen = strategy(config)
    if chosen in DEEPSPEED_STAGES:
        path = Path(run_dir) / DEEPSPEED_FILE
        _write_json(path, deepspeed_config(config, mixed_precision(config)))
        return {"deepspeed": str(path)}
    if chosen == "fsdp":
        options = fsdp_config(config)
        _write_json(Path(run_dir) / FSDP_FILE, options)
        return {"fsdp": True, "fsdp_config": options}
    if chosen == "ddp":
        import torch

        return {} if torch.cuda.is_available() else {"ddp_backend": "gloo"}
    return {}


def _write_json(path: Path, content: dict) -> None:
    """Every rank computes the same file; rank 0 writes it, renamed into place whole."""
    if rank() == 0:
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        staging.write_text(json.dumps(content, indent=2) + "\n")
        staging.replace(path)


# ---------------------------------------------------------------------------------------------------------
# Inside a rank


def rank() -> int:
    """This process's global rank (0 when not launched as one of several)."""
    return int(os.environ.get("RANK", "0"))


def agreed(flag: bool) -> bool:
    """True on every rank when it is true on any: a stop request must end every rank at the same step.
    Outside a process group it is the flag itself."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    device = "cuda" if "nccl" in str(dist.get_backend()) else "cpu"
    vote = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(vote, op=dist.ReduceOp.MAX)
    return bool(vote.item())
