"""The embedded default model: a tiny Llama built offline, deterministically, in seconds.

There is no Hugging Face Hub here, so `builtin:tiny-demo` is made on first use from the bundled demo
text: a byte-level BPE tokenizer trained with `tokenizers`, a 4-layer Llama, and a short pre-training pass
so that fine-tuning and chat look like the real thing. The result is a normal Hugging Face model folder
(AutoModelForCausalLM / AutoTokenizer load it), cached under cache_dir() and rebuilt when the recipe or
the bundled text changes. `builtin:tiny-vlm` (engine/models/builtin_vlm.py) is a vision-language model built
on top of it the same way.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.models.builtin_vlm import TinyVlmSpec, build_vlm
from engine.paths import PROJECT_DIR, cache_dir

PREFIX = "builtin:"
BUNDLED_TEXT = ("demo_pretrain.txt", "demo_alpaca_en.json", "demo_alpaca_zh.json")
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "<|im_end|>", "pad_token": "<pad>"}
EXTRA_TOKENS = ["<|im_start|>"]


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 4096
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    # Wider than the usual 0.02: with a 128-wide model and frozen tied embeddings, small weights cap the
    # logits so low that LoRA cannot make confident predictions (30 steps on one batch: 5.8→5.1 vs 5.2→0.2).
    initializer_range: float = 0.08
    # The CPU build is paid once per cache: ~100 steps of 8×128 tokens take ~20 s on 2 cores.
    pretrain_steps: int = 100
    pretrain_block: int = 128  # tokens per pre-training sequence
    pretrain_batch: int = 8
    recipe_version: int = 2


BUILTIN_MODELS = {"tiny-demo": TinySpec(), "tiny-vlm": TinyVlmSpec()}


def is_builtin(name: str) -> bool:
    return name.startswith(PREFIX)


def builtin_path(name: str) -> Path:
    """The folder of built-in model `name` ("builtin:tiny-demo"), building it first if needed."""
    key, spec, folder = _cached_folder(name)

    def build() -> None:
        language_folder = builtin_path(spec.language_model) if isinstance(spec, TinyVlmSpec) else None
        _build(spec, folder, language_folder)

    return built_once(folder, key, build)


def built_once(folder: Path, lock_name: str, build) -> Path:
    """`folder`, made by `build()` unless it holds a config.json already. Two processes may ask at once (the UI
    and a worker): one builds, the other waits on the lock beside it and then finds the folder made."""
    if (folder / "config.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{lock_name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "config.json").exists():
            build()
    return folder


def needs_build(name: str) -> bool:
    """True when `name` is a built-in model that is not in the cache yet (the next use builds it)."""
    return is_builtin(name) and not (_cached_folder(name)[2] / "config.json").exists()


def is_builtin_vision(name: str) -> bool:
    """Whether built-in model `name` reads images (its recipe says so; nothing is built)."""
    return isinstance(BUILTIN_MODELS.get(name.removeprefix(PREFIX)), TinyVlmSpec)


def _cached_folder(name: str) -> tuple[str, object, Path]:
    key = name.removeprefix(PREFIX)
    if key not in BUILTIN_MODELS:
        known = ", ".join(PREFIX + k for k in BUILTIN_MODELS)
        raise ValueError(f"unknown built-in model {name!r}; built-in models: {known}")
    spec = BUILTIN_MODELS[key]
    # The vision model is built on the text model: that one is built (or found) first.
    language_folder = builtin_path(spec.language_model) if isinstance(spec, TinyVlmSpec) else None
    fingerprint = spec.fingerprint(language_folder) if language_folder else _fingerprint(spec)
    return key, spec, cache_dir() / "builtin" / f"{key}-{fingerprint}"


def _fingerprint(spec: TinySpec) -> str:
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for name in BUNDLED_TEXT:
        digest.update((PROJECT_DIR / "data" / name).read_bytes())
    digest.update((PROJECT_DIR / "templates" / "chatml.jinja").read_bytes())  # its tokenizer ships this template
    return digest.hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------
# Building


def _build(spec: TinySpec | TinyVlmSpec, folder: Path, language_folder: Path | None) -> None:
    started = time.time()
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        if language_folder:
            build_vlm(spec, language_folder, staging)
        else:
            _build_text_model(spec, staging)
        (staging / "builtin.json").write_text(
            json.dumps({"spec": asdict(spec), "build_seconds": round(time.time() - started, 1)}, indent=2)
        )
        staging.rename(folder)  # atomic: readers never see a half-written model
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_text_model(spec: TinySpec, staging: Path) -> None:
    documents = _bundled_documents()
    tokenizer = _train_tokenizer(spec, documents)
    model = _pretrain(spec, tokenizer, documents)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)


def _bundled_documents() -> list[str]:
    """Prose paragraphs plus the instruction/answer pairs, as plain text."""
    data = PROJECT_DIR / "data"
    text = (data / "demo_pretrain.txt").read_text(encoding="utf-8")
    documents = [part.strip() for part in text.split("\n\n") if part.strip()]
    for name in BUNDLED_TEXT[1:]:
        for row in json.loads((data / name).read_text(encoding="utf-8")):
            documents.append("\n".join(v for v in (row["instruction"], row.get("input", ""), row["output"]) if v))
    characters = _common_chinese_characters()
    documents += [characters[start:start + 50] for start in range(0, len(characters), 50)]
    return documents


def _common_chinese_characters() -> str:
    """GB2312's 3,755 level-1 characters (the everyday set), in its order.

    The demo text has under a thousand distinct characters; without these, a user's Chinese text is mostly
    byte pieces the model never saw, and its loss starts above a uniform guess. Rows 0xB0-0xD7, cells
    0xA1-0xFE; the last row ends at 0xF9.
    """
    return "".join(
        bytes([row, cell]).decode("gb2312")
        for row in range(0xB0, 0xD8)
        for cell in range(0xA1, 0xFF)
        if not (row == 0xD7 and cell > 0xF9)
    )


def _train_tokenizer(spec: TinySpec, documents: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from engine.data.templates import load_template

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = list(SPECIAL_TOKENS.values()) + EXTRA_TOKENS
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(documents, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL_TOKENS,
                                        additional_special_tokens=EXTRA_TOKENS)
    tokenizer.chat_template = load_template("chatml").source
    tokenizer.model_max_length = spec.max_position_embeddings
    return tokenizer


def _pretrain(spec: TinySpec, tokenizer, documents: list[str]):
    """A few hundred steps of next-token prediction on the bundled text, fixed seed, on the CPU."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        initializer_range=spec.initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    stream = [tok for doc in documents for tok in tokenizer(doc)["input_ids"] + [tokenizer.eos_token_id]]
    usable = len(stream) // spec.pretrain_block * spec.pretrain_block
    blocks = torch.tensor(stream[:usable]).view(-1, spec.pretrain_block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for step in range(spec.pretrain_steps):
        for group in optimizer.param_groups:  # cosine decay keeps the last steps gentle
            group["lr"] = 3e-3 * 0.5 * (1 + math.cos(math.pi * step / spec.pretrain_steps))
        batch = blocks[torch.randint(len(blocks), (spec.pretrain_batch,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=128,
    )
    return model
