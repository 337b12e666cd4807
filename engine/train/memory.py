"""Peak-memory estimate of a training run, and a configuration that fits the device.

The estimate adds four parts, in bytes:
  weights      every parameter at its storage size (4-bit: 0.5 byte + quantisation constants; the embeddings,
               output head and fused MoE experts stay 16-bit: bitsandbytes quantises nn.Linear layers only)
  gradients    one per trainable parameter, at the trainable parameters' dtype
  optimizer    AdamW keeps two moments per trainable parameter
  activations  kept for the backward pass, per layer and token: the tensors a Llama/Qwen-style block saves
               (see `Shape.saved_values`; attention by SDPA, so no sequence² term); with gradient checkpointing
               only each layer's input plus one layer recomputed at a time; and the loss's fp32 logits,
               log-probabilities and their gradient (3 × vocab values per token; none with Liger's fused
               cross-entropy; with the head at trained tokens only still every token's, an upper bound, since
               how many tokens are trained is the data's, not the config's); GRPO adds the key/value cache of
               the answers it generates. Packed rows count pack_length tokens each, plus their row × row mask
               (bool, or float for eager) unless FlashAttention's varlen kernel needs none. A vision model's
               image tokens are part of the sequence (cutoff_len counts them); its tower adds its own
               activations, one image per example, only when it trains (frozen, it saves nothing for the
               backward pass)
Stages that compare against a reference model (DPO, KTO, GRPO with a KL weight) hold a second copy of the
weights unless PEFT can switch the adapter off instead.
Across N processes (`shard_memory`) each device holds: DDP everything; ZeRO-2 the weights and 1/N of the
gradients and optimizer states; ZeRO-3 and FSDP 1/N of all three (plus the one layer being gathered, left
out: about 1/layers of the weights). Offloading moves the optimizer (ZeRO), or the weights (ZeRO-3), or all
three (FSDP) into the machine's RAM: counted as `offloaded`, not in the device's total. Activations are per
device and do not shrink.
The model's shape comes from engine/models/shape.py; what trains from the method's table entry, and what a
stage adds from the stage's. It is a model of the memory, not a measurement: KNOWN LIMITS are in the README.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from engine.config.schema import RunConfig
from engine.models.methods import METHODS
from engine.models.shape import Shape, model_shape
from engine.train.stages import stage_of
from engine.train import distributed
from engine.train.speed import plan_speed

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
HEADROOM = 0.85  # share of a device's memory a run may plan to use: allocator caches and fragmentation take the rest


# ---------------------------------------------------------------------------------------------------------


@dataclass
class MemoryEstimate:
    weights: float
    gradients: float
    optimizer: float
    activations: float
    trainable_params: int
    total_params: int
    offloaded: float = 0.0  # bytes kept in the machine's RAM instead of the device's (ZeRO / FSDP offload)

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations

    def table(self) -> list[tuple[str, float]]:
        """(part, GiB) rows, for display."""
        parts = asdict(self)
        rows = [(name, parts[name] / GIB) for name in ("weights", "gradients", "optimizer", "activations")]
        offloaded = [("offloaded", self.offloaded / GIB)] if self.offloaded else []
        return rows + [("total", self.total / GIB)] + offloaded


def trainable_params(config: RunConfig, shape: Shape) -> int:
    return METHODS[config.method.finetuning_type].trainable(config.method, shape) + vision_trainable(config, shape)


def vision_trainable(config: RunConfig, shape: Shape) -> int:
    """What the vision switches change in the method's count: `full` counts every weight, so frozen vision parts
    come off; the other whole-model types count language layers, so trained vision parts come on; PEFT types
    train a trainable projector whole (adapters in a trainable tower are small and not counted)."""
    vision, method = shape.vision, config.method
    if vision is None:
        return 0
    tower = 0 if method.freeze_vision_tower else vision.tower_params
    projector = 0 if method.freeze_projector else vision.projector_params
    if method.finetuning_type == "full":
        return tower + projector - vision.tower_params - vision.projector_params
    return projector + (0 if METHODS[method.finetuning_type].peft else tower)


def estimate_memory(config: RunConfig) -> MemoryEstimate:
    shape = model_shape(config.model.name_or_path)
    compute = DTYPE_BYTES.get(config.model.dtype, 2)  # "auto" is bf16 on the GPUs this is for
    linear_params = shape.linear_params
    other_params = shape.total_params - linear_params
    if config.model.quantization == "4bit":
        bits = 4.127 if config.model.double_quant else 4.5  # absmax constants per 64-value block
        weights = linear_params * bits / 8 + other_params * compute
    elif config.model.quantization == "8bit":
        weights = linear_params * 1.0 + other_params * compute
    else:
        weights = shape.total_params * compute
    trainable = trainable_params(config, shape)
    # Adapters train in fp32 (PEFT's default); whole-model types train at the model's dtype.
    trainable_bytes = 4 if METHODS[config.method.finetuning_type].peft else compute
    plan = plan_speed(config)
    row = plan.row_length if plan.packing else config.data.cutoff_len
    tokens = config.train.per_device_train_batch_size * row
    one_layer = tokens * shape.saved_values * compute
    if config.train.gradient_checkpointing:  # each layer's input, and one layer's tensors while it is recomputed
        activations = shape.layers * tokens * shape.hidden * compute + one_layer
    else:
        activations = shape.layers * one_layer
    if shape.vision and not config.method.freeze_vision_tower:  # a frozen tower saves nothing for backward
        activations += config.train.per_device_train_batch_size * shape.vision.saved_values_per_image * compute
    if not plan.liger:  # Liger's fused cross-entropy never holds the whole vocabulary's logits
        activations += tokens * shape.vocab * 4 * 3  # fp32 logits, log-probabilities, their gradient
    if plan.packing and plan.attention != "flash_attention_2":
        activations += tokens * row * (compute if plan.attention == "eager" else 1)  # the row x row mask
    if stage_of(config).generates:
        activations += generation_cache(config, shape, compute)
    if reference_copy(config):
        weights *= 2
    one_device = MemoryEstimate(
        weights=weights,
        gradients=trainable * trainable_bytes,
        optimizer=2 * trainable * trainable_bytes,  # AdamW's moments are kept at the parameters' dtype
        activations=activations,
        trainable_params=trainable,
        total_params=shape.total_params,
    )
    return shard_memory(one_device, distributed.strategy(config), distributed.world_size(config),
                        config.distributed.offload_optimizer, config.distributed.offload_parameters)


# What each strategy divides by the number of processes.
SHARDED_PARTS = {
    "single": (),
    "ddp": (),
    "zero2": ("gradients", "optimizer"),
    "zero3": ("weights", "gradients", "optimizer"),
    "fsdp": ("weights", "gradients", "optimizer"),
}


def shard_memory(estimate: MemoryEstimate, strategy: str, processes: int, offload_optimizer: bool = False,
                 offload_parameters: bool = False) -> MemoryEstimate:
    """Per-device memory of `estimate` (one process holding everything) under `strategy` on `processes`."""
    parts = {name: getattr(estimate, name) / processes if name in SHARDED_PARTS[strategy] else getattr(estimate, name)
             for name in ("weights", "gradients", "optimizer")}
    offloaded_parts = []
    if offload_optimizer and strategy in ("zero2", "zero3"):
        offloaded_parts.append("optimizer")
    if offload_parameters and strategy == "zero3":
        offloaded_parts.append("weights")
    if offload_parameters and strategy == "fsdp":  # FSDP's CPU offload moves parameters, gradients and the step
        offloaded_parts += ["weights", "gradients", "optimizer"]
    offloaded = sum(parts[name] for name in offloaded_parts)
    parts.update({name: 0.0 for name in offloaded_parts})
    return replace(estimate, **parts, offloaded=estimate.offloaded + offloaded)


# Strategies in the order they cost speed: each later one shards or offloads more.
STRATEGY_LADDER = (
    ("ddp", False, False),
    ("zero2", False, False),
    ("zero3", False, False),
    ("zero2", True, False),
    ("zero3", True, False),
    ("zero3", True, True),
)


def strategy_that_fits(config: RunConfig, available: float,
                       headroom: float = HEADROOM) -> tuple[str, bool, bool] | None:
    """(strategy, offload_optimizer, offload_parameters): the fastest way to spread `config` over its
    processes that fits `available` bytes per device, or None when none does."""
    for chosen, offload_optimizer, offload_parameters in STRATEGY_LADDER:
        spread = replace(config.distributed, strategy=chosen, offload_optimizer=offload_optimizer,
                         offload_parameters=offload_parameters)
        if estimate_memory(replace(config, distributed=spread)).total <= available * headroom:
            return chosen, offload_optimizer, offload_parameters
    return None


def generation_cache(config: RunConfig, shape: Shape, compute: int) -> float:
    """GRPO's key/value cache while it writes one generation batch (batch × accumulation answers) of up
    to cutoff_len tokens: two vectors of kv_heads × head_dim per layer and token."""
    sequences = config.train.per_device_train_batch_size * config.train.gradient_accumulation_steps
    head = shape.head_dim or shape.hidden // shape.heads
    return sequences * config.data.cutoff_len * shape.layers * 2 * shape.kv_heads * head * compute


def reference_copy(config: RunConfig) -> bool:
    """Whether TRL keeps a second, frozen copy of the model as the reference: stages that compare against
    the base do, unless PEFT can switch its adapter off instead."""
    return stage_of(config).reference(config.method) and not METHODS[config.method.finetuning_type].peft


def device_memory() -> tuple[str, float]:
    """(device name, bytes available for training): the GPU's total memory, or the machine's free RAM."""
    import torch

    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        return torch.cuda.get_device_name(), float(total)
    import psutil

    return "CPU", float(psutil.virtual_memory().available)


def auto_configure(config: RunConfig, available: float,
                   headroom: float = HEADROOM) -> tuple[RunConfig, MemoryEstimate]:
    """The cheapest change that fits `available` bytes: keep the effective batch size (batch × accumulation)
    and try, in order, smaller batches, gradient checkpointing, 4-bit (for LoRA), then shorter cutoffs."""
    effective = config.train.per_device_train_batch_size * config.train.gradient_accumulation_steps
    quantizations = ["none", "4bit"] if config.method.finetuning_type == "lora" else [config.model.quantization]
    if config.model.quantization != "none":
        quantizations = [config.model.quantization]
    cutoffs = [c for c in (config.data.cutoff_len, 1024, 512, 256) if c <= config.data.cutoff_len]
    candidate = config
    for cutoff in dict.fromkeys(cutoffs):
        for quantization in quantizations:
            for checkpointing in (False, True):
                # Only batch sizes that divide the effective batch keep it exact (and GRPO's groups whole).
                for batch in [b for b in (64, 32, 16, 8, 4, 2, 1) if effective % b == 0]:
                    candidate = _with(config, batch, effective // batch, checkpointing, quantization, cutoff)
                    estimate = estimate_memory(candidate)
                    if estimate.total <= available * headroom:
                        return candidate, estimate
    return candidate, estimate_memory(candidate)


def _with(config: RunConfig, batch: int, accumulation: int, checkpointing: bool, quantization: str, cutoff: int):
    return replace(
        config,
        train=replace(config.train, per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
                      gradient_checkpointing=checkpointing),
        model=replace(config.model, quantization=quantization),
        data=replace(config.data, cutoff_len=cutoff),
    )
