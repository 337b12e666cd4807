"""Encoding at real sizes (issue 27): in parts over encoding processes that are never forked from the threaded
worker, streamed to memory-mapped Arrow, with a bound on a stalled part; the same examples, packing and length
statistics as encoding in memory."""
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import short_run_config, wait_for
from engine.runs.events import read_events
from engine.runs.scheduler import start_run

SLOW_WAIT = 900  # seconds; the waits poll real status, and a loaded 2-core machine is slow
BIG = 20_000  # rows: the size of the run that hung forever at "encoding 0/20000"


def alpaca_rows(count: int) -> list[dict]:
    """Distinct alpaca rows of varied lengths (some past a small cutoff, so truncation is counted too)."""
    return [{"instruction": f"Question {number}: " + "why " * (number % 37), "input": "",
             "output": f"Answer {number}. " + "because " * (number % 53)} for number in range(count)]


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """register(name, rows): a dataset of `rows` in a registry of its own; the encoded cache in tmp_path."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(data / "dataset_info.json"))
    registry = {}

    def register(name: str, rows: list[dict]) -> str:
        with (data / f"{name}.jsonl").open("w") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
        registry[name] = {"file_name": f"{name}.jsonl"}
        (data / "dataset_info.json").write_text(json.dumps(registry))
        return name

    return register


def test_the_streamed_encoding_equals_the_in_memory_one(registered, tiny_tokenizer, tmp_path, monkeypatch):
    """Same examples, tallies, token lengths, packed rows and fill as encoding the whole list in this process,
    through two encoding processes whose parts finish out of order and are merged back in order."""
    import engine.data.encoding_parts as parts
    from engine.data.conversion import load_conversations
    from engine.data.encoding import encode_conversations, encode_dataset, example_lengths
    from engine.data.templates import load_template
    from engine.data.token_view import NO_CUTOFF, token_lengths
    from engine.train.packing import fill, pack_dataset, pack_examples

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(parts, "PARALLEL_FROM", 100)
    monkeypatch.setattr(parts, "PART", 64)
    name = registered("varied", alpaca_rows(450))
    template = load_template("chatml")
    progress = []
    streamed, summary = encode_dataset(name, template, tiny_tokenizer, 96, False,
                                       progress=lambda done, total: progress.append((done, total)))
    examples, stats = encode_conversations(load_conversations(name), template, tiny_tokenizer, 96)

    assert parts.encoding_processes(450) >= 2 and summary == stats.summary() and stats.truncated > 0
    assert progress[0] == (0, 450) and progress[-1] == (450, 450) and len(progress) == 1 + 8  # a step a part
    assert streamed["input_ids"] == [e["input_ids"] for e in examples]
    assert streamed["labels"] == [e["labels"] for e in examples]
    assert example_lengths(streamed).tolist() == stats.lengths
    order = list(range(len(streamed) - 1, -1, -3))  # a split's selection, out of order
    chosen = {key: [[e[key] for e in examples][i] for i in order] for key in ("input_ids", "labels")}
    packed = pack_dataset(streamed.select(order), 128)
    assert packed.to_list() == pack_examples(chosen, 128)
    assert fill(packed, 128) == pytest.approx(fill(pack_examples(chosen, 128), 128))
    untruncated = encode_conversations(load_conversations(name), template, tiny_tokenizer, NO_CUTOFF)[1].lengths
    assert token_lengths(name, template, tiny_tokenizer) == untruncated
    assert [p.name for p in (tmp_path / "cache" / "encoded").iterdir() if p.name.startswith(".")] == []


def encoders(worker: psutil.Process) -> list[psutil.Process]:
    """The encoding processes of a worker: the children of its forkserver."""
    return [child for server in worker.children() if "forkserver" in " ".join(server.cmdline())
            for child in server.children()]


def encode_events(run_dir) -> list[dict]:
    return [e for e in read_events(run_dir) if e.get("phase") == "encode"]


@pytest.mark.slow
def test_a_stalled_part_fails_the_run_within_its_bound(studio_dirs, tiny_model, registered, monkeypatch):
    """The encoding processes are stopped (SIGSTOP, as a machine out of memory can leave them) mid-encoding:
    the run fails with data.encode_stalled within the bound instead of reading "running" forever."""
    bound = 15
    monkeypatch.setenv("STUDIO_ENCODE_PART_TIMEOUT_S", str(bound))
    config = short_run_config(max_steps=1)
    config.data.datasets, config.data.max_samples = [registered("big", alpaca_rows(BIG))], 0
    handle = start_run(config)
    worker = psutil.Process(handle.process.pid)
    wait_for(lambda: any(0 < e["done"] < e["total"] for e in encode_events(handle.run_dir)), SLOW_WAIT, 0.05)
    stopped = encoders(worker)
    for process in stopped:
        process.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    assert stopped and handle.wait(timeout=SLOW_WAIT).startswith("failed")
    waited = time.monotonic() - stopped_at
    print(f"stall reported {waited:.1f} s after the stop (bound {bound} s)")
    assert waited < bound + 60  # the bound, plus writing the failure on a loaded machine
    status = read_events(handle.run_dir)[-1]
    assert "encoding stalled" in status["error"] and "STUDIO_ENCODE_PART_TIMEOUT_S" in status["error"]
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE for process in stopped)


@pytest.mark.slow
def test_twenty_thousand_rows_encode_ten_times_in_a_row_under_load(studio_dirs, tiny_model, registered):
    """One real run encodes ten datasets of 20k rows one after the other (each starts its own encoding
    processes from the threaded worker), beside a process that keeps a core busy; no encoding hangs, and each
    one's progress moves part by part."""
    names = [registered(f"big{number}", alpaca_rows(BIG)) for number in range(10)]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        config = short_run_config(max_steps=1)
        config.data.datasets, config.data.max_samples = names, 0
        started = time.monotonic()
        handle = start_run(config)
        assert handle.wait(timeout=4 * SLOW_WAIT) == "completed", (handle.run_dir / "train.log").read_text()[-3000:]
        print(f"ten encodings of {BIG} rows and one step: {time.monotonic() - started:.0f} s")
    finally:
        os.killpg(busy.pid, signal.SIGKILL)
        busy.wait()
    events = encode_events(handle.run_dir)
    for name in names:
        steps = [(e["done"], e["total"]) for e in events if e["dataset"] == name]
        assert steps[0] == (0, BIG) and steps[-1] == (BIG, BIG) and len(steps) == 1 + BIG // 1000
