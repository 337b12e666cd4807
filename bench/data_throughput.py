"""Data pipeline throughput: validate, render and tokenize 100k alpaca rows with the demo tokenizer.

    python bench/data_throughput.py [--rows 100000]

Prints rows/s for each phase, and the time of a second load of the same file (served from the cache of
encoded datasets). Everything runs in a temporary data dir and cache; nothing in the project is touched.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
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


def timed(label: str, rows: int, work):
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label:42} {seconds:8.2f} s  {rows / seconds:10,.0f} rows/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    os.environ["STUDIO_DATA_DIR"] = str(work)
    os.environ["STUDIO_REGISTRY"] = str(work / "dataset_info.json")
    model_cache = os.environ.setdefault("STUDIO_CACHE_DIR", str(Path.home() / ".cache" / "finetune-studio"))

    from engine.models.builtin import builtin_path
    from engine.data.encoding import encode_dataset
    from engine.data.templates import load_template
    from engine.data.checker import check_file
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(builtin_path("builtin:tiny-demo"))
    os.environ["STUDIO_CACHE_DIR"] = str(work / "cache")  # a cold cache of encoded data, model cache kept
    write_rows(work / "bench.jsonl", rows)
    (work / "dataset_info.json").write_text(json.dumps({"bench": {"file_name": "bench.jsonl"}}))
    template = load_template("chatml")
    print(
        f"{rows:,} alpaca rows, demo tokenizer, chatml template, {os.cpu_count()} CPU cores "
        f"(model cache {model_cache})"
    )

    report = timed("validate (check_file)", rows, lambda: check_file(work / "bench.jsonl"))
    assert report.ok, report.render()
    dataset, summary = timed(
        "load + render + tokenize + mask (cold)",
        rows,
        lambda: encode_dataset("bench", template, tokenizer, 512, False),
    )
    timed(
        "second load of the same file (cached)", rows, lambda: encode_dataset("bench", template, tokenizer, 512, False)
    )
    print(
        f"encoded {summary['examples']:,} examples, {summary['tokens']:,} tokens "
        f"({summary['trained_tokens']:,} trained)"
    )


if __name__ == "__main__":
    main()
