"""Tiny random-weight models of twelve real architectures, for tests that must see what a real family does:
fused projections (Phi-3, GLM-4), mixture of experts (Mixtral, Qwen3-MoE, gpt-oss, DeepSeek-V3), latent
attention (DeepSeek-V3), soft-capping and sliding windows (Gemma 2 and 3), attention sinks (gpt-oss).

Each is its transformers class built from a small config (hidden 64, two blocks) with the built-in model's
tokenizer, saved as a model folder the studio loads like any local model.
"""
from __future__ import annotations

from pathlib import Path

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, max_position_embeddings=1024, tie_word_embeddings=False)
EXPERTS = dict(num_experts_per_tok=2)

# family: (model_type, what it changes from SMALL)
FAMILIES: dict[str, tuple[str, dict]] = {
    "llama3.1": ("llama", dict(rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                  high_freq_factor=4.0, original_max_position_embeddings=256))),
    "qwen2.5": ("qwen2", dict(tie_word_embeddings=True)),
    "qwen3": ("qwen3", {}),
    "qwen3-moe": ("qwen3_moe", dict(num_experts=4, moe_intermediate_size=32, **EXPERTS)),
    "gemma2": ("gemma2", dict(tie_word_embeddings=True)),
    "gemma3": ("gemma3_text", dict(tie_word_embeddings=True)),
    "mistral": ("mistral", {}),
    "phi3": ("phi3", dict(head_dim=None)),
    "glm4": ("glm4", dict(attention_bias=True, partial_rotary_factor=0.5)),
    "deepseek-v3": ("deepseek_v3", dict(n_routed_experts=4, n_shared_experts=1, moe_intermediate_size=32,
                                        first_k_dense_replace=1, n_group=1, topk_group=1, q_lora_rank=32,
                                        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16,
                                        head_dim=None, **EXPERTS)),
    "gpt-oss": ("gpt_oss", dict(num_local_experts=4, attention_bias=True, **EXPERTS)),
    "mixtral": ("mixtral", dict(num_local_experts=4, **EXPERTS)),
}


def family_config(family: str, vocab_size: int = 4096, **token_ids) -> dict:
    """config.json values of the tiny `family` model (None values dropped: the class's default applies);
    `token_ids`: bos_token_id, eos_token_id, pad_token_id of its tokenizer (else 1, 2, 0)."""
    model_type, changes = FAMILIES[family]
    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, **token_ids}
    values = {**SMALL, **changes, **ids, "model_type": model_type, "vocab_size": vocab_size}
    return {key: value for key, value in values.items() if value is not None}


def family_model_folder(family: str, root: Path) -> Path:
    """root/<family>: the tiny model (random weights, seed 0, float32) and the built-in model's tokenizer;
    built once, reused after."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from engine.models.builtin import builtin_path

    folder = Path(root) / family
    if (folder / "config.json").is_file():
        return folder
    tokenizer = AutoTokenizer.from_pretrained(builtin_path("builtin:tiny-demo"))
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id}
    config = AutoConfig.for_model(**family_config(family, len(tokenizer), **ids))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    staging = folder.with_name(folder.name + ".partial")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(folder)
    return folder
