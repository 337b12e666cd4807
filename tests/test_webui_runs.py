"""The Train tab's run handlers on the real queue and tiny real runs: Start twice queues the second, Stop cancels a
queued run, the page's timer moves the queue on, Resume continues a stopped run, a failed run shows its advice."""
import json
import os
import signal
import time
from pathlib import Path

import pytest

from engine.runs.events import read_events
from engine.runs.failures import ADVICE
from engine.runs.process import launch_record, record_launch
from engine.runs.status import Reason, run_status
from webui import run_view
from webui.tabs import train as train_tab
from webui.form import default_config
from webui.i18n import text
from webui.tabs.train import refresh_view, resume_training, start_training, stop_training

PROJECT = Path(__file__).resolve().parent.parent


def tiny_values(max_steps: int, **train) -> dict:
    """Form values of a run that trains in seconds: few short samples, small batches, a loss point per step."""
    values = {
        "data.val_size": 0.0, "data.max_samples": 32, "data.cutoff_len": 128,
        "train.max_steps": max_steps, "train.logging_steps": 1, "train.save_steps": 1000,
        "train.per_device_train_batch_size": 2,
    }
    return values | {f"train.{name}": value for name, value in train.items()}


def wait_for(predicate, timeout: float = 600.0, poll: float = 0.25, tick=None):
    """Wait for `predicate`, calling `tick` (a page's timer) meanwhile."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if tick is not None:
            tick()
        if result := predicate():
            return result
        time.sleep(poll)
    raise TimeoutError("condition not met in time")


def logged(run_dir: str) -> bool:
    return any(e["event"] == "log" for e in read_events(Path(run_dir)))


@pytest.fixture
def saves(studio_dirs, tiny_model):
    yield studio_dirs / "saves"
    for run_dir in (studio_dirs / "saves").glob("*/*/*"):  # leave no worker behind a failing test
        record = launch_record(run_dir)
        if record and record["pid"] != os.getpid() and run_status(run_dir) in ("starting", "running"):
            os.killpg(record["pgid"], signal.SIGKILL)


# ---------------------------------------------------------------------------------------------------------


def test_start_twice_queues_then_stop_cancels_and_the_timer_moves_the_queue_on(saves):
    message, first = start_training(tiny_values(400), "en")
    assert first and message == text("train.started", "en", name=Path(first).name)
    message, second = start_training(tiny_values(4), "en")
    assert "Queued run" in message and "position 1" in message and run_status(Path(second)) == "queued"
    message, third = start_training(tiny_values(4), "zh")
    assert "队列第 2 位" in message
    history = run_view.history_table("en").set_index("run")["status"]
    assert history[Path(second).name] == "queued (position 1)" and history[Path(third).name] == "queued (position 2)"

    assert stop_training(second, "en") == text("train.cancelled", "en")
    assert run_status(Path(second)) == "cancelled" and "cancelled" in run_view.progress_html(second, "en")
    assert stop_training(second, "en") == text("train.nothing_to_stop", "en")
    assert "queued (position 1)" in run_view.progress_html(third, "en")

    # The first worker dies without a word: no worker is left to start the next run; the page's timer does.
    wait_for(lambda: logged(first))
    os.killpg(launch_record(Path(first))["pgid"], signal.SIGKILL)
    drawn = {"first": None}

    def tick():
        drawn["first"] = refresh_view(first, "en", None)

    wait_for(lambda: "data-status='failed (killed)'" in drawn["first"][0] and ADVICE["killed"] in drawn["first"][0],
             timeout=20, tick=tick)
    assert drawn["first"].resume == {"__type__": "update", "interactive": False}  # no checkpoint: nothing to resume
    wait_for(lambda: run_status(Path(third)) == "completed", tick=lambda: refresh_view(third, "en", None))
    assert run_status(Path(second)) == "cancelled" and not (Path(second) / "train.log").exists()


def test_the_timer_moves_the_queue_on_at_most_every_few_seconds(monkeypatch, saves):
    calls = []
    monkeypatch.setattr(train_tab.queue, "advance", lambda: calls.append(time.monotonic()))
    monkeypatch.setitem(train_tab._advanced, "at", 0.0)
    for _ in range(5):  # five open pages tick at once
        refresh_view("", "en", None)
    assert len(calls) == 1


def test_resume_continues_a_stopped_run_to_its_step_count(saves):
    # 48 steps: on an idle machine the tiny model takes a step in well under 0.1 s, and 12 were over before
    # the stop reached them.
    message, run_dir = start_training(tiny_values(48, save_steps=3), "en")
    run = Path(run_dir)
    wait_for(lambda: (run / "checkpoint-3" / "trainer_state.json").exists())
    assert stop_training(run_dir, "en") == text("train.stop_requested", "en")
    assert stop_training(run_dir, "en") == text("train.stop_requested", "en")  # twice: still one stop
    wait_for(lambda: run_status(run) == "stopped", tick=lambda: refresh_view(run_dir, "en", None))
    drawn = refresh_view(run_dir, "en", None)
    assert drawn.resume == {"__type__": "update", "interactive": True}
    stopped_at = int(drawn[0].split("data-step='")[1].split("'")[0])
    assert 3 <= stopped_at < 48

    message = resume_training(run_dir, "en")
    assert message.startswith(f"Resumed run **{run.name}** from its checkpoint at step")
    assert run_status(run) in ("starting", "running")
    wait_for(lambda: run_status(run) == "completed", tick=lambda: refresh_view(run_dir, "en", None))
    drawn = refresh_view(run_dir, "zh", None)
    assert "data-step='48' data-total='48'" in drawn[0] and "已完成" in drawn[0]
    assert drawn.resume == {"__type__": "update", "interactive": False}
    lines = {line.get_label(): line for line in drawn.curve["value"].axes[0].get_lines()}  # 训练损失 = train loss
    steps = list(lines["训练损失"].get_xdata())
    assert steps == list(range(1, 49))  # the steps a resume went back over are drawn once
    assert resume_training(run_dir, "en").startswith(text("train.problems", "en"))  # completed: refused


def test_a_failed_run_shows_its_reason_and_advice(saves):
    run_dir = saves / "tiny-demo" / "lora" / "oom"
    run_dir.mkdir(parents=True)
    default_config().save(run_dir / "config.yaml")
    record_launch(run_dir, os.getpid())
    later = time.time() + 1
    (run_dir / "events.jsonl").write_text(json.dumps({
        "event": "status", "status": "failed", "time": later, "reason": Reason.OUT_OF_MEMORY,
        "error": "ran out of memory: CUDA out of memory", "advice": ADVICE[Reason.OUT_OF_MEMORY],
    }) + "\n")
    drawn = refresh_view(str(run_dir), "en", None)
    assert "failed (out of memory)" in drawn[0] and "lower the batch size" in drawn[0]
    assert "ran out of memory" in drawn[0] and "Traceback" not in drawn[0]
    assert drawn.resume == {"__type__": "update", "interactive": False}
    assert run_view.history_table("zh").iloc[0]["状态"] == "失败（内存不足）"

    checkpoint = run_dir / "checkpoint-4"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    assert refresh_view(str(run_dir), "en", None).resume == {"__type__": "update", "interactive": True}


def test_a_failed_run_reads_in_chinese(saves):
    """The worker writes the failure as message codes (EventLog's "said"), so the run view words it in 中文."""
    from engine.runs.events import EventLog
    from engine.runs.failures import classify_failure

    run_dir = saves / "tiny-demo" / "lora" / "oom-zh"
    run_dir.mkdir(parents=True)
    default_config().save(run_dir / "config.yaml")
    record_launch(run_dir, os.getpid())
    failure = classify_failure(MemoryError("CUDA out of memory"))
    EventLog(run_dir).write("status", status="failed", reason=failure.reason, error=failure.message,
                            advice=failure.advice)
    drawn = refresh_view(str(run_dir), "zh", None)[0]
    assert "内存不足：CUDA out of memory" in drawn and "减小批大小" in drawn
    assert "lower the batch size" not in drawn
    assert "lower the batch size" in refresh_view(str(run_dir), "en", None)[0]


def test_an_empty_curve_says_no_data_yet_in_both_languages(saves):
    for lang, words in (("en", "No data yet"), ("zh", "暂无数据")):
        drawn = refresh_view("", lang, None)
        assert drawn.curve["visible"] is False
        assert drawn.curve_empty["visible"] is True and words in drawn.curve_empty["value"]


def test_every_status_has_both_languages():
    statuses = ["created", "queued", "starting", "running", "completed", "stopped", "cancelled", "failed",
                *(f"failed ({reason})" for reason in ("killed", "out of memory", "disk full", "not writable"))]
    for status in statuses:
        assert run_view.status_text(status, "en") == status
        assert run_view.status_text(status, "zh") != status, status


def test_an_unwritable_saves_folder_is_refused_before_start(studio_dirs, monkeypatch):
    blocker = studio_dirs / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(blocker))
    message, run_dir = start_training(tiny_values(4), "en")
    assert run_dir is None and message.startswith(text("train.problems", "en")) and "is a file" in message
