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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.data.encoding_parts import EncodeStats, encode_rows
from engine.data.templates import ChatTemplate, assistant_spans

IGNORE = -100
BATCH = 1000  # conversations per fast-tokenizer call


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
    trained, earlier ones are context (LLaMA-Factory's mask_history). In this process: for a few conversations
    (a preview, an evaluation); a registered dataset goes through encode_dataset."""
    encoder = Encoder(template, tokenizer, cutoff_len, train_on_prompt, mask_history)
    stats, examples = EncodeStats(), []
    progress = progress or (lambda done, total: None)
    progress(0, len(conversations))
    for start in range(0, len(conversations), BATCH):
        examples += encoder.encode(conversations[start : start + BATCH], stats)
        progress(min(start + BATCH, len(conversations)), len(conversations))
    return examples, stats


@dataclass(frozen=True)
class Encoder:
    """What turns conversations into examples; pickled whole into each encoding process."""

    template: ChatTemplate
    tokenizer: object
    cutoff_len: int
    train_on_prompt: bool = False
    mask_history: bool = False

    def encode(self, conversations: list[list[dict]], stats: EncodeStats) -> list[dict]:
        """The usable examples of `conversations`, their tallies added to `stats`."""
        rendered = [assistant_spans(self.template, self.tokenizer, messages) for messages in conversations]
        encoded = self.tokenizer(
            [text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True
        )
        examples = []
        for (_, spans), ids, offsets in zip(rendered, encoded["input_ids"], encoded["offset_mapping"]):
            spans = spans[-1:] if self.mask_history else spans
            labels = list(ids) if self.train_on_prompt else _mask(ids, offsets, spans)
            if len(ids) > self.cutoff_len:
                stats.truncated += 1
                ids, labels = ids[: self.cutoff_len], labels[: self.cutoff_len]
            if all(label == IGNORE for label in labels):
                stats.dropped_empty += 1
                continue
            examples.append({"input_ids": list(ids), "labels": labels})
            stats.examples += 1
            stats.tokens += len(ids)
            stats.trained_tokens += sum(label != IGNORE for label in labels)
            stats.lengths.append(len(ids))
        return examples


# ---------------------------------------------------------------------------------------------------------
# Cached encoding of a registered dataset: streamed to a memory-mapped Arrow file, shared by every run with
# the same file, registry entry, template, tokenizer and settings

CACHE_FORMAT = 2  # 2: one memory-mapped examples.arrow of int32 lists (1: datasets' save_to_disk folder)


def encode_dataset(name: str, template: ChatTemplate, tokenizer, cutoff_len: int, train_on_prompt: bool,
                   max_samples: int = 0, progress: Callable[[int, int], None] | None = None,
                   mask_history: bool = False):
    """(datasets.Dataset of input_ids/labels, summary dict) for registered dataset `name`, from the cache
    when the file, registry entry, template, tokenizer and settings are all unchanged; `progress` as in
    encode_conversations (not called for a cached dataset). The rows are read one part at a time and the
    examples written to disk as they come (engine/data/encoding_parts.py): memory stays bounded at any size."""
    from datasets import Dataset

    from engine.data.registry import get_entry

    entry = get_entry(name)
    encoder = Encoder(template, tokenizer, cutoff_len, train_on_prompt, mask_history)
    folder = _cache_folder(name, entry, encoder, max_samples)
    if not (folder / "summary.json").exists():
        # Written aside, then renamed into place whole: the ranks of a multi-process run all encode at once.
        staging = folder.with_name(f".{folder.name}.{os.getpid()}")
        try:
            stats = encode_rows(name, max_samples, encoder, staging / EXAMPLES, progress)
            (staging / "summary.json").write_text(json.dumps(stats.summary()))
            _put_in_place(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return Dataset.from_file(str(folder / EXAMPLES)), json.loads((folder / "summary.json").read_text())


EXAMPLES = "examples.arrow"  # the encoded examples in a cache entry (Arrow IPC stream: input_ids, labels)


def _cache_folder(name: str, entry, encoder: Encoder, max_samples: int) -> Path:
    from engine.data.hub import entry_fingerprint
    from engine.paths import cache_dir

    key = hashlib.sha256(entry_fingerprint(entry).encode())
    settings = [CACHE_FORMAT, vars(entry), encoder.template.source, encoder.template.enable_thinking,
                encoder.cutoff_len, encoder.train_on_prompt, max_samples, encoder.mask_history]
    key.update(json.dumps(settings, default=str).encode())  # default: the entry's folder is a Path
    key.update(_tokenizer_fingerprint(encoder.tokenizer).encode())
    return cache_dir() / "encoded" / f"{name}-{key.hexdigest()[:16]}"


def _put_in_place(staging: Path, folder: Path) -> None:
    if folder.exists() and not (folder / "summary.json").exists():
        shutil.rmtree(folder, ignore_errors=True)  # half-written by a process killed before this renaming
    try:
        staging.rename(folder)
    except OSError:  # another process put the same encoding there first
        pass


def example_lengths(dataset):
    """numpy array of the token count of every example of a datasets.Dataset, read from Arrow in slices."""
    import numpy
    import pyarrow.compute

    slices = dataset.with_format("arrow").iter(batch_size=65536)
    counts = [pyarrow.compute.list_value_length(table["input_ids"]).to_numpy() for table in slices]
    return numpy.concatenate(counts) if counts else numpy.zeros(0, dtype=numpy.int32)


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
