"""Conversations → token ids and labels, with prompt tokens masked.

A conversation is rendered with the chat template; the template module tells which characters belong
to assistant replies (content plus end-of-turn marker). A token is trained (label = its id) when it starts
inside such a span, otherwise its label is -100 and the loss ignores it. `train_on_prompt` trains every
token. Examples longer than `cutoff_len` are cut at the end and counted; one left with no trained token
is dropped and counted. Nothing is padded here: the collator pads each batch to its own longest example.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Callable

from engine.data.templates import ChatTemplate, assistant_spans

IGNORE = -100
BATCH = 1000  # conversations per fast-tokenizer call
PARALLEL_FROM = 4000  # conversations; below this, starting worker processes costs more than it saves


@dataclass
class EncodeStats:
    examples: int = 0
    truncated: int = 0
    dropped_empty: int = 0  # nothing left to learn after truncation
    tokens: int = 0
    trained_tokens: int = 0
    lengths: list[int] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "examples": self.examples,
            "truncated": self.truncated,
            "dropped_no_target": self.dropped_empty,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
        }


def encode_conversations(
    conversations: list[list[dict]],
    template: ChatTemplate,
    tokenizer,
    cutoff_len: int,
    train_on_prompt: bool = False,
    progress: Callable[[int, int], None] | None = None,
    mask_history: bool = False,
) -> tuple[list[dict], EncodeStats]:
    """[{"input_ids": [...], "labels": [...]}] for every usable conversation, and what happened to them;
    `progress(done, total)` is told after each batch. `mask_history`: only each conversation's last reply is
    trained, earlier ones are context (LLaMA-Factory's mask_history)."""
    stats, examples = EncodeStats(), []
    progress = progress or (lambda done, total: None)
    progress(0, len(conversations))
    rendered_all = render_all(conversations, template, tokenizer)
    for start in range(0, len(rendered_all), BATCH):
        rendered = rendered_all[start : start + BATCH]
        encoded = tokenizer(
            [text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True
        )
        for (_, spans), ids, offsets in zip(rendered, encoded["input_ids"], encoded["offset_mapping"]):
            spans = spans[-1:] if mask_history else spans
            labels = list(ids) if train_on_prompt else _mask(ids, offsets, spans)
            if len(ids) > cutoff_len:
                stats.truncated += 1
                ids, labels = ids[:cutoff_len], labels[:cutoff_len]
            if all(label == IGNORE for label in labels):
                stats.dropped_empty += 1
                continue
            examples.append({"input_ids": list(ids), "labels": labels})
            stats.examples += 1
            stats.tokens += len(ids)
            stats.trained_tokens += sum(label != IGNORE for label in labels)
            stats.lengths.append(len(ids))
        progress(start + len(rendered), len(rendered_all))
    return examples, stats


# ---------------------------------------------------------------------------------------------------------
# Rendering in parallel: Jinja rendering, not tokenization, is the slow part (~1 ms a conversation)


def _workers() -> int:
    return min(os.cpu_count() or 1, 8)


def render_all(conversations: list[list[dict]], template: ChatTemplate, tokenizer) -> list[tuple[str, list]]:
    """assistant_spans of every conversation, split over the CPU cores when there are many."""
    if len(conversations) < PARALLEL_FROM or _workers() == 1:
        return [assistant_spans(template, tokenizer, messages) for messages in conversations]
    import multiprocessing

    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the Rust pool must not be live across fork
    chunk = -(-len(conversations) // _workers())
    parts = [conversations[i : i + chunk] for i in range(0, len(conversations), chunk)]
    with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
        rendered = pool.starmap(_render_part, [(part, template, tokenizer) for part in parts])
    return [item for part in rendered for item in part]


def _render_part(conversations, template, tokenizer):
    return [assistant_spans(template, tokenizer, messages) for messages in conversations]


# ---------------------------------------------------------------------------------------------------------
# Cached encoding of a registered dataset: a second load of the same file is a memory-mapped read


def encode_dataset(name: str, template: ChatTemplate, tokenizer, cutoff_len: int, train_on_prompt: bool,
                   max_samples: int = 0, progress: Callable[[int, int], None] | None = None,
                   mask_history: bool = False):
    """(datasets.Dataset of input_ids/labels, summary dict) for registered dataset `name`, from the cache
    when the file, registry entry, template, tokenizer and settings are all unchanged; `progress` as in
    encode_conversations (not called for a cached dataset)."""
    from datasets import Dataset, disable_progress_bars, load_from_disk

    from engine.data.conversion import load_conversations
    from engine.data.hub import entry_fingerprint
    from engine.data.registry import get_entry
    from engine.paths import cache_dir

    entry = get_entry(name)
    key = hashlib.sha256(entry_fingerprint(entry).encode())
    settings = [vars(entry), template.source, template.enable_thinking, cutoff_len, train_on_prompt, max_samples,
                mask_history]
    key.update(json.dumps(settings, default=str).encode())  # default: the entry's folder is a Path
    key.update(_tokenizer_fingerprint(tokenizer).encode())
    folder = cache_dir() / "encoded" / f"{name}-{key.hexdigest()[:16]}"
    if (folder / "summary.json").exists():
        return load_from_disk(str(folder)), json.loads((folder / "summary.json").read_text())
    examples, stats = encode_conversations(
        load_conversations(name, max_samples), template, tokenizer, cutoff_len, train_on_prompt, progress,
        mask_history,
    )
    dataset = Dataset.from_dict(
        {"input_ids": [e["input_ids"] for e in examples], "labels": [e["labels"] for e in examples]}
    )
    disable_progress_bars()  # tqdm bars would flood train.log; progress is reported through events instead
    # Written aside, then renamed into place whole: the ranks of a multi-process run all encode at once.
    staging = folder.with_name(f".{folder.name}.{os.getpid()}")
    dataset.save_to_disk(str(staging))
    (staging / "summary.json").write_text(json.dumps(stats.summary()))
    if folder.exists() and not (folder / "summary.json").exists():
        shutil.rmtree(folder, ignore_errors=True)  # half-written by a process killed before this renaming
    try:
        staging.rename(folder)
    except OSError:  # another process put the same encoding there first
        shutil.rmtree(staging, ignore_errors=True)
    return load_from_disk(str(folder)), stats.summary()


def _tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    special = json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str)
    return hashlib.sha256((text + special).encode()).hexdigest()


def _mask(ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    labels, span_index = [], 0
    for token, (start, _end) in zip(ids, offsets):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= start
        labels.append(token if inside else IGNORE)
    return labels
