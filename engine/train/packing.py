"""Packing: several tokenized examples in one row of the batch, each still trained as if it were alone.

An example alone is a row [its tokens, padding]; packed, a row is [example A, example B, ..., a little padding].
Three things keep the examples of a row apart, so that each one's logits and loss are what they would be alone:
  positions   restart at 0 at the start of every example (RoPE sees the same positions as alone)
  attention   confined to the example: a block-diagonal causal mask. With sdpa or eager that is an explicit
              4D mask (batch, 1, row, row); eager adds its mask to the scores, so it gets a float mask (0 or
              the dtype's minimum) - a bool mask added as 1/0 would silently let every token see every other.
              With flash_attention_2 the batch is one flat row and the kernel reads where each example starts
              (cu_seq_lens), so no mask is built at all.
  labels      the first token of every example gets no label: alone it is never predicted (the model shifts
              labels by one), and packed it would be predicted from the previous example's last token.
Padding at the end of a row is its own block of positions, so no row of the mask is empty (an empty row is NaN).

The collators also say how many real (non-padding) tokens each batch holds: with a 4D mask the Trainer's own
count sums the whole row x row mask, and the throughput a run reports is real tokens per second. The count
travels in the batch and is taken out by a hook on the model as the batch is trained on (not when it is
collated: the data loader fetches a batch ahead, and evaluation batches go through the same collator).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

IGNORE = -100
TOKEN_COUNTS = "token_counts"  # batch key: (real tokens, all tokens) of the batch; the model never sees it


# ---------------------------------------------------------------------------------------------------------
# Which examples share a row


def pack_rows(lengths: list[int], row_length: int) -> list[list[int]]:
    """Indices of the examples in each row: best-fit decreasing (each example, longest first, goes into the
    fullest row it still fits in), which fills rows to ~95 % on chat-length data. No example is cut: one longer
    than `row_length` gets a row of its own."""
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (space left, row index), sorted: the fullest row that fits is a bisect away
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        length = lengths[index]
        slot = bisect.bisect_left(free, (length, -1))
        if slot == len(free):
            rows.append([index])
            bisect.insort(free, (row_length - length, len(rows) - 1))
            continue
        space, row = free.pop(slot)
        rows[row].append(index)
        bisect.insort(free, (space - length, row))
    return rows


def pack_examples(examples, row_length: int) -> list[dict]:
    """Rows of {"input_ids", "labels", "lengths"} from columns {"input_ids": [...], "labels": [...]} (a dict of
    lists, or a datasets.Dataset); `lengths` are the packed examples' token counts, in order."""
    input_ids, labels = examples["input_ids"], examples["labels"]
    packed = []
    for members in pack_rows([len(ids) for ids in input_ids], row_length):
        row = {"input_ids": [], "labels": [], "lengths": []}
        for index in members:
            row["input_ids"] += input_ids[index]
            row["labels"] += [IGNORE] + list(labels[index][1:])
            row["lengths"].append(len(input_ids[index]))
        packed.append(row)
    return packed


def pack_dataset(dataset, row_length: int):
    """A datasets.Dataset of the rows pack_examples builds, assembled in Arrow a slice of rows at a time: the
    examples (memory-mapped, maybe a million) never become Python lists, only their lengths do."""
    import pyarrow
    import pyarrow.compute
    from datasets import Dataset

    table = _examples_table(dataset)
    rows = pack_rows(pyarrow.compute.list_value_length(table["input_ids"]).to_numpy().tolist(), row_length)
    tables = [_packed_table(table, rows[start : start + PACK_SLICE]) for start in range(0, len(rows), PACK_SLICE)]
    return Dataset(pyarrow.concat_tables(tables) if tables else _packed_table(table, []))


PACK_SLICE = 4096  # packed rows assembled at once


def _examples_table(dataset):
    """The input_ids and labels of a datasets.Dataset as one pyarrow Table in the dataset's order. A split's
    dataset is the file's table plus an index mapping (datasets' `_indices`); it is taken here in one vectorised
    call, where datasets' own gather slices the table once per row (~100 s for a million rows)."""
    table = dataset.data.table.select(["input_ids", "labels"])
    indices = getattr(dataset, "_indices", None)
    return table if indices is None else table.take(indices.column(0))


def _packed_table(table, rows: list[list[int]]):
    """Packed rows {"input_ids", "labels", "lengths"} from the examples of `rows` (indices into the dataset):
    each row's members end to end, the first label of each member IGNORE, as pack_examples does."""
    import numpy
    import pyarrow

    members = table.take(pyarrow.array([index for row in rows for index in row], pyarrow.int64()))
    ids = members["input_ids"].combine_chunks()
    lengths = pyarrow.compute.list_value_length(ids).to_numpy().astype(numpy.int64)
    token_starts = numpy.concatenate([[0], numpy.cumsum(lengths)])
    member_offsets = numpy.concatenate([[0], numpy.cumsum([len(row) for row in rows], dtype=numpy.int64)])
    row_offsets = pyarrow.array(token_starts[member_offsets], pyarrow.int32())
    labels = members["labels"].combine_chunks().flatten().to_numpy(zero_copy_only=False).copy()
    labels[token_starts[:-1][lengths > 0]] = IGNORE  # alone, an example's first token is never predicted
    return pyarrow.table({
        "input_ids": pyarrow.ListArray.from_arrays(row_offsets, ids.flatten()),
        "labels": pyarrow.ListArray.from_arrays(row_offsets, pyarrow.array(labels, ids.type.value_type)),
        "lengths": pyarrow.ListArray.from_arrays(pyarrow.array(member_offsets, pyarrow.int32()),
                                                 pyarrow.array(lengths)),
    })


def packing_preview(lengths: list[int], row_length: int, batch_size: int) -> dict:
    """How examples of `lengths` tokens (already cut to the cutoff) would be packed, for the Data tab:
    `rows` (the examples of each packed row, 0-based, in order), `row_tokens`, `fill`, and the padding and steps
    an epoch takes in batches of `batch_size` unpacked (each batch padded to its longest example, in dataset
    order) and packed (each batch of rows padded to its longest row)."""
    rows = [sorted(row) for row in pack_rows(lengths, row_length)]
    row_tokens = [sum(lengths[i] for i in row) for row in rows]
    return {
        "examples": len(lengths), "rows": rows, "row_tokens": row_tokens,
        "fill": sum(row_tokens) / (len(rows) * row_length) if rows else 0.0,
        "padding_unpacked": batch_padding(lengths, batch_size),
        "padding_packed": batch_padding(row_tokens, batch_size),
        "steps_unpacked": math.ceil(len(lengths) / batch_size), "steps_packed": math.ceil(len(rows) / batch_size),
    }


def batch_padding(lengths: list[int], batch_size: int) -> int:
    """Padding tokens when consecutive batches of `batch_size` are each padded to their longest member."""
    batches = [lengths[start : start + batch_size] for start in range(0, len(lengths), batch_size)]
    return sum(max(batch) * len(batch) - sum(batch) for batch in batches)


def fill(rows, row_length: int) -> float:
    """Share of the row tokens that are real tokens, if every row were padded to `row_length` (`rows`: a list
    of packed rows, or a datasets.Dataset of them, summed in Arrow)."""
    if not len(rows):
        return 0.0
    if hasattr(rows, "with_format"):
        import pyarrow.compute

        real = pyarrow.compute.sum(pyarrow.compute.list_flatten(rows.with_format("arrow")[:]["lengths"])).as_py()
    else:
        real = sum(sum(row["lengths"]) for row in rows)
    return real / (len(rows) * row_length)


# ---------------------------------------------------------------------------------------------------------
# Batches


@dataclass
class TokenTally:
    """Tokens handed to the model so far: real ones and all of them (real + padding)."""

    real: int = 0
    total: int = 0

    def add(self, real: int, total: int) -> None:
        self.real += real
        self.total += total


def position_ids(lengths: list[int], width: int) -> list[int]:
    """0, 1, ... restarting at every example; the padding after them counts on as one more block."""
    positions = [p for length in lengths for p in range(length)]
    return positions + list(range(width - len(positions)))


def document_mask(lengths: list[int], width: int, dtype=None):
    """(1, width, width) block-diagonal causal mask: True (bool) or 0.0 (float `dtype`) where a token may look.
    Padding after the examples is one more block, so that every query row has somewhere to look."""
    import torch

    blocks = list(lengths) + ([width - sum(lengths)] if width > sum(lengths) else [])
    document = torch.repeat_interleave(torch.arange(len(blocks)), torch.tensor(blocks))
    allowed = (document[:, None] == document[None, :]) & torch.ones(width, width, dtype=torch.bool).tril()
    if dtype is None:
        return allowed[None]
    mask = torch.zeros(width, width, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return mask[None]


class PackedCollator:
    """Packed rows -> a batch with restarting positions and a per-example mask (see the module docstring).

    `attention` is the model's attn_implementation; `mask_dtype` is the compute dtype, used by eager's float
    mask.
    """

    def __init__(self, pad_token_id: int, attention: str, mask_dtype=None):
        self.pad_token_id, self.attention, self.mask_dtype = pad_token_id, attention, mask_dtype
        self.tally = TokenTally()  # filled by count_tokens() as batches are trained on

    def __call__(self, rows: list[dict]) -> dict:
        batch = self._flat(rows) if self.attention == "flash_attention_2" else self._padded(rows)
        batch[TOKEN_COUNTS] = (sum(sum(row["lengths"]) for row in rows), batch["input_ids"].numel())
        return batch

    def _padded(self, rows: list[dict]) -> dict:
        """(rows, width) tensors padded to the longest row, and the (rows, 1, width, width) mask."""
        import torch

        width = max(len(row["input_ids"]) for row in rows)
        pad = [width - len(row["input_ids"]) for row in rows]
        dtype = self.mask_dtype if self.attention == "eager" else None
        return {
            "input_ids": torch.tensor([row["input_ids"] + [self.pad_token_id] * n for row, n in zip(rows, pad)]),
            "labels": torch.tensor([row["labels"] + [IGNORE] * n for row, n in zip(rows, pad)]),
            "position_ids": torch.tensor([position_ids(row["lengths"], width) for row in rows]),
            "attention_mask": torch.stack([document_mask(row["lengths"], width, dtype) for row in rows]),
        }

    def _flat(self, rows: list[dict]) -> dict:
        """One (1, tokens) row holding every example, no padding; FlashAttention's varlen kernel reads where
        each example starts from cu_seq_lens (int32, as it wants them)."""
        import torch

        lengths = [length for row in rows for length in row["lengths"]]
        starts = torch.tensor([0, *lengths], dtype=torch.int32).cumsum(0, dtype=torch.int32)
        return {
            "input_ids": torch.tensor([[token for row in rows for token in row["input_ids"]]]),
            "labels": torch.tensor([[label for row in rows for label in row["labels"]]]),
            "position_ids": torch.tensor([position_ids(lengths, sum(lengths))]),
            "cu_seq_lens_q": starts,
            "cu_seq_lens_k": starts,
            "max_length_q": max(lengths),
            "max_length_k": max(lengths),
        }


class CountingCollator:
    """Wraps a padding collator (one example per row) and adds the batch's real and padded token counts."""

    def __init__(self, collator):
        self.collator, self.tally = collator, TokenTally()

    def __call__(self, features: list[dict]) -> dict:
        batch = self.collator(features)
        batch[TOKEN_COUNTS] = (int(batch["attention_mask"].sum()), batch["input_ids"].numel())
        return batch


def count_tokens(model, tally: TokenTally) -> None:
    """Take the token counts out of every batch `model` is called with, adding them to `tally` when it trains."""

    def take_counts(module, args, kwargs):
        counts = kwargs.pop(TOKEN_COUNTS, None)
        if counts is not None and module.training:
            tally.add(*(int(count) for count in counts))
        return args, kwargs

    model.register_forward_pre_hook(take_counts, with_kwargs=True)


# ---------------------------------------------------------------------------------------------------------
# What a stage calls


def batching(train, validation, tokenizer, plan, mask_dtype=None) -> tuple:
    """(train, validation, collator, summary) for encoded SFT examples under the speed plan: packed rows and the
    PackedCollator when packing is on, else the examples as they are, padded per batch. `collator.tally` counts
    real and padded tokens once count_tokens(model, collator.tally) is set; `summary` describes the rows for the
    run's start event."""
    if not plan.packing:
        from transformers import DataCollatorForSeq2Seq

        padding = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE)
        return train, validation, CountingCollator(padding), {}
    examples = len(train)
    train = pack_dataset(train, plan.row_length)
    validation = pack_dataset(validation, plan.row_length) if validation is not None else None
    summary = {"packed_rows": len(train), "examples_per_row": round(examples / len(train), 2),
               "row_length": plan.row_length, "row_fill": round(fill(train, plan.row_length), 4)}
    return train, validation, PackedCollator(tokenizer.pad_token_id, plan.attention, mask_dtype), summary
