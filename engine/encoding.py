"""Conversations → token ids and labels, with prompt tokens masked.

A conversation is rendered with the chat template; the template module tells which characters belong
to assistant replies (content plus end-of-turn marker). A token is trained (label = its id) when it starts
inside such a span, otherwise its label is -100 and the loss ignores it. `train_on_prompt` trains every
token. Examples longer than `cutoff_len` are cut at the end and counted; one left with no trained token
is dropped and counted. Nothing is padded here: the collator pads each batch to its own longest example.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .templates import ChatTemplate, assistant_spans

IGNORE = -100
BATCH = 1000  # conversations per fast-tokenizer call


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
) -> tuple[list[dict], EncodeStats]:
    """[{"input_ids": [...], "labels": [...]}] for every usable conversation, and what happened to them."""
    stats, examples = EncodeStats(), []
    for start in range(0, len(conversations), BATCH):
        rendered = [assistant_spans(template, tokenizer, messages) for messages in conversations[start : start + BATCH]]
        encoded = tokenizer(
            [text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True
        )
        for (_, spans), ids, offsets in zip(rendered, encoded["input_ids"], encoded["offset_mapping"]):
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
    return examples, stats


def _mask(ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    labels, span_index = [], 0
    for token, (start, _end) in zip(ids, offsets):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= start
        labels.append(token if inside else IGNORE)
    return labels
