"""Issue 17: bounded work for any input, runs that never "complete" with broken weights, run files that cannot
break the studio. Each test goes in through the entry a user (or the probe) used: the CLI, the queue, the
history's select handler, the loaders of chat and export."""
import json
import math
import random
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import PROJECT, short_run_config
from engine.config.schema import RunConfig
from engine.data.registry import add_registry_entry
from engine.models.loading import ModelLoadError, refuse_non_finite_weights
from engine.paths import saves_dir
from engine.runs.events import EventLog, read_events
from engine.runs.failures import classify_failure
from engine.runs.files import QUEUED_FILE, WORKER_FILE
from engine.runs.preflight import StartRefused
from engine.runs.scheduler import advance, submit
from engine.runs.status import Reason, State
from engine.runs.store import create_run, list_runs, newest_checkpoint
from engine.train.trainer import RunContext, TrainingNotFinite, run_training


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout)


def train_in_process(config: RunConfig):
    run_dir = create_run(config)
    return run_dir, run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False))


# ---------------------------------------------------------------------------------------------------------
# 2. Training never "completes" with NaN weights


# The shape of LLaMA-Factory's dpo_zh_demo: sharegpt conversations, Chinese, chosen/rejected as turn objects,
# prompts of very different lengths (the long ones fill a short cutoff_len on their own).
ZH_PROMPTS = [
    "请解释一下什么是机器学习，并举出三个在日常生活中的应用例子，再说明它们各自使用了哪一类算法。" * 3,
    "写一首关于秋天的短诗。",
    "如何提高学习效率？请给出具体的建议和步骤，并说明每一步为什么有效。" * 4,
    "中国的首都是哪里？",
]


@pytest.fixture
def dpo_zh_demo(data_dirs):
    rows = [{"conversations": [{"from": "human", "value": prompt}],
             "chosen": {"from": "gpt", "value": "好的，" + prompt[:12] + "：这是一个详细而有帮助的回答。"},
             "rejected": {"from": "gpt", "value": "不知道。"}} for prompt in ZH_PROMPTS * 2]
    (data_dirs / "data" / "dpo_zh_demo.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    add_registry_entry("dpo_zh_demo", {"file_name": "dpo_zh_demo.json", "ranking": True, "formatting": "sharegpt",
                                       "columns": {"messages": "conversations", "chosen": "chosen",
                                                   "rejected": "rejected"}})
    return "dpo_zh_demo"


def preference_config(stage: str, dataset: str, cutoff_len: int) -> RunConfig:
    config = short_run_config(max_steps=3)
    config.method.stage, config.data.datasets, config.data.cutoff_len = stage, [dataset], cutoff_len
    config.train.learning_rate = 5e-3
    return config


def test_orpo_on_chinese_pairs_longer_than_cutoff_trains_finite_weights(dpo_zh_demo, tiny_model):
    """Golden: before the fix, prompts filling cutoff_len left empty answers, ORPO averaged their log-probs as
    0/0 and the run "completed" at loss 0.0000 with an all-NaN adapter."""
    config = preference_config("orpo", dpo_zh_demo, cutoff_len=32)
    config.train.max_steps = 2
    run_dir, outcome = train_in_process(config)
    logs = [e for e in read_events(run_dir) if e["event"] == "log"]
    assert outcome == "completed" and len(logs) == 2
    assert all(math.isfinite(e["loss"]) and e["loss"] > 0 and math.isfinite(e["grad_norm"]) for e in logs), logs
    assert all(math.isfinite(e["logps/chosen"]) for e in logs)
    refuse_non_finite_weights(run_dir / "final")  # raises on a NaN adapter


def test_a_diverging_run_fails_at_that_step_keeps_its_good_checkpoint_and_nan_weights_are_refused(
        studio_dirs, tiny_model):
    config = short_run_config(max_steps=8, save_steps=2)
    config.train.learning_rate, config.train.max_grad_norm, config.method.lora_alpha = 1.0, 0.0, 256
    config.train.lr_scheduler_type, config.train.warmup_ratio = "constant", 0.0
    with pytest.raises(TrainingNotFinite) as raised:
        train_in_process(config)
    failure = classify_failure(raised.value)
    assert failure.reason is Reason.NOT_FINITE
    assert " at step " in failure.message and "learning rate" in failure.message
    run_dir = next(saves_dir().glob("*/*/*"))
    assert not (run_dir / "final").exists()
    assert all(math.isfinite(e["loss"]) for e in read_events(run_dir) if e["event"] == "log")
    checkpoint = newest_checkpoint(run_dir)
    assert checkpoint is not None
    refuse_non_finite_weights(checkpoint)  # the last checkpoint is good: Resume may continue from it

    # A result trained into NaN before this guard existed: chat and export refuse it by name.
    (run_dir / "final").mkdir()
    for item in checkpoint.iterdir():
        if item.name.startswith(("adapter_", "tokenizer", "special_tokens", "chat_template")):
            (run_dir / "final" / item.name).write_bytes(item.read_bytes())
    adapter = run_dir / "final" / "adapter_model.safetensors"
    save_file({k: torch.full_like(v, float("nan")) for k, v in load_file(adapter).items()}, adapter)
    from engine.export.merge import export_run
    from engine.use.chat import load_run_for_chat

    for use in (load_run_for_chat, export_run):
        with pytest.raises(ModelLoadError, match="NaN or infinite"):
            use(run_dir)


# ---------------------------------------------------------------------------------------------------------
# 3. "Nothing left to train on" before the model loads


@pytest.mark.parametrize("stage", ["rm", "orpo"])
def test_start_refuses_data_that_cannot_fit_cutoff_len_with_numbers(dpo_zh_demo, stage):
    with pytest.raises(StartRefused) as refused:
        submit(preference_config(stage, dpo_zh_demo, cutoff_len=8))
    message = str(refused.value)
    assert "nothing left to train on" in message and "all 8" in message and "cutoff_len=8" in message
    assert "shortest: " in message
    assert not list(saves_dir().glob("*/*/*"))  # refused before any run folder, model or worker


# ---------------------------------------------------------------------------------------------------------
# 4. One bad line in a finished run's files breaks only that run


MALFORMED_LINES = ['123', '[]', '{"event": "log", "time": 1}', '"text"', 'null', '{"event": "status", "time": 1}',
                   '{"event": "status", "status": "completed", "time": "now"}', '{"event": 5}',
                   '{"event": "log", "step": "3", "total_steps": 8, "loss": 1.0, "elapsed_s": 1, "time": 1}',
                   '{"event": "start", "total_steps": null, "time": 1}', '{', '\x00\x01', '{"a": ' * 50]


def finished_run(name: str) -> "Path":  # noqa: F821
    config = short_run_config(max_steps=2)
    config.train.run_name = name
    run_dir = create_run(config)
    log = EventLog(run_dir)
    log.write("status", status="running")
    log.write("start", total_steps=2, trainable_params=1, total_params=2)
    for step in (1, 2):
        log.write("log", step=step, total_steps=2, epoch=0.5 * step, loss=2.0 / step, elapsed_s=step)
    log.write("status", status="completed")
    return run_dir


def test_random_malformed_lines_in_run_files_mark_only_that_run_damaged_and_the_queue_moves(studio_dirs, tiny_model):
    from webui.run_view import history_table, progress_html, snapshot

    rng = random.Random(17)
    healthy = [finished_run(f"healthy-{i}") for i in range(2)]
    damaged = [finished_run(f"damaged-{i}") for i in range(4)]
    for run_dir in damaged[:3]:
        with (run_dir / "events.jsonl").open("a", encoding="utf-8") as events:
            for line in rng.sample(MALFORMED_LINES, 3):
                events.write(line + "\n")
    (damaged[3] / WORKER_FILE).write_text("{}")

    result = cli("runs")
    assert result.returncode == 0, result.stderr
    assert all(run.name in result.stdout for run in healthy + damaged)
    statuses = {run.name: run.status for run in list_runs()}
    assert all(statuses[run.name] == State.COMPLETED for run in healthy)
    assert all(statuses[run.name].reason is Reason.DAMAGED for run in damaged), statuses
    damaged_summary = next(run for run in list_runs() if run.name == "damaged-0")
    assert "events.jsonl" in damaged_summary.error
    assert len(history_table("zh")) == 6
    for run_dir in healthy + damaged:
        assert "run-progress" in progress_html(str(run_dir), "en") and snapshot(str(run_dir))

    waiting = create_run(short_run_config(max_steps=1))
    (waiting / QUEUED_FILE).write_text(json.dumps({"queued_at_ns": 1}))
    handle = advance()  # the conftest fixture ends this worker's process group
    assert handle is not None and handle.run_dir == waiting


# ---------------------------------------------------------------------------------------------------------
# 5/6. Run folders stay inside the saves folder


def test_a_model_path_ending_in_dotdot_names_a_run_folder_inside_saves(studio_dirs, monkeypatch):
    monkeypatch.chdir(PROJECT)
    for model in ("data/..", "engine/..", ".."):
        config = short_run_config(max_steps=1)
        config.model.name_or_path = model
        run_dir = create_run(config)
        assert run_dir.resolve().is_relative_to(saves_dir()) and run_dir.parent.parent.parent == saves_dir()


def test_a_forged_history_row_reads_nothing_outside_saves(studio_dirs, tmp_path):
    from webui.run_view import history_table, run_config_text, run_dir_of_row

    run_dir = finished_run("real")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "config.yaml").write_text("secret: 1\n")
    (run_dir.parent / "linked").symlink_to(outside)  # a run folder in saves that leads out
    table = history_table("en")
    assert list(table.iloc[0])[-1] == "tiny-demo/lora/real"  # the row carries the run's id, not a path
    assert run_dir_of_row(list(table.iloc[0])) == str(run_dir)
    real_id = str(run_dir.relative_to(saves_dir()))
    for forged in (str(outside), "../elsewhere", "a/../../elsewhere", "", None, 5, "/etc", str(run_dir),
                   f"{real_id}/..", f"{real_id}/../real", "tiny-demo/lora/linked"):
        assert run_dir_of_row(["x", forged]) == "", forged
    assert "secret" not in str(run_config_text(run_dir_of_row(["x", str(outside)])))


# ---------------------------------------------------------------------------------------------------------
# 7. A YAML bomb is refused in a short sentence


def test_a_config_of_nested_aliases_is_refused_briefly_by_the_cli(studio_dirs, tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\nmodel: {name_or_path: *a8}\n")
    result = cli("train", str(bomb))
    assert result.returncode == 2
    assert "aliases" in result.stdout + result.stderr and len(result.stdout + result.stderr) < 2000
    long_value = tmp_path / "long.yaml"
    long_value.write_text("train:\n  learning_rate: " + "y" * 100_000 + "\n")
    result = cli("train", str(long_value))
    assert result.returncode == 2 and "more characters" in result.stdout + result.stderr
    assert len(result.stdout + result.stderr) < 2000


# ---------------------------------------------------------------------------------------------------------
# 1. Bounded reading: a few kilobytes of Parquet must not take the server's memory


PEAK_RSS = """
import json, resource, sys
from engine.data.uploads import preview_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = preview_file(sys.argv[1]).report
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"grown_kb": grown, "problems": [str(p) for p in report.problems]}))
"""


def test_a_tiny_parquet_of_huge_strings_is_refused_without_memory_growth(tmp_path):
    """The probe's file: 4 rows of 150 MB zstd-compressed strings took the server to 4.9 GB (4 rows of 10 MB
    here keep the test quick: each cell is one dictionary reference to a value over the per-value bound)."""
    bomb = tmp_path / "bomb.parquet"
    subprocess.run([sys.executable, "-c", "import pyarrow as pa, pyarrow.parquet as pq, sys; "
                    "pq.write_table(pa.table({'text': ['a' * 10_000_000] * 4}), sys.argv[1], compression='zstd')",
                    str(bomb)], check=True, timeout=300)
    assert bomb.stat().st_size < 1024**2
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, str(bomb)], cwd=PROJECT, capture_output=True,
                            text=True, timeout=300, check=True)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["grown_kb"] < 100 * 1024, measured  # the upload route's preview, under 100 MB of growth
    assert len(measured["problems"]) == 4 and "a value 4 MB" in measured["problems"][0], measured


def test_preview_cells_are_cut_with_the_count_of_what_was_left_out(tmp_path):
    from engine.data.uploads import PREVIEW_CELL_CHARS, preview_file

    long_line = tmp_path / "long.jsonl"
    long_line.write_text(json.dumps({"instruction": "x" * 1_000_000, "output": "y"}) + "\n")
    preview = preview_file(long_line).rows
    cell = preview.iloc[0]["instruction"]
    assert len(cell) < PREVIEW_CELL_CHARS + 100
    assert cell.endswith(f"({1_000_000 - PREVIEW_CELL_CHARS} more characters)")


GOOD_LINE = json.dumps({"instruction": "hi", "output": "hello"}) + "\n"


@pytest.mark.parametrize("name, body, words", [
    ("line.jsonl", json.dumps({"instruction": "x" * 17 * 1024**2, "output": "y"}) + "\n" + GOOD_LINE,
     "row 1: holds more than 16 MB of text"),
    ("value.jsonl", json.dumps({"instruction": "x" * 5 * 1024**2, "output": "y"}) + "\n" + GOOD_LINE,
     "row 1, field 'instruction': holds a value of 5 MB; a value may hold at most 4 MB"),
    ("value.csv", 'instruction,output\n"' + "x" * 5 * 1024**2 + '",y\nhi,hello\n', "a value is longer than 4 MB"),
], ids=["jsonl-line", "jsonl-value", "csv-value"])
def test_jsonl_and_csv_rows_and_values_past_their_bounds_are_problems_in_the_upload_handler(tmp_path, name, body,
                                                                                            words):
    from webui.tabs.data import preview_upload

    upload = tmp_path / name
    upload.write_text(body)
    message = preview_upload(str(upload), "auto", "en")[0]
    assert "Cannot use this file" in message and words in message, message[:2000]
    assert len(message) < 20_000  # the report names the bound; it never echoes the value


# ---------------------------------------------------------------------------------------------------------
# 11. The smaller ones


@pytest.mark.parametrize("suffix, body", [(".json", "[" * 200_000 + "]" * 200_000),
                                          (".jsonl", '{"a": ' * 200_000 + "1" + "}" * 200_000 + "\n")],
                         ids=["json", "jsonl"])
def test_json_nested_200000_deep_is_a_clear_problem_in_the_upload_handler(tmp_path, suffix, body):
    from webui.tabs.data import preview_upload

    upload = tmp_path / f"deep{suffix}"
    upload.write_text(body)
    message = preview_upload(str(upload), "auto", "en")[0]
    assert "nests too deeply" in message


@pytest.mark.parametrize("entry, words", [({"file_name": 123}, "'file_name' must be a string"),
                                          ({"file_name": "a.json", "columns": "str"}, "'columns' must be an object"),
                                          ({"file_name": "a.json", "columns": {"prompt": 1}}, "column name"),
                                          ("text", "must be an object")])
def test_registry_entries_of_the_wrong_type_are_clear_errors(data_dirs, entry, words):
    from engine.data.registry import DataError, get_entry

    registry = json.loads((data_dirs / "dataset_info.json").read_text())
    registry["odd"] = entry
    (data_dirs / "dataset_info.json").write_text(json.dumps(registry))
    with pytest.raises(DataError, match=words):
        get_entry("odd")


def test_every_kind_the_engine_writes_is_one_readers_accept():
    """A kind written by the worker but unknown to `well_formed` would mark every run that writes it damaged."""
    import re
    from pathlib import Path

    from engine.runs.events import REQUIRED_FIELDS

    engine = Path(__file__).resolve().parent.parent / "engine"
    written = {kind for path in engine.rglob("*.py")
               for kind in re.findall(r"\.write\(\s*\"(\w+)\"", path.read_text(encoding="utf-8"))}
    assert written and written <= set(REQUIRED_FIELDS), written - set(REQUIRED_FIELDS)


def test_concurrent_saves_of_cleaned_rows_under_one_name_leave_no_orphan_files(data_dirs):
    from concurrent.futures import ThreadPoolExecutor

    from engine.data.cleaning import CleanOptions, clean_dataset
    from engine.data.registry import read_registry
    from webui.tabs.data_cleaning import save_cleaned

    result = clean_dataset("demo_quick", CleanOptions())
    with ThreadPoolExecutor(6) as pool:
        messages = [m for m, *_ in pool.map(lambda _: save_cleaned(result, "race_clean", [], "en"), range(6))]
    assert sum("already registered" not in message for message in messages) == 1, messages
    written = sorted(p.name for p in (data_dirs / "data").glob("race_clean*"))
    assert written == [read_registry()["race_clean"]["file_name"]]


def test_a_dataset_folder_does_not_follow_a_link_out_of_itself(data_dirs, tmp_path):
    from engine.data.conversion import load_conversations
    from engine.data.registry import DataError

    folder = data_dirs / "data" / "parts"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps([{"instruction": "hi", "input": "", "output": "hello"}]))
    (tmp_path / "secret.json").write_text(json.dumps([{"instruction": "secret", "input": "", "output": "x"}]))
    (folder / "b.json").symlink_to(tmp_path / "secret.json")
    add_registry_entry("parts", {"file_name": "parts"})
    with pytest.raises(DataError, match="b.json in dataset folder parts is a link to a file outside"):
        load_conversations("parts")


def test_an_invalid_registry_at_start_shows_as_broken_and_the_app_builds(data_dirs):
    from webui.app import build_app

    (data_dirs / "dataset_info.json").write_text('{"mine": {"file_name": "a.json"},')
    app = build_app("zh")
    note = next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == "registry-problem")
    assert note.visible and "无法读取数据集注册表" in note.value and "dataset_info.json" in note.value


def test_pickle_weights_beside_a_decoy_safetensors_are_refused_as_pickle(tiny_model, tmp_path):
    import shutil

    from engine.models.loading import load_model

    folder = tmp_path / "decoy-model"
    shutil.copytree(tiny_model, folder)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").rename(folder / "decoy.safetensors")
    config = RunConfig().model
    config.name_or_path = str(folder)
    with pytest.raises(ModelLoadError, match=r"only as pickle files \(pytorch_model.bin\).*decoy.safetensors beside"):
        load_model(config)


DOUBLING = "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"


@pytest.mark.parametrize("template", ["{{ 'x' * 2000000 }}", DOUBLING], ids=["repeat", "doubling"])
def test_a_models_chat_template_that_writes_hundreds_of_megabytes_is_refused(template):
    from types import SimpleNamespace

    from engine.data.templates import load_template

    tokenizer = SimpleNamespace(chat_template=template, special_tokens_map={"eos_token": "</s>"})
    with pytest.raises(ValueError, match="writes more than 1000000 characters"):
        load_template("auto", tokenizer)
