"""Tokens per second that can be trusted: real (non-padding) tokens over the time spent training only.

The clock runs from the end of one optimizer step to the end of the next, and restarts after an evaluation or
a checkpoint save, so neither their time nor the tokens of the evaluation batches count. Each log event gets
the figures of the window since the previous one (a steady-state rate, not a running total with start-up in
it); the benchmark (bench/train_throughput.py) prints the same quantity.
"""
from __future__ import annotations

import time


class Throughput:
    """Feed it the token counters at the Trainer's step ends, evaluations and saves; read `window()` at each log.

    Counters are (real tokens so far, all tokens so far or None when padding is not known)."""

    def __init__(self):
        self.mark_time, self.mark_counts = time.perf_counter(), (0, 0)
        self.seconds, self.real, self.total = 0.0, 0, 0  # the window since the last log

    def restart(self, counts: tuple[int, int | None]) -> None:
        """Start the clock again here (after an evaluation or a save, or at the start of training)."""
        self.mark_time, self.mark_counts = time.perf_counter(), (counts[0], counts[1] or 0)

    def step_done(self, counts: tuple[int, int | None]) -> None:
        """One optimizer step ended: its time and tokens join the window."""
        self.seconds += time.perf_counter() - self.mark_time
        self.real += counts[0] - self.mark_counts[0]
        self.total += (counts[1] or 0) - self.mark_counts[1]
        self.restart(counts)

    def window(self) -> dict:
        """{"real_tokens_per_s", "padding_share"} of the window since the last call (padding_share only
        when the total is known); empty before any step."""
        if not self.seconds or not self.real:
            return {}
        fields = {"real_tokens_per_s": round(self.real / self.seconds, 1)}
        if self.total:
            fields["padding_share"] = round(1 - self.real / self.total, 4)
        self.seconds, self.real, self.total = 0.0, 0, 0
        return fields
