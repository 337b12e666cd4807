"""A decoder's shape: the sizes that parameter counts and memory follow from.

Read from the model's config.json (built-in and local models) or, for common Hub models that are not on this
machine, from a table of their published configs, so an estimate needs no download.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.models.loading import resolve_model

# Shapes of common Hub models (from their published config.json files), for estimates without a download.
KNOWN_SHAPES = {
    "Qwen/Qwen2.5-0.5B-Instruct": dict(
        vocab=151936, hidden=896, intermediate=4864, layers=24, heads=14, kv_heads=2, tied=True
    ),
    "Qwen/Qwen2.5-1.5B-Instruct": dict(
        vocab=151936, hidden=1536, intermediate=8960, layers=28, heads=12, kv_heads=2, tied=True
    ),
    "Qwen/Qwen2.5-7B-Instruct": dict(
        vocab=152064, hidden=3584, intermediate=18944, layers=28, heads=28, kv_heads=4, tied=False
    ),
    "Qwen/Qwen3-0.6B": dict(
        vocab=151936, hidden=1024, intermediate=3072, layers=28, heads=16, kv_heads=8, tied=True, head_dim=128
    ),
    "Qwen/Qwen3-8B": dict(vocab=151936, hidden=4096, intermediate=12288, layers=36, heads=32, kv_heads=8, tied=False),
    "meta-llama/Llama-3.2-1B-Instruct": dict(
        vocab=128256, hidden=2048, intermediate=8192, layers=16, heads=32, kv_heads=8, tied=True
    ),
    "meta-llama/Llama-3.2-3B-Instruct": dict(
        vocab=128256, hidden=3072, intermediate=8192, layers=28, heads=24, kv_heads=8, tied=True
    ),
    "meta-llama/Llama-3.1-8B-Instruct": dict(
        vocab=128256, hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, tied=False
    ),
    "mistralai/Mistral-7B-Instruct-v0.3": dict(
        vocab=32768, hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, tied=False
    ),
    "google/gemma-2-2b-it": dict(
        vocab=256000, hidden=2304, intermediate=9216, layers=26, heads=8, kv_heads=4, tied=True, head_dim=256
    ),
    "microsoft/Phi-3.5-mini-instruct": dict(
        vocab=32064, hidden=3072, intermediate=8192, layers=32, heads=32, kv_heads=32, tied=False
    ),
}


@dataclass
class VisionShape:
    """A vision model's image side (a ViT: CLIP, SigLIP, Qwen2-VL's encoder) and its projector."""

    hidden: int
    intermediate: int
    layers: int
    patch: int
    image_size: int
    text_hidden: int  # the projector's output: the language model's width

    @property
    def tokens_per_image(self) -> int:
        """Patches of one image, which the projector turns into as many vision tokens (LLaVA: one each)."""
        return (self.image_size // self.patch) ** 2

    @property
    def tower_params(self) -> int:
        """Blocks (attention 4·h², MLP 2·h·i), the patch embedding (3·patch²·h) and one position per patch."""
        h = self.hidden
        blocks = self.layers * (4 * h * h + 2 * h * self.intermediate)
        return blocks + 3 * self.patch**2 * h + self.tokens_per_image * h

    @property
    def projector_params(self) -> int:
        """LLaVA's two-layer MLP: vision width → text width → text width."""
        return self.hidden * self.text_hidden + self.text_hidden**2

    @property
    def saved_values_per_image(self) -> int:
        """Values the tower keeps for its backward pass, when it trains: per block and patch its norms' inputs
        and outputs (4·h), q, k, v and the attention output (4·h), the MLP's hidden and activation (2·i)."""
        return self.layers * self.tokens_per_image * (8 * self.hidden + 2 * self.intermediate)


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
    vision: VisionShape | None = None  # a vision-language model's image side

    @property
    def layer_linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer in one decoder block."""
        head = self.head_dim or self.hidden // self.heads
        q, kv = head * self.heads, head * self.kv_heads
        h, i = self.hidden, self.intermediate
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

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
        vision = self.vision.tower_params + self.vision.projector_params if self.vision else 0
        return self.embedding_params + self.layers * self.layer_params + self.hidden + vision


def model_shape(name_or_path: str) -> Shape:
    if name_or_path in KNOWN_SHAPES:
        return Shape(**KNOWN_SHAPES[name_or_path])
    config = json.loads((Path(resolve_model(name_or_path)) / "config.json").read_text())
    vision = config.get("vision_config")
    config = config.get("text_config") or config  # a vision model: the language model's sizes
    return Shape(
        vision=_vision_shape(vision, config["hidden_size"]) if vision else None,
        vocab=config["vocab_size"],
        hidden=config["hidden_size"],
        intermediate=config["intermediate_size"],
        layers=config["num_hidden_layers"],
        heads=config["num_attention_heads"],
        kv_heads=config.get("num_key_value_heads") or config["num_attention_heads"],
        tied=bool(config.get("tie_word_embeddings", False)),
        head_dim=config.get("head_dim"),
    )


def _vision_shape(vision: dict, text_hidden: int) -> VisionShape:
    """The image side from a vision_config; Qwen2-VL names its sizes embed_dim / depth / mlp_ratio."""
    hidden = vision.get("hidden_size") or vision.get("embed_dim")
    intermediate = vision.get("intermediate_size") or int(hidden * vision.get("mlp_ratio", 4))
    return VisionShape(
        hidden=hidden,
        intermediate=intermediate,
        layers=vision.get("num_hidden_layers") or vision.get("depth"),
        patch=vision.get("patch_size", 14),
        image_size=vision.get("image_size", 224),
        text_hidden=text_hidden,
    )
