"""GGUF: a merged Llama-architecture model folder → one .gguf file that llama.cpp (and Ollama) run.

Written with the `gguf` package (llama.cpp's own reader/writer library). What the file holds:
  - architecture metadata under the "llama." keys (sizes, heads, RoPE base, RMS-norm epsilon);
  - the tokenizer as llama.cpp's "gpt2" kind: byte-level BPE tokens in id order, their types, the merges,
    bos/eos/pad ids, the pre-tokenizer name, and the chat template;
  - the weights under llama.cpp's tensor names, as f16 (norms stay f32) or q8_0 (32-weight blocks, each with
    one f16 scale; 1-D tensors stay f32).

Only models whose tokenizer.json is a byte-level BPE with the GPT-2 split pattern are supported (the
built-in model and GPT-2 use it; Qwen- or Llama-3-style split patterns are refused rather than mis-tokenised).
"""
from __future__ import annotations

import json
from pathlib import Path

GGUF_TYPES = ("f16", "q8_0")
ROLE_NAMES = ("system", "user", "assistant")


class GGUFError(ValueError):
    """A model this converter cannot write faithfully; the message says why."""


# ---------------------------------------------------------------------------------------------------------
# Weights


def _reorder_rotary(weight, heads: int):
    # Hugging Face Llama rotates the two halves of each head (rotate_half); llama.cpp's "llama" graph
    # rotates adjacent pairs. Interleaving the rows of each q/k head makes both compute the same attention.
    rows, columns = weight.shape
    return weight.reshape(heads, 2, rows // heads // 2, columns).swapaxes(1, 2).reshape(rows, columns)


def _tensor_name(hf_name: str) -> str | None:
    """llama.cpp's name for a Hugging Face Llama parameter; None for one it does not need."""
    fixed = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    if hf_name in fixed:
        return fixed[hf_name]
    per_layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    parts = hf_name.split(".", 3)  # model, layers, <i>, rest
    if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[3] in per_layer:
        return f"blk.{parts[2]}.{per_layer[parts[3]]}"
    if hf_name.endswith("rotary_emb.inv_freq"):
        return None  # recomputed by llama.cpp from the RoPE base
    raise GGUFError(f"no GGUF name for tensor {hf_name!r}; only plain Llama models are supported")


def _load_weights(folder: Path) -> dict:
    from safetensors.numpy import load_file

    weights = {}
    for shard in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(str(shard)))
    if not weights:
        raise GGUFError(f"{folder} holds no .safetensors weights")
    return weights


def _add_weights(writer, config: dict, folder: Path, kind: str) -> None:
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    weights = _load_weights(folder)
    if config.get("tie_word_embeddings") and "lm_head.weight" in weights:
        del weights["lm_head.weight"]  # llama.cpp reuses token_embd when output.weight is absent
    for hf_name, value in weights.items():
        name = _tensor_name(hf_name)
        if name is None:
            continue
        value = value.astype(np.float32)
        if name.endswith("attn_q.weight"):
            value = _reorder_rotary(value, config["num_attention_heads"])
        elif name.endswith("attn_k.weight"):
            value = _reorder_rotary(value, config.get("num_key_value_heads", config["num_attention_heads"]))
        if value.ndim == 1:  # norms: tiny, and precision-sensitive
            writer.add_tensor(name, value)
        elif kind == "q8_0" and value.shape[-1] % 32 == 0:
            # The writer reads the logical shape back from the byte shape of the quantised rows.
            writer.add_tensor(name, quantize(value, GGMLQuantizationType.Q8_0), raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, value.astype(np.float16))


# ---------------------------------------------------------------------------------------------------------
# Metadata and tokenizer


def _add_architecture(writer, config: dict, name: str, kind: str) -> None:
    from gguf import LlamaFileType

    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    rope = config.get("rope_parameters") or {}
    if rope.get("rope_type", "default") != "default" or config.get("rope_scaling"):
        raise GGUFError("models with RoPE scaling are not supported by this converter")
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads", heads))
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    if head_dim != config["hidden_size"] // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(LlamaFileType.MOSTLY_Q8_0 if kind == "q8_0" else LlamaFileType.MOSTLY_F16)


def _check_gpt2_style(tokenizer_json: dict) -> None:
    model, pre = tokenizer_json.get("model", {}), tokenizer_json.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
        raise GGUFError("only byte-level BPE tokenizers with the GPT-2 split pattern can be written "
                        f"(this one: model {model.get('type')}, pre-tokenizer {pre.get('type')})")
    if tokenizer_json.get("normalizer"):
        raise GGUFError("tokenizers with a normalizer are not supported by this converter")


def _add_tokenizer(writer, folder: Path, vocab_size: int) -> None:
    from gguf import TokenType

    tokenizer_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    _check_gpt2_style(tokenizer_json)
    settings = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    vocab = dict(tokenizer_json["model"]["vocab"])
    added = {token["content"]: token for token in tokenizer_json.get("added_tokens", [])}
    vocab.update({content: token["id"] for content, token in added.items()})
    by_id = {index: text for text, index in vocab.items()}
    tokens, types = [], []
    for index in range(vocab_size):
        text = by_id.get(index)
        if text is None:  # the embedding matrix can be larger than the vocabulary
            tokens.append(f"[PAD{index}]")
            types.append(TokenType.UNUSED)
        else:
            tokens.append(text)
            special = text in added and added[text].get("special")
            kind = TokenType.USER_DEFINED if text in added else TokenType.NORMAL
            types.append(TokenType.CONTROL if special else kind)
    merges = [" ".join(pair) if isinstance(pair, list) else pair for pair in tokenizer_json["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    # llama.cpp picks its split regex by this name; "gpt-2" is the pattern of a ByteLevel(use_regex) pre-tokenizer.
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for role, add in (
        ("bos", writer.add_bos_token_id),
        ("eos", writer.add_eos_token_id),
        ("pad", writer.add_pad_token_id),
    ):
        text = settings.get(f"{role}_token")
        if isinstance(text, str) and text in vocab:
            add(vocab[text])
    # The studio's tokenizers add no bos (their post-processor is empty); llama.cpp would add one by default.
    writer.add_add_bos_token(bool(settings.get("add_bos_token", False)))
    template = _chat_template(folder, settings)
    if template:
        writer.add_chat_template(template)


def _chat_template(folder: Path, settings: dict) -> str:
    path = folder / "chat_template.jinja"
    if path.exists():
        return path.read_text(encoding="utf-8")
    template = settings.get("chat_template", "")
    return template if isinstance(template, str) else ""


# ---------------------------------------------------------------------------------------------------------
# The file


def write_gguf(model_folder: Path, target: Path, kind: str = "f16", name: str = "") -> Path:
    """Convert the Hugging Face model in `model_folder` to `target` (.gguf) with weights as `kind`."""
    from gguf import GGUFWriter

    if kind not in GGUF_TYPES:
        raise GGUFError(f"GGUF type must be one of {', '.join(GGUF_TYPES)}; got {kind!r}")
    model_folder, target = Path(model_folder), Path(target)
    config = json.loads((model_folder / "config.json").read_text(encoding="utf-8"))
    if config.get("architectures") != ["LlamaForCausalLM"]:
        raise GGUFError(f"GGUF export supports LlamaForCausalLM models; this one is {config.get('architectures')}")
    if config.get("attention_bias") or config.get("mlp_bias"):
        raise GGUFError("Llama models with bias terms are not supported by this converter")
    writer = GGUFWriter(str(target), "llama")
    try:
        _add_architecture(writer, config, name or model_folder.name, kind)
        _add_tokenizer(writer, model_folder, config["vocab_size"])
        _add_weights(writer, config, model_folder, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return target


# ---------------------------------------------------------------------------------------------------------
# Ollama


# Ollama's Go-template form of the studio's chat formats, keyed by a marker that identifies each format in
# the Jinja source (so an `auto` template is recognised too). {{ .Messages }} carries the system prompt.
OLLAMA_TEMPLATES = {
    "<|im_start|>": (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
        ["<|im_end|>", "<|im_start|>"],
    ),
    "<|start_header_id|>": (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
        "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
        ["<|eot_id|>", "<|start_header_id|>"],
    ),
    "<|end|>": (
        "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
        ["<|end|>", "<|user|>"],
    ),
}


def ollama_modelfile(gguf_name: str, chat_template: str, stop_words: list[str], system: str = "") -> str:
    """An Ollama Modelfile for `gguf_name` (a file next to it) speaking the format of `chat_template`.

    For a format without a Go translation here, TEMPLATE is left out: Ollama then falls back to the chat
    template stored in the GGUF (which it recognises for common families).
    """
    lines = ["# Ollama: ollama create <name> -f Modelfile && ollama run <name>", f"FROM ./{gguf_name}", ""]
    found = next(((go, stops) for marker, (go, stops) in OLLAMA_TEMPLATES.items() if marker in chat_template), None)
    if found:
        go, stops = found
        lines.append(f'TEMPLATE """{go}"""')
        stop_words = list(dict.fromkeys([*stops, *stop_words]))
    else:
        lines.append("# This chat format has no Ollama template here; Ollama reads the GGUF's own chat template.")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    lines.extend(f'PARAMETER stop "{word}"' for word in stop_words)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Verifying a file in a real runtime


FIRST_TOKENS = 8  # how many greedy tokens the two runtimes must agree on


def verify_gguf(path: Path, prompts: list, reference_model_folder: Path, first_tokens: int = FIRST_TOKENS) -> dict:
    """Load `path` in llama.cpp (llama-cpp-python) and greedy-decode each prompt, next to transformers on the
    Hugging Face model in `reference_model_folder` (the merged model the file was made from).

    A prompt is a text, or a message list rendered with the reference tokenizer's chat template.
    Returns {"file", "runtime", "tokens", "same_tokens": [bool], "llama": [[ids]], "transformers": [[ids]],
    "agreed": [int], "matching": int, "prompts": int}: `same_tokens` says whether llama.cpp tokenised each
    prompt exactly like transformers; `agreed` is the length of the common start of both greedy outputs up
    to the end-of-sequence token, and `matching` how many prompts agree on all of it.
    Raises ImportError when llama-cpp-python is not installed.
    """
    import llama_cpp
    from transformers import AutoTokenizer

    path, reference_model_folder = Path(path), Path(reference_model_folder)
    tokenizer = AutoTokenizer.from_pretrained(reference_model_folder)
    texts = [
        p if isinstance(p, str) else tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    prompt_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    expected = _transformers_first_tokens(reference_model_folder, tokenizer, prompt_ids, first_tokens)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False, seed=0)
    try:
        same_tokens = [
            llm.tokenize(text.encode(), add_bos=False, special=True) == ids for text, ids in zip(texts, prompt_ids)
        ]
        got = [_llama_first_tokens(llm, ids, first_tokens) for ids in prompt_ids]
    finally:
        llm.close()
    eos = tokenizer.eos_token_id
    agreed = [_common_start(until_eos(a, eos), until_eos(b, eos)) for a, b in zip(got, expected)]
    matching = sum(until_eos(a, eos) == until_eos(b, eos) for a, b in zip(got, expected))
    return {
        "file": path.name,
        "runtime": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "tokens": first_tokens,
        "same_tokens": same_tokens,
        "llama": got,
        "transformers": expected,
        "agreed": agreed,
        "matching": matching,
        "prompts": len(texts),
    }


def until_eos(tokens: list[int], eos: int | None) -> list[int]:
    # After the end of the reply the two runtimes need not agree (one stops, one goes on): compare up to it.
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


def _common_start(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _transformers_first_tokens(folder: Path, tokenizer, prompt_ids: list[list[int]], count: int) -> list[list[int]]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    outputs = []
    with torch.inference_mode():
        for ids in prompt_ids:  # one at a time: no padding, so nothing differs from llama.cpp's single sequence
            output = model.generate(
                torch.tensor([ids]),
                max_new_tokens=count,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=tokenizer.pad_token_id,
            )
            outputs.append(output[0, len(ids) :].tolist())
    return outputs


def _llama_first_tokens(llm, ids: list[int], count: int) -> list[int]:
    llm.reset()
    tokens = []
    for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        tokens.append(token)
        if len(tokens) == count:
            break
    return tokens
