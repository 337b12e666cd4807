"""Data pipeline throughput at real sizes: check, encode (cold and cached) and the token view of alpaca-like rows.

    python bench/data_throughput.py [--rows 20000 100000 1000000] [--compare 20000] [--markdown]

Each size runs in a fresh process (so that its peak memory is its own) on synthetic alpaca rows built from the
demo set, each made distinct so that no cache can shortcut them, with the built-in model's tokenizer and the
chatml template. Reported per phase: seconds, rows/s, and the peak resident memory of the process and every
process under it (the encoding processes included), sampled every 0.2 s. `--compare N` also encodes N rows
with each way of spreading the work over processes (forkserver, spawn, and `datasets.map(num_proc)`, which
forks) and prints their ratios. Everything runs in a temporary data dir and cache, deleted at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def write_rows(path: Path, count: int) -> None:
    """`count` alpaca rows built from the demo set, each made distinct so no cache can shortcut them."""
    demo = json.loads((PROJECT / "data" / "demo_alpaca_en.json").read_text(encoding="utf-8"))
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            row = rng.choice(demo)
            out.write(
                json.dumps({**row, "instruction": f"{row['instruction']} (#{number})"}, ensure_ascii=False) + "\n"
            )


class PeakMemory:
    """Peak resident memory (MB) of this process and all its descendants, sampled in a thread."""

    def __init__(self):
        import psutil

        self.root, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        import psutil

        while self.running:
            total = 0
            for process in [self.root, *self.root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak / 2**20


def phase(label: str, rows: int, work) -> tuple[dict, object]:
    """Run `work()`; its figures and its result."""
    memory, load, started = PeakMemory(), os.getloadavg()[0], time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    figures = {"phase": label, "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
               "peak_rss_mb": round(memory.stop()), "load_1min": round(max(load, os.getloadavg()[0]), 1)}
    print(json.dumps(figures), flush=True)
    return figures, result


# ---------------------------------------------------------------------------------------------------------
# One size, in its own process


def measure(rows: int, compare: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    try:
        _measure_in(work, rows, compare)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure_in(work: Path, rows: int, compare: bool) -> None:
    os.environ["STUDIO_DATA_DIR"] = str(work)
    os.environ["STUDIO_REGISTRY"] = str(work / "dataset_info.json")
    os.environ.setdefault("STUDIO_CACHE_DIR", str(Path.home() / ".cache" / "finetune-studio"))
    from transformers import AutoTokenizer

    from engine.data.checker import check_file
    from engine.data.encoding import encode_dataset
    from engine.data.templates import load_template
    from engine.data.token_view import length_histogram
    from engine.models.builtin import builtin_path

    tokenizer = AutoTokenizer.from_pretrained(builtin_path("builtin:tiny-demo"))
    os.environ["STUDIO_CACHE_DIR"] = str(work / "cache")  # a cold cache of encoded data, model cache kept
    write_rows(work / "bench.jsonl", rows)
    (work / "dataset_info.json").write_text(json.dumps({"bench": {"file_name": "bench.jsonl"}}))
    template = load_template("chatml")
    if compare:
        compare_pools(rows, template, tokenizer)
        return
    report = phase("check", rows, lambda: check_file(work / "bench.jsonl"))[1]
    assert report.ok, report.render()
    phase("encode cold", rows, lambda: encode_dataset("bench", template, tokenizer, 512, False))
    _, (dataset, summary) = phase("encode cached", rows, lambda: encode_dataset("bench", template, tokenizer, 512,
                                                                               False))
    phase("token view cold (histogram)", rows, lambda: length_histogram("bench", template, tokenizer, 512))
    phase("token view cached", rows, lambda: length_histogram("bench", template, tokenizer, 512))
    print(json.dumps({"examples": summary["examples"], "tokens": summary["tokens"],
                      "arrow_mb": round((Path(dataset.cache_files[0]["filename"])).stat().st_size / 2**20)}))


def compare_pools(rows: int, template, tokenizer) -> None:
    """The same encoding with processes from a forkserver (the studio's), from spawn, and datasets.map's."""
    import engine.data.encoding_parts as parts
    from engine.data.encoding import encode_dataset

    timings = {}
    for method in ("forkserver", "spawn"):
        parts.START_METHOD = method
        cutoff = 512 + len(timings)  # a new cache entry each time
        timings[method] = phase(f"encode cold, {method} processes", rows,
                                lambda: encode_dataset("bench", template, tokenizer, cutoff, False))[0]["seconds"]
    timings["datasets.map"] = phase("encode cold, datasets.map(num_proc=2)", rows,
                                    lambda: map_with_datasets(template, tokenizer))[0]["seconds"]
    for method, seconds in timings.items():
        ratio = round(seconds / timings["forkserver"], 2)
        print(json.dumps({"way": method, "seconds": seconds, "x forkserver": ratio}))


def map_with_datasets(template, tokenizer):
    """The encoding as datasets would do it: conversations in an Arrow table, Encoder.encode mapped over it."""
    from datasets import Dataset

    from engine.data.conversion import iter_conversations
    from engine.data.encoding import Encoder

    conversations = Dataset.from_dict({"messages": [json.dumps(m) for m in iter_conversations("bench")]})
    encoder = Encoder(template, tokenizer, 512)
    return conversations.map(_encode_batch, fn_kwargs={"encoder": encoder}, batched=True, batch_size=1000,
                             num_proc=2, remove_columns=["messages"])


def _encode_batch(batch: dict, encoder) -> dict:
    from engine.data.encoding import EncodeStats

    examples = encoder.encode([json.loads(m) for m in batch["messages"]], EncodeStats())
    return {"input_ids": [e["input_ids"] for e in examples], "labels": [e["labels"] for e in examples]}


# ---------------------------------------------------------------------------------------------------------
# Every size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--compare", type=int, default=0, help="also compare the ways to spread N rows")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size in this process (run by main)
    parser.add_argument("--compare-one", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        measure(arguments.one, arguments.compare_one)
        return
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()}, demo tokenizer, chatml, cutoff 512",
          flush=True)
    runs = [[str(rows)] for rows in arguments.rows]
    runs += [[str(arguments.compare), "--compare-one"]] if arguments.compare else []
    for run in runs:
        subprocess.run([sys.executable, __file__, "--one", *run], check=True)


if __name__ == "__main__":
    main()
