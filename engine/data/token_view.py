"""Seeing data as the model will: one row token by token (trained or masked), a length histogram, stats.

Masking comes from engine.data.encoding, the code training runs, so what is shown is what is trained.
"""
from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable, Iterator

from engine.data.checker import row_text
from engine.data.conversion import (dataset_kind, iter_conversations, iter_texts, load_texts,
                                    load_vision_samples)
from engine.data.encoding import IGNORE, encode_conversations, encode_dataset, example_lengths
from engine.data.hub import iter_entry_rows
from engine.data.registry import get_entry
from engine.data.templates import ChatTemplate, load_template, render_messages

NO_CUTOFF = sys.maxsize  # lengths are measured untruncated; the cutoff is applied when counting


def _template(template: ChatTemplate | str, tokenizer) -> ChatTemplate:
    return template if isinstance(template, ChatTemplate) else load_template(template, tokenizer)


# ---------------------------------------------------------------------------------------------------------
# One row


def token_view(
    messages: list[dict], template: ChatTemplate | str, tokenizer, train_on_prompt: bool = False,
    mask_history: bool = False,
) -> list[tuple[str, bool]]:
    """[(token text, trained?)] for `messages` rendered with `template`; the texts join to the exact render.

    The token count is the list's length. A conversation with nothing to train on shows every token masked.
    """
    template = _template(template, tokenizer)
    text = render_messages(template, tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    examples, _ = encode_conversations([messages], template, tokenizer, NO_CUTOFF, train_on_prompt,
                                       mask_history=mask_history)
    labels = examples[0]["labels"] if examples else [IGNORE] * len(encoded["input_ids"])
    return list(zip(_pieces(text, encoded["offset_mapping"]), (label != IGNORE for label in labels)))


def vision_token_view(
    sample, template: ChatTemplate | str, processor, train_on_prompt: bool = False
) -> list[tuple[str, bool]]:
    """token_view for a conversation with images (a VisionSample): each image is shown as the vision tokens the
    model reads in its place (the processor's image token, as many times as the picture gives), all masked."""
    from engine.data.vision_encoding import encode_vision_samples, image_token_counts, render_sample

    tokenizer = processor.tokenizer
    template = _template(template, tokenizer)
    text, _ = render_sample(sample, template, processor)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    examples, _ = encode_vision_samples([sample], template, processor, NO_CUTOFF, train_on_prompt)
    image_id, sizes = tokenizer.convert_tokens_to_ids(processor.image_token), image_token_counts(sample, processor)
    pieces, remaining = [], iter(sizes)
    for token, piece in zip(encoded["input_ids"], _pieces(text, encoded["offset_mapping"])):
        pieces += [piece] * next(remaining) if token == image_id else [piece]
    labels = examples[0]["labels"] if examples else [IGNORE] * len(pieces)
    return list(zip(pieces, (label != IGNORE for label in labels)))


def _pieces(text: str, offsets: list[tuple[int, int]]) -> list[str]:
    """Each token's slice of `text`, so that the slices join back to `text` exactly.

    A gap the tokenizer skipped (spaces dropped by a word-level tokenizer) joins the next token; byte-level
    tokens that share one character (two halves of a Chinese character) give it to the first of them.
    """
    pieces, covered = [], 0
    for _start, end in offsets:
        pieces.append(text[covered:end] if end > covered else "")
        covered = max(covered, end)
    if pieces:
        pieces[-1] += text[covered:]
    return pieces


# ---------------------------------------------------------------------------------------------------------
# A whole dataset


def token_lengths(name: str, template: ChatTemplate | str, tokenizer) -> list[int]:
    """Untruncated token length of every row of dataset `name` under `template` (plain text: the document).

    A dataset with pictures takes the model's processor as `tokenizer`: each picture counts as the vision tokens
    it expands to, as training sees it.
    """
    kind = dataset_kind(name)
    if kind == "text":
        return [len(ids) for ids in tokenizer(load_texts(name), add_special_tokens=False)["input_ids"]]
    if kind == "vision":
        return _vision_lengths(name, template, tokenizer)
    template = _template(template, tokenizer)
    encoded, _ = encode_dataset(name, template, tokenizer, NO_CUTOFF, False)  # cached, in parts, any size
    return example_lengths(encoded).tolist()


def _vision_lengths(name: str, template: ChatTemplate | str, processor) -> list[int]:
    from engine.data.vision_encoding import encode_vision_samples

    template = _template(template, processor.tokenizer)
    _, stats = encode_vision_samples(load_vision_samples(name), template, processor, NO_CUTOFF)
    return stats.lengths


def length_histogram(name: str, template: ChatTemplate | str, tokenizer, cutoff_len: int):
    """(matplotlib Figure, stats) of the token lengths of dataset `name`, with the cutoff drawn; `tokenizer` is
    the processor for a dataset with pictures (see token_lengths).

    stats: rows, truncated, cutoff_len, mean, median, p95, max, and `summary` in words.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede any pyplot import elsewhere
    from matplotlib.figure import Figure  # a Figure without pyplot keeps no global state between users

    lengths = token_lengths(name, template, tokenizer)
    stats = _length_stats(lengths, cutoff_len)
    figure = Figure(figsize=(7, 3.2), layout="constrained")
    axes = figure.add_subplot()
    axes.hist(lengths, bins=min(50, max(5, len(set(lengths)))), color="#4C78A8")
    axes.axvline(cutoff_len, color="#E45756", linestyle="--", label=f"cutoff {cutoff_len}")
    axes.set(xlabel="tokens per row", ylabel="rows", title=f"{name}: {stats['summary']}")
    axes.legend()
    return figure, stats


def _length_stats(lengths: list[int], cutoff_len: int) -> dict:
    truncated = sum(length > cutoff_len for length in lengths)
    ordered = sorted(lengths) or [0]
    return {
        "rows": len(lengths),
        "truncated": truncated,
        "cutoff_len": cutoff_len,
        "mean": round(statistics.fmean(ordered), 1),
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
        "summary": f"{truncated} of {len(lengths)} rows would be truncated at cutoff {cutoff_len}",
    }


# ---------------------------------------------------------------------------------------------------------
# Basic statistics


def detect_language(text: str) -> str:
    """ "zh" when Han characters are at least a fifth of the letters, "en" for Latin script, else "other"."""
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if han and han * 5 >= han + latin:
        return "zh"
    return "en" if latin else "other"


def dataset_stats(name: str) -> dict:
    """rows, turns per conversation (min/mean/max user turns), languages by script, average lengths in characters.

    One pass over the rows, one row held at a time: a tally, not a list, so a large dataset costs time only."""
    kind = dataset_kind(name)
    if kind == "text":
        return _text_stats(iter_texts(name))
    if kind in ("preference", "kto"):
        return _text_stats(row_text(row) for row in iter_entry_rows(get_entry(name)))
    return _conversation_stats(iter_conversations(name))


def _conversation_stats(conversations: Iterable[list[dict]]) -> dict:
    turns, prompts, answers = _Tally(), _Tally(), _Tally()

    def texts() -> Iterator[str]:  # the text tally reads the conversations; the others count on the way
        for messages in conversations:
            turns.add(sum(message["role"] == "user" for message in messages))
            prompts.add(sum(len(m["content"]) for m in messages if m["role"] != "assistant"))
            answers.add(sum(len(m["content"]) for m in messages if m["role"] == "assistant"))
            yield " ".join(m["content"] for m in messages)

    return {
        **_text_stats(texts()),
        "turns": {"min": turns.low, "mean": round(turns.mean, 2), "max": turns.high},
        "average_prompt_chars": round(prompts.mean, 1),
        "average_response_chars": round(answers.mean, 1),
    }


def _text_stats(texts: Iterable[str]) -> dict:
    languages: dict[str, int] = {}
    lengths = _Tally()
    for text in texts:
        language = detect_language(text)
        languages[language] = languages.get(language, 0) + 1
        lengths.add(len(text))
    return {
        "rows": lengths.count,
        "languages": dict(sorted(languages.items(), key=lambda item: -item[1])),
        "average_chars": round(lengths.mean, 1),
    }


class _Tally:
    """Count, sum, min and max of whole numbers seen one at a time; 0 for each when none was."""

    def __init__(self):
        self.count = self.total = self.low = self.high = 0

    def add(self, value: int) -> None:
        self.low = value if not self.count else min(self.low, value)
        self.high = max(self.high, value)
        self.count, self.total = self.count + 1, self.total + value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0
