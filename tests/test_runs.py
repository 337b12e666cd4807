"""Background runs: a real worker process, followed through its files, stopped cleanly, failing readably."""

import pytest

from conftest import demo_config, wait_for
from engine.config.schema import RunConfig
from engine.runs.events import read_events
from engine.runs.scheduler import start_run
from engine.runs.status import run_status
from engine.runs.store import list_runs


def long_config() -> RunConfig:
    return demo_config({"data.val_size": 0.0, "train.max_steps": 400, "train.logging_steps": 1,
                        "train.save_steps": 1000})


def test_start_stream_stop_and_use_the_checkpoint(studio_dirs, tiny_model):
    handle = start_run(long_config())
    assert (handle.run_dir / "config.yaml").exists()
    assert handle.run_dir.parent.name == "lora" and handle.run_dir.parent.parent.name == "tiny-demo"
    wait_for(lambda: len([e for e in handle.events() if e["event"] == "log"]) >= 3)
    assert handle.status() == "running"
    handle.stop()
    assert handle.wait(timeout=60) == "stopped"
    assert handle.process.wait(timeout=10) == 0

    events = read_events(handle.run_dir)
    logs = [e for e in events if e["event"] == "log"]
    assert {"step", "total_steps", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_s", "elapsed_s",
            "eta_s"} <= logs[-1].keys()
    assert logs[-1]["step"] < 400 and logs[-1]["total_steps"] == 400
    assert events[-1] == {**events[-1], "event": "status", "status": "stopped"}
    checkpoint = handle.run_dir / f"checkpoint-{logs[-1]['step']}"
    assert (checkpoint / "adapter_model.safetensors").exists() and (checkpoint / "optimizer.pt").exists()
    assert "step" in (handle.run_dir / "train.log").read_text() or (handle.run_dir / "train.log").stat().st_size > 0

    from engine.use.chat import load_run_for_chat, stream_reply

    chat = load_run_for_chat(handle.run_dir)
    replies = list(stream_reply(chat, [{"role": "user", "content": "What is LoRA?"}], max_new_tokens=8, temperature=0))
    assert replies and all(later.startswith(earlier) for earlier, later in zip(replies, replies[1:]))

    (summary,) = list_runs()
    assert summary.status == "stopped" and summary.step == logs[-1]["step"] and summary.final_loss == logs[-1]["loss"]


def test_a_missing_dataset_fails_with_a_readable_message(studio_dirs):
    config = long_config()
    config.data.datasets = ["no_such_dataset"]
    handle = start_run(config)
    assert handle.wait(timeout=120) == "failed (data)"  # found before the model loads, with advice
    status = read_events(handle.run_dir)[-1]
    assert "dataset 'no_such_dataset' is not in dataset_info.json" in status["error"]
    assert status["reason"] == "data" and "Data tab" in status["advice"]
    assert "no_such_dataset" in (handle.run_dir / "train.log").read_text()


def test_two_runs_never_share_a_directory(studio_dirs):
    config = long_config()
    config.train.run_name = "same-name"
    from engine.runs.store import create_run

    first, second = create_run(config), create_run(config)
    assert first != second and first.name == "same-name" and second.name == "same-name-2"
    assert run_status(first) == "created"


@pytest.mark.parametrize("bad", ["train:\n  learning_rate: -1\n"])
def test_cli_refuses_an_invalid_config_before_starting(studio_dirs, tmp_path, bad):
    import subprocess
    import sys

    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    result = subprocess.run([sys.executable, "-m", "engine", "train", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "train.learning_rate must be > 0.0; got -1" in result.stderr
    assert not (studio_dirs / "saves").exists()


def test_a_finished_run_shows_the_trainers_final_step_everywhere(studio_dirs, tiny_model):
    """Logging every 2 steps, a 5-step run logs last at step 4; it still reads 5/5 in every view."""
    from conftest import train_demo_run
    from engine.export.model_card import final_metrics
    from engine.runs.store import summarize_run
    from webui.run_view import progress_html

    run_dir = train_demo_run(max_steps=5, logging_steps=2)
    events = read_events(run_dir)
    assert [e["step"] for e in events if e["event"] == "log"][-1] == 4
    summary = summarize_run(run_dir)
    assert (summary.step, summary.total_steps) == (5, 5)
    assert "data-step='5' data-total='5'" in progress_html(str(run_dir), "zh")
    assert "width:100.0%" in progress_html(str(run_dir), "en")
    assert final_metrics(run_dir)["steps"] == 5


def test_before_step_one_the_run_view_names_each_phase(studio_dirs, tiny_model):
    """A real run's events, replayed line by line into the run view while it is 'running'."""
    import shutil

    from conftest import train_demo_run
    from engine.paths import cache_dir
    from engine.runs.status import RunStatus
    from webui.run_view import progress_html

    shutil.rmtree(cache_dir() / "encoded", ignore_errors=True)  # encode for real, not from an earlier test's cache
    run_dir = train_demo_run(max_steps=2, logging_steps=1, run_name="phases")
    events = [{"event": "status", "status": "running", "time": 0.0}] + read_events(run_dir)
    phases = [e for e in events if e["event"] == "phase"]
    encoding = [e for e in phases if e["phase"] == "encode"]
    assert [e["phase"] for e in phases if e["phase"] != "encode"] == ["load_model"]
    assert encoding and encoding[-1]["done"] == encoding[-1]["total"] == 135  # demo_alpaca_en
    first_log = next(i for i, e in enumerate(events) if e["event"] == "log")
    running = RunStatus("running")
    shown = [progress_html(str(run_dir), "zh", events[:i], status=running) for i in range(1, first_log + 1)]
    assert "正在启动训练进程" in shown[0]
    assert "正在编码 demo_alpaca_en：135/135 条" in "".join(shown)
    assert "正在加载模型" in "".join(shown)
    assert "正在训练第一步" in shown[-1]
    assert not any("第 0/" in html for html in shown)
    assert "第 1/2 步" in progress_html(str(run_dir), "zh", events[: first_log + 1], status=running)
    from engine.cli.follow import describe  # the CLI follows the same events: readable lines, no raw dicts

    assert "encoding demo_alpaca_en: 135/135 examples" in [describe(e) for e in events]
    assert not any(describe(e).startswith("{") for e in events)
