"""Peak-memory estimate of a training run, and a configuration that fits the device.

The estimate adds four parts, in bytes:
  weights      every parameter at its storage size (4-bit: 0.5 byte + quantisation constants; the embeddings
               and output head stay 16-bit, as bitsandbytes leaves them)
  gradients    one per trainable parameter, at the trainable parameters' dtype
  optimizer    AdamW keeps two moments per trainable parameter
  activations  kept for the backward pass, per layer and token: the tensors a Llama/Qwen-style block saves
               (see `Shape.saved_values`; attention by SDPA, so no sequence² term); with gradient checkpointing
               only each layer's input plus one layer recomputed at a time; and the loss's fp32 logits,
               log-probabilities and their gradient (3 × vocab values per token); GRPO adds the key/value
               cache of the answers it generates
Stages that compare against a reference model (DPO, KTO, GRPO with a KL weight) hold a second copy of the
weights unless PEFT can switch the adapter off instead.
The model's shape comes from its config.json (built-in and local models) or from a table of common Hub
models. It is a model of the memory, not a measurement: KNOWN LIMITS are in the README.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from engine.config.schema import RunConfig

GIB = 1024**3

# Shapes of common Hub models (from their published config.json files), for estimates without a download.
KNOWN_SHAPES = {
    "Qwen/Qwen2.5-0.5B-Instruct": dict(vocab=151936, hidden=896, intermediate=4864, layers=24, heads=14, kv_heads=2, tied=True),
    "Qwen/Qwen2.5-1.5B-Instruct": dict(vocab=151936, hidden=1536, intermediate=8960, layers=28, heads=12, kv_heads=2, tied=True),
    "Qwen/Qwen2.5-7B-Instruct": dict(vocab=152064, hidden=3584, intermediate=18944, layers=28, heads=28, kv_heads=4, tied=False),
    "Qwen/Qwen3-0.6B": dict(vocab=151936, hidden=1024, intermediate=3072, layers=28, heads=16, kv_heads=8, tied=True, head_dim=128),
    "Qwen/Qwen3-8B": dict(vocab=151936, hidden=4096, intermediate=12288, layers=36, heads=32, kv_heads=8, tied=False),
    "meta-llama/Llama-3.2-1B-Instruct": dict(vocab=128256, hidden=2048, intermediate=8192, layers=16, heads=32, kv_heads=8, tied=True),
    "meta-llama/Llama-3.2-3B-Instruct": dict(vocab=128256, hidden=3072, intermediate=8192, layers=28, heads=24, kv_heads=8, tied=True),
    "meta-llama/Llama-3.1-8B-Instruct": dict(vocab=128256, hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, tied=False),
    "mistralai/Mistral-7B-Instruct-v0.3": dict(vocab=32768, hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, tied=False),
    "google/gemma-2-2b-it": dict(vocab=256000, hidden=2304, intermediate=9216, layers=26, heads=8, kv_heads=4, tied=True, head_dim=256),
    "microsoft/Phi-3.5-mini-instruct": dict(vocab=32064, hidden=3072, intermediate=8192, layers=32, heads=32, kv_heads=32, tied=False),
}
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class Shape:
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    tied: bool
    head_dim: int | None = None  # when not hidden / heads (Qwen3, Gemma 2)

    @property
    def layer_linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer in one decoder block."""
        head = self.head_dim or self.hidden // self.heads
        q, kv = head * self.heads, head * self.kv_heads
        h, i = self.hidden, self.intermediate
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def saved_values(self) -> int:
        """Values one decoder block keeps per token for its backward pass: each RMSNorm's input and output
        (2 × 2·hidden), attention's q, k, v and its output (the o_proj input), and the SwiGLU MLP's gate, up,
        activated gate and their product (4 × intermediate). LoRA's low-rank intermediates are negligible."""
        head = self.head_dim or self.hidden // self.heads
        return 4 * self.hidden + 2 * head * self.heads + 2 * head * self.kv_heads + 4 * self.intermediate

    @property
    def layer_params(self) -> int:
        return sum(a * b for a, b in self.layer_linears.values()) + 2 * self.hidden  # + two norms

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def total_params(self) -> int:
        return self.embedding_params + self.layers * self.layer_params + self.hidden


def model_shape(name_or_path: str) -> Shape:
    if name_or_path in KNOWN_SHAPES:
        return Shape(**KNOWN_SHAPES[name_or_path])
    from engine.models.loading import resolve_model

    config = json.loads((Path(resolve_model(name_or_path)) / "config.json").read_text())
    return Shape(
        vocab=config["vocab_size"], hidden=config["hidden_size"], intermediate=config["intermediate_size"],
        layers=config["num_hidden_layers"], heads=config["num_attention_heads"],
        kv_heads=config.get("num_key_value_heads") or config["num_attention_heads"],
        tied=bool(config.get("tie_word_embeddings", False)), head_dim=config.get("head_dim"),
    )


# ---------------------------------------------------------------------------------------------------------


@dataclass
class MemoryEstimate:
    weights: float
    gradients: float
    optimizer: float
    activations: float
    trainable_params: int
    total_params: int

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations

    def table(self) -> list[tuple[str, float]]:
        """(part, GiB) rows, for display."""
        parts = asdict(self)
        rows = [(name, parts[name] / GIB) for name in ("weights", "gradients", "optimizer", "activations")]
        return rows + [("total", self.total / GIB)]


def trainable_params(config: RunConfig, shape: Shape) -> int:
    method = config.method
    kind = method.finetuning_type
    if kind == "full":
        return shape.total_params
    if kind == "freeze":
        return min(method.freeze_trainable_layers, shape.layers) * shape.layer_params
    if kind in ("lora", "adalora"):
        rank = method.adalora_init_rank if kind == "adalora" else method.lora_rank
        targets = shape.layer_linears if method.lora_target.strip() == "all-linear" else {
            name: dims for name, dims in shape.layer_linears.items() if name in method.lora_target}
        per_layer = sum(rank * (a + b) for a, b in targets.values())
        dora = sum(b for _, b in targets.values()) if method.use_dora else 0  # one magnitude per output
        return shape.layers * (per_layer + dora)
    if kind == "ia3":
        return shape.layers * (2 * shape.layer_linears["k_proj"][1] + shape.intermediate)
    if kind == "bitfit":
        return shape.layers * 4 * shape.hidden
    return method.num_virtual_tokens * shape.hidden * (2 * shape.layers if kind == "prefix" else 1)


def estimate_memory(config: RunConfig) -> MemoryEstimate:
    shape = model_shape(config.model.name_or_path)
    compute = DTYPE_BYTES.get(config.model.dtype, 2)  # "auto" is bf16 on the GPUs this is for
    linear_params = shape.layers * sum(a * b for a, b in shape.layer_linears.values())
    other_params = shape.total_params - linear_params
    if config.model.quantization == "4bit":
        bits = 4.127 if config.model.double_quant else 4.5  # absmax constants per 64-value block
        weights = linear_params * bits / 8 + other_params * compute
    elif config.model.quantization == "8bit":
        weights = linear_params * 1.0 + other_params * compute
    else:
        weights = shape.total_params * compute
    trainable = trainable_params(config, shape)
    # Adapters train in fp32 (PEFT's default); full and freeze train at the model's dtype.
    trainable_bytes = 4 if config.method.finetuning_type not in ("full", "freeze", "bitfit") else compute
    tokens = config.train.per_device_train_batch_size * config.data.cutoff_len
    one_layer = tokens * shape.saved_values * compute
    if config.train.gradient_checkpointing:  # each layer's input, and one layer's tensors while it is recomputed
        activations = shape.layers * tokens * shape.hidden * compute + one_layer
    else:
        activations = shape.layers * one_layer
    activations += tokens * shape.vocab * 4 * 3  # fp32 logits, log-probabilities, their gradient
    if config.method.stage == "grpo":
        activations += generation_cache(config, shape, compute)
    if reference_copy(config):
        weights *= 2
    return MemoryEstimate(
        weights=weights,
        gradients=trainable * trainable_bytes,
        optimizer=2 * trainable * trainable_bytes,  # AdamW's moments are kept at the parameters' dtype
        activations=activations,
        trainable_params=trainable,
        total_params=shape.total_params,
    )


def generation_cache(config: RunConfig, shape: Shape, compute: int) -> float:
    """GRPO's key/value cache while it writes one generation batch (batch × accumulation answers) of up
    to cutoff_len tokens: two vectors of kv_heads × head_dim per layer and token."""
    sequences = config.train.per_device_train_batch_size * config.train.gradient_accumulation_steps
    head = shape.head_dim or shape.hidden // shape.heads
    return sequences * config.data.cutoff_len * shape.layers * 2 * shape.kv_heads * head * compute


def reference_copy(config: RunConfig) -> bool:
    """Whether TRL keeps a second, frozen copy of the model as the reference: stages that compare against
    the base do, unless PEFT can switch its adapter off instead."""
    method = config.method
    compares = method.stage in ("dpo", "kto") and method.pref_loss != "simpo" or (
        method.stage == "grpo" and method.grpo_kl_beta > 0)
    return compares and method.finetuning_type in ("full", "freeze", "bitfit")


def device_memory() -> tuple[str, float]:
    """(device name, bytes available for training): the GPU's total memory, or the machine's free RAM."""
    import torch

    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        return torch.cuda.get_device_name(), float(total)
    import psutil

    return "CPU", float(psutil.virtual_memory().available)


def auto_configure(config: RunConfig, available: float, headroom: float = 0.85) -> tuple[RunConfig, MemoryEstimate]:
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
