"""Encoding a registered dataset of any size: its rows in parts, the examples streamed to one Arrow file.

The rows are read one part (PART conversations) at a time; the examples of each part are written to disk as
soon as they are encoded, so that memory holds a few parts whatever the dataset's size, and the finished file
is memory-mapped by `datasets`. From PARALLEL_FROM conversations the parts go to encoding processes, one per
core: rendering the chat template (~1 ms a conversation) is the slow part, and it is pure Python.

Why these processes are built by hand rather than taken from multiprocessing.Pool or `datasets.map`:
  - Not forked from the training process. It has threads (event log, stop watcher, the tokenizer's pool); a
    fork copies a lock another thread happened to hold, and the child waits on it forever (issue 27: a 20k-row
    run hung at "encoding 0/20000"). They come from a forkserver, a clean one-thread process that has already
    imported the encoder, so a new one costs a fork, not an import of transformers. (`datasets.map` with
    num_proc forks, as does multiprocessing's default on Linux.)
  - Each process has its own pipe and nothing else is shared: Pool's shared task queue has a lock that a stuck
    process can hold, and Pool.terminate() then waits on that lock forever. Here a part that brings no answer
    within part_timeout() fails the encoding with data.encode_stalled; its processes are killed, not joined.
  - Parts travel as files, messages are a few bytes: a send never waits on a process that stopped reading.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing.connection import wait
from pathlib import Path

from engine.data.registry import DataError
from engine.messages import say

PART = 1000  # conversations per part: the unit of work, of progress, and of the stall bound
PARALLEL_FROM = 4000  # conversations; below this, starting encoding processes costs more than it saves
STARTUP_TIMEOUT_S = 300  # an encoding process that cannot even start (import, tokenizer) within this is stuck
PART_TIMEOUT_ENV = "STUDIO_ENCODE_PART_TIMEOUT_S"
START_METHOD = "forkserver"  # never "fork" (see above); bench/data_throughput.py --compare measures "spawn"


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

    def add(self, other: EncodeStats) -> None:
        """Count `other`'s examples too (a part's, encoded elsewhere)."""
        for name in ("examples", "truncated", "dropped_empty", "tokens", "trained_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.lengths += other.lengths

    def without_lengths(self) -> EncodeStats:
        """The tallies alone: the lengths of a whole dataset are read from its Arrow column instead."""
        return EncodeStats(self.examples, self.truncated, self.dropped_empty, self.tokens, self.trained_tokens)


def part_timeout() -> float:
    """Seconds a part may take before the encoding is called stuck: a part takes about a second on one core,
    so the default of 300 only fires when something is wrong. STUDIO_ENCODE_PART_TIMEOUT_S changes it."""
    return float(os.environ.get(PART_TIMEOUT_ENV, 300))


def encoding_processes(conversations: int) -> int:
    """How many encoding processes `conversations` are worth: one per usable core, none for a few."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 0 if conversations < PARALLEL_FROM or cores < 2 else min(cores, 8, -(-conversations // PART))


def encode_rows(name: str, max_samples: int, encoder, path: Path,
                progress: Callable[[int, int], None] | None = None) -> EncodeStats:
    """Encode the rows of registered dataset `name` (its first `max_samples`, 0 = all) with `encoder` (an
    engine.data.encoding.Encoder) into the Arrow file
    `path` (input_ids, labels: lists of int32), in order; `progress(done, total)` after each part."""
    from engine.data.conversion import iter_conversations

    total = sum(1 for _ in _first(iter_conversations(name), max_samples))  # counted first: honest progress
    parts = _parts(_first(iter_conversations(name), max_samples))
    path.parent.mkdir(parents=True, exist_ok=True)
    report = _Progress(total, progress)
    processes = encoding_processes(total)
    if processes:
        return _Processes(processes, encoder, path.parent).encode(parts, path, report)
    return _encode_here(parts, encoder, path, report)


def _first(rows: Iterator, count: int) -> Iterator:
    return islice(rows, count or None)


def _parts(conversations: Iterable[list[dict]]) -> Iterator[list[list[dict]]]:
    iterator = iter(conversations)
    while part := list(islice(iterator, PART)):
        yield part


class _Progress:
    """progress(done, total) in conversations, told after each part."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None):
        self.total, self.done, self.progress = total, 0, progress or (lambda done, total: None)
        self.progress(0, total)

    def add(self, conversations: int) -> None:
        self.done += conversations
        self.progress(self.done, self.total)


def _encode_here(parts: Iterable[list[list[dict]]], encoder, path: Path, report: _Progress) -> EncodeStats:
    """Every part in this process (a small dataset, or a machine with one core)."""
    stats = EncodeStats()
    with _ExamplesWriter(path) as writer:
        for part in parts:
            writer.write(_table(encoder.encode(part, stats)))
            report.add(len(part))
    return stats.without_lengths()


# ---------------------------------------------------------------------------------------------------------
# Arrow: examples as lists of int32 (a token id fits; half the bytes of datasets' default int64)


def _table(examples: list[dict]):
    import pyarrow

    column = pyarrow.list_(pyarrow.int32())
    return pyarrow.table({
        "input_ids": pyarrow.array([example["input_ids"] for example in examples], type=column),
        "labels": pyarrow.array([example["labels"] for example in examples], type=column),
    })


class _ExamplesWriter:
    """An Arrow IPC stream file (the layout datasets.Dataset.from_file memory-maps), written a table at a time."""

    def __init__(self, path: Path):
        import pyarrow

        self.path, self.sink = path, pyarrow.OSFile(str(path), "wb")
        schema = pyarrow.schema([("input_ids", pyarrow.list_(pyarrow.int32())),
                                 ("labels", pyarrow.list_(pyarrow.int32()))])
        self.writer = pyarrow.ipc.new_stream(self.sink, schema)

    def write(self, table) -> None:
        self.writer.write_table(table)

    def write_file(self, path: Path) -> None:
        """Append the tables of another such file (a part's), read memory-mapped."""
        import pyarrow

        with pyarrow.memory_map(str(path)) as source:
            self.write(pyarrow.ipc.open_stream(source).read_all())

    def __enter__(self):
        return self

    def __exit__(self, *error) -> None:
        self.writer.close()
        self.sink.close()


# ---------------------------------------------------------------------------------------------------------
# Encoding processes: each on its own pipe; a part goes out as a file and comes back as a file


def _serve(link, encoder, folder: Path) -> None:
    """An encoding process: says it is ready, then encodes part after part until told None."""
    link.send(("ready", None, None))
    while (number := link.recv()) is not None:
        try:
            stats = EncodeStats()
            conversations = [json.loads(line) for line in _in_file(folder, number).read_text("utf-8").splitlines()]
            table = _table(encoder.encode(conversations, stats))
            with _ExamplesWriter(_out_file(folder, number)) as writer:
                writer.write(table)
            link.send((number, stats.without_lengths(), None))
        except Exception as error:  # told to the parent, which fails the encoding with it
            link.send((number, None, _picklable(error)))


def _picklable(error: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def _in_file(folder: Path, number: int) -> Path:
    return folder / f"part-{number:06d}.jsonl"


def _out_file(folder: Path, number: int) -> Path:
    return folder / f"part-{number:06d}.arrow"


class _Processes:
    """`count` encoding processes started from a forkserver; see the module docstring for why."""

    def __init__(self, count: int, encoder, folder: Path):
        context = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":
            context.set_forkserver_preload(["engine.data.encoding", "transformers"])
        self.folder, self.links = folder, {}
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs, encoder, folder), daemon=True)
            process.start()
            theirs.close()
            self.links[ours] = process

    def encode(self, parts: Iterator[list[list[dict]]], path: Path, report: _Progress) -> EncodeStats:
        try:
            self._start()
            stats = self._run(parts, path, report)
        except BaseException:
            self._kill()
            raise
        self._close()
        return stats

    def _start(self) -> None:
        """Wait for every process to say it is ready (imports done, tokenizer loaded)."""
        waiting, deadline = set(self.links), time.monotonic() + STARTUP_TIMEOUT_S
        while waiting:
            ready = wait(list(waiting), max(0.0, deadline - time.monotonic()))
            if not ready:
                raise DataError(say("data.encode_start_stalled", seconds=STARTUP_TIMEOUT_S))
            for link in ready:
                self._receive(link)
                waiting.discard(link)

    def _run(self, parts: Iterator[list[list[dict]]], path: Path, report: _Progress) -> EncodeStats:
        """Hand a part to every idle process, merge the finished ones in order, until all are merged."""
        stats, busy, finished, sizes = EncodeStats(), {}, {}, {}  # busy: link -> (part number, handed at)
        numbered, merged = enumerate(parts), 0
        with _ExamplesWriter(path) as writer:
            while True:
                for link in [link for link in self.links if link not in busy]:
                    number, part = next(numbered, (None, None))
                    if part is None:
                        break
                    _in_file(self.folder, number).write_text(
                        "".join(json.dumps(messages, ensure_ascii=False) + "\n" for messages in part), "utf-8")
                    link.send(number)
                    busy[link], sizes[number] = (number, time.monotonic()), len(part)
                if not busy:
                    return stats
                for link in self._answered(busy):
                    number, part_stats = self._receive(link)
                    finished[number] = part_stats
                    del busy[link]
                while merged in finished:  # in order: the examples keep the rows' order
                    stats.add(finished.pop(merged))
                    writer.write_file(_out_file(self.folder, merged))
                    _out_file(self.folder, merged).unlink()
                    _in_file(self.folder, merged).unlink()
                    report.add(sizes.pop(merged))
                    merged += 1

    def _answered(self, busy: dict) -> list:
        """The busy processes that have answered; waits for one, but no part may be out longer than
        part_timeout() seconds: the oldest one past it is a stall."""
        bound = part_timeout()
        number, handed = min(busy.values(), key=lambda item: item[1])
        ready = wait(list(busy), max(0.0, handed + bound - time.monotonic()))
        if not ready:
            raise DataError(say("data.encode_stalled", seconds=round(bound), first=number * PART + 1,
                                last=(number + 1) * PART, setting=PART_TIMEOUT_ENV))
        return ready

    def _receive(self, link) -> tuple:
        """(part number, its stats) from a process; its error raised here, its death a DataError."""
        try:
            number, part_stats, error = link.recv()
        except EOFError:  # the process died without a word (killed, out of memory)
            process = self.links[link]
            process.join(5)
            raise DataError(say("data.encode_process_died", code=process.exitcode)) from None
        if error is not None:
            raise error
        return number, part_stats

    def _close(self) -> None:
        for link, process in self.links.items():
            link.send(None)
            process.join(10)
        self._kill()

    def _kill(self) -> None:
        """Kill, not terminate: a stopped process ignores SIGTERM until it is continued, SIGKILL it does not."""
        for link, process in self.links.items():
            if process.is_alive():
                process.kill()
            process.join(10)
            link.close()
