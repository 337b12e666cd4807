"""Holding out a validation set: one seeded split that training and prediction share, so that predicting on
"the run's validation split" sees exactly the rows the run held out."""
from __future__ import annotations

import math

from engine.config.schema import RunConfig


def split_indices(count: int, seed: int, val_size: float) -> tuple[list[int], list[int]]:
    """(train, validation) positions: a seeded permutation, the first `val_size` of it held out."""
    import numpy

    order = numpy.random.default_rng(seed).permutation(count).tolist()
    held_out = math.ceil(count * val_size) if val_size else 0
    return order[held_out:], order[:held_out]


def split_dataset(dataset, config: RunConfig):
    """(train, validation or None) of a datasets.Dataset, split by `split_indices` with the run's seed."""
    if len(dataset) == 0:
        raise ValueError("no example is left to train on: every one was empty after truncation; raise cutoff_len")
    import numpy

    train, validation = split_indices(len(dataset), config.train.seed, config.data.val_size)
    # As numpy arrays: datasets fingerprints select()'s argument, and hashes an array as bytes, a list item by item.
    train, validation = numpy.asarray(train), numpy.asarray(validation)
    return dataset.select(train), dataset.select(validation) if len(validation) else None
