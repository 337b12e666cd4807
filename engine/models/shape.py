"""A decoder's shape: the sizes that parameter counts and memory follow from.

Read from the model's config.json (built-in and local models) or, for common Hub models that are not on this
machine, from their published config.json values (engine/models/published_configs.py), so an estimate needs no
download. Dense and mixture-of-experts blocks, fused projections and latent attention (DeepSeek) are counted as
transformers builds them; tests/test_shape.py holds the counts to transformers' own on the meta device, and the
LoRA counts to what peft creates.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.models.loading import resolve_model
from engine.models.published_configs import PUBLISHED_CONFIGS

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


# Model types whose transformers classes fuse projections into one linear layer ("qkv": q, k and v in
# qkv_proj; "gate_up": the MLP's gate and up in gate_up_proj).
FUSED_PROJECTIONS = {"phi3": frozenset({"qkv", "gate_up"}), "glm": frozenset({"gate_up"}),
                     "glm4": frozenset({"gate_up"})}
# Model types whose q, k and v projections have biases whatever the config says (Qwen2).
QKV_BIAS = {"qwen2", "qwen2_moe"}
# Mixture-of-experts types whose adapters peft 0.21 converts from the per-expert layout of transformers 4 (its
# utils/transformers_weight_conversion.py): on all-linear it adapts the router and the fused experts, gate_up_proj
# at twice the rank (the gate and the up projection each keep theirs), and no longer any linear layer named
# gate_proj, up_proj or down_proj - DeepSeek-V3's dense layers and shared experts keep no adapter.
PEFT_CONVERTED_MOE = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3"}
MLP_NAMES = ("gate_proj", "up_proj", "down_proj", "gate_up_proj")


@dataclass
class Shape:
    vocab: int
    hidden: int
    intermediate: int  # a dense MLP's width
    layers: int
    heads: int
    kv_heads: int
    tied: bool
    head_dim: int | None = None  # when not hidden / heads (Qwen3, Gemma 2)
    vision: VisionShape | None = None  # a vision-language model's image side
    model_type: str = ""
    fused: frozenset = frozenset()  # FUSED_PROJECTIONS of the model type
    qkv_bias: bool = False
    # Mixture of experts (experts == 0: a dense model). A MoE block has `experts` expert MLPs of
    # expert_intermediate width (fused into the 3D parameters gate_up_proj and down_proj), a router, and
    # maybe a shared MLP that every token passes through.
    experts: int = 0
    experts_per_token: int = 0
    expert_intermediate: int = 0
    shared_intermediate: int = 0  # the shared experts' width (DeepSeek: n_shared_experts × moe_intermediate_size)
    dense_layers: int = 0  # leading blocks with a dense MLP (DeepSeek's first_k_dense_replace)
    # Multi-head latent attention (DeepSeek-V2/V3): kv_lora_rank > 0; q_lora_rank 0 = q projected directly.
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0

    # --- one block ---------------------------------------------------------------------------------------

    @property
    def head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.experts else 0

    @property
    def blocks(self) -> tuple[tuple[bool, int], ...]:
        """(is a MoE block, how many) for the dense and the MoE blocks."""
        return (False, self.layers - self.moe_layers), (True, self.moe_layers)

    @property
    def attention_linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer of one block's attention."""
        h = self.hidden
        if self.kv_lora_rank:
            return self._latent_attention_linears()
        q, kv = self.head * self.heads, self.head * self.kv_heads
        if "qkv" in self.fused:
            return {"qkv_proj": (h, q + 2 * kv), "o_proj": (q, h)}
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h)}

    def _latent_attention_linears(self) -> dict[str, tuple[int, int]]:
        """MLA: q and the keys/values each pass through a low-rank latent; the rope part of k is one for all
        heads."""
        h, heads, qk = self.hidden, self.heads, self.qk_nope_head_dim + self.qk_rope_head_dim
        query = ({"q_a_proj": (h, self.q_lora_rank), "q_b_proj": (self.q_lora_rank, heads * qk)}
                 if self.q_lora_rank else {"q_proj": (h, heads * qk)})
        return {**query,
                "kv_a_proj_with_mqa": (h, self.kv_lora_rank + self.qk_rope_head_dim),
                "kv_b_proj": (self.kv_lora_rank, heads * (self.qk_nope_head_dim + self.v_head_dim)),
                "o_proj": (heads * self.v_head_dim, h)}

    def mlp_linears(self, width: int, prefix: str = "") -> dict[str, tuple[int, int]]:
        h = self.hidden
        if "gate_up" in self.fused:
            return {f"{prefix}gate_up_proj": (h, 2 * width), f"{prefix}down_proj": (width, h)}
        return {f"{prefix}gate_proj": (h, width), f"{prefix}up_proj": (h, width), f"{prefix}down_proj": (width, h)}

    def block_linears(self, moe: bool) -> dict[str, tuple[int, int]]:
        """(in, out) of each nn.Linear of one block (a MoE block's experts are 3D parameters, not linears);
        a name's last part is the module's own name."""
        if not moe:
            return {**self.attention_linears, **self.mlp_linears(self.intermediate)}
        shared = self.mlp_linears(self.shared_intermediate, "shared_experts.") if self.shared_intermediate else {}
        return {**self.attention_linears, **shared}

    @property
    def expert_params(self) -> int:
        """One MoE block's experts (gate, up and down of each) and router."""
        return self.experts * (3 * self.hidden * self.expert_intermediate + self.hidden)

    def block_params(self, moe: bool) -> int:
        linears = sum(a * b for a, b in self.block_linears(moe).values())
        bias = self.head * (self.heads + 2 * self.kv_heads) if self.qkv_bias else 0
        return linears + bias + (self.expert_params if moe else 0) + 2 * self.hidden  # + two norms

    # --- the whole model ---------------------------------------------------------------------------------

    @property
    def layer_params(self) -> int:
        """One of the last blocks (a MoE block when there are experts): what `freeze` trains per layer."""
        return self.block_params(self.moe_layers > 0)

    @property
    def linear_params(self) -> int:
        """Weights in nn.Linear layers, the ones bitsandbytes quantises (fused experts are parameters: not)."""
        return sum(count * sum(a * b for a, b in self.block_linears(moe).values()) for moe, count in self.blocks)

    @property
    def saved_values(self) -> int:
        """Values one decoder block keeps per token for its backward pass: each RMSNorm's input and output
        (2 × 2·hidden), attention's q, k, v and its output (the o_proj input), and the SwiGLU MLP's gate, up,
        activated gate and their product (4 × the width a token passes through: in a MoE block its experts'
        and the shared one's). LoRA's low-rank intermediates are negligible."""
        if self.kv_lora_rank:
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            attention = self.heads * (2 * qk + 2 * self.v_head_dim)
        else:
            attention = 2 * self.head * self.heads + 2 * self.head * self.kv_heads
        width = (self.experts_per_token * self.expert_intermediate + self.shared_intermediate
                 if self.moe_layers else self.intermediate)
        return 4 * self.hidden + attention + 4 * width

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def total_params(self) -> int:
        vision = self.vision.tower_params + self.vision.projector_params if self.vision else 0
        blocks = sum(count * self.block_params(moe) for moe, count in self.blocks)
        return self.embedding_params + blocks + self.hidden + vision

    # --- what LoRA adapts ----------------------------------------------------------------------------------

    def adapted_linears(self, moe: bool) -> dict[str, tuple[int, int]]:
        """The linear layers LoRA's all-linear adapts in one block: every one, except the MLP layers that peft
        drops for the types it converts (PEFT_CONVERTED_MOE)."""
        linears = self.block_linears(moe)
        if self.model_type in PEFT_CONVERTED_MOE:
            return {name: dims for name, dims in linears.items() if name.rsplit(".", 1)[-1] not in MLP_NAMES}
        return linears

    def expert_lora_params(self, rank: int) -> int:
        """LoRA on one MoE block's fused experts (peft's target_parameters): a 3D parameter (experts, a, b) gets
        A of (rank·experts, in) and B of (out, rank·experts). The types peft converts also get their router
        adapted and gate_up_proj at twice the rank."""
        h, width, experts = self.hidden, self.expert_intermediate, self.experts
        converted = self.model_type in PEFT_CONVERTED_MOE
        gate_up = (2 * rank if converted else rank) * experts * (h + 2 * width)
        router = rank * (h + experts) if converted else 0
        return gate_up + rank * experts * (width + h) + router


def model_shape(name_or_path: str) -> Shape:
    if name_or_path in PUBLISHED_CONFIGS:
        return shape_of_config(PUBLISHED_CONFIGS[name_or_path])
    return shape_of_config(json.loads((Path(resolve_model(name_or_path)) / "config.json").read_text()))


def shape_of_config(config: dict) -> Shape:
    """The Shape of a config.json's values; a vision model's language side from its text_config."""
    vision = config.get("vision_config")
    config = config.get("text_config") or config
    model_type = config.get("model_type", "")
    experts = config.get("num_local_experts") or config.get("num_experts") or config.get("n_routed_experts") or 0
    expert_width = (config.get("moe_intermediate_size") or config["intermediate_size"]) if experts else 0
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
        model_type=model_type,
        fused=FUSED_PROJECTIONS.get(model_type, frozenset()),
        qkv_bias=bool(config.get("attention_bias")) or model_type in QKV_BIAS,
        experts=experts,
        experts_per_token=config.get("num_experts_per_tok") or config.get("experts_per_token") or 0,
        expert_intermediate=expert_width,
        shared_intermediate=(config.get("n_shared_experts") or 0) * expert_width,
        dense_layers=(config.get("first_k_dense_replace") or 0) if experts else 0,
        kv_lora_rank=config.get("kv_lora_rank") or 0,
        q_lora_rank=config.get("q_lora_rank") or 0,
        qk_nope_head_dim=config.get("qk_nope_head_dim") or 0,
        qk_rope_head_dim=config.get("qk_rope_head_dim") or 0,
        v_head_dim=config.get("v_head_dim") or 0,
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
