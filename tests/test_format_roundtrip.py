"""Every format, uploaded as a user would, trains: the file is imported into a fresh registry, then a tiny
run of the stage that format feeds takes a few real steps on the built-in model."""

import pandas as pd
import pytest

from engine.runs.events import EventLog, read_events
from engine.runs.store import create_run
from engine.train.trainer import run_training
from engine.train.trainer import RunContext
from engine.data.uploads import import_dataset
from conftest import demo_config

GOOD = __import__("pathlib").Path(__file__).parent / "data" / "good"

# file -> stage it feeds
CASES = {
    "alpaca.json": "sft", "alpaca.jsonl": "sft", "alpaca.csv": "sft", "alpaca.parquet": "sft",
    "sharegpt.json": "sft", "openai.jsonl": "sft",
    "preference.json": "dpo", "preference_sharegpt.json": "dpo", "kto.jsonl": "kto", "text.txt": "pt",
}


@pytest.fixture
def empty_registry(studio_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_REGISTRY", str(tmp_path / "data" / "dataset_info.json"))
    (tmp_path / "data").mkdir()
    pd.read_json(GOOD / "alpaca.json").to_parquet(tmp_path / "alpaca.parquet")
    return tmp_path


@pytest.mark.parametrize("file_name", sorted(CASES))
def test_uploaded_format_trains(empty_registry, tiny_model, file_name):
    source = GOOD / file_name if (GOOD / file_name).exists() else empty_registry / file_name
    name = file_name.replace(".", "_")
    import_dataset(source, name)
    config = demo_config({"method.stage": CASES[file_name], "data.datasets": [name], "data.val_size": 0.0,
                          "train.max_steps": 2, "train.per_device_train_batch_size": 2, "train.logging_steps": 1})
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    losses = [e["loss"] for e in read_events(run_dir) if e["event"] == "log"]
    assert len(losses) == 2 and all(loss == loss for loss in losses)


def test_a_folder_of_files_is_one_dataset(empty_registry, tiny_model):
    import json

    from engine.data.checker import check_file

    folder = empty_registry / "data" / "faq_parts"
    folder.mkdir()
    rows = json.loads((GOOD / "alpaca.json").read_text())
    (folder / "part1.json").write_text(json.dumps(rows[:2]))
    (folder / "part2.jsonl").write_text("\n".join(json.dumps(r) for r in rows[2:]))
    report = check_file(folder)
    assert report.ok and report.rows == len(rows), report.render()
    (empty_registry / "data" / "dataset_info.json").write_text(json.dumps({"faq": {"file_name": "faq_parts"}}))
    config = demo_config({"data.datasets": ["faq"], "data.val_size": 0.0, "train.max_steps": 2})
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    start = next(e for e in read_events(run_dir) if e["event"] == "start")
    assert start["train_examples"] == len(rows)

    (folder / "part3.json").write_text(json.dumps([{"conversations": [{"from": "human", "value": "hi"},
                                                                       {"from": "gpt", "value": "hello"}]}]))
    mixed = check_file(folder)
    assert not mixed.ok and "keep one format per folder" in mixed.render()
