"""Faults a run must survive, each done for real: SIGKILL then resume, out of memory, a full disk, an unwritable
saves folder; plus the classification of failures into plain reasons."""
import errno
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
from engine.runs.failures import classify_failure
from engine.runs.preflight import StartRefused, preflight
from engine.runs.process import launch_record
from engine.runs.scheduler import advance, resume_run, start_run, submit
from engine.runs.store import list_runs, newest_checkpoint

# Seconds a run may take to end: the waits poll its real status, so a generous bound costs nothing when it goes
# well, and a few steps take minutes on a loaded 2-core machine.
SLOW_WAIT = 900


def logged_steps(events):
    return [e["step"] for e in events if e["event"] == "log"]


# ---------------------------------------------------------------------------------------------------------
# SIGKILL, then Resume


def test_a_killed_run_shows_killed_and_resumes_to_the_same_final_step(studio_dirs, tiny_model):
    handle = submit(short_run_config(max_steps=12, save_steps=4))
    wait_for(
        lambda: newest_checkpoint(handle.run_dir) is not None and max(logged_steps(handle.events()), default=0) >= 6
    )
    os.killpg(launch_record(handle.run_dir)["pgid"], signal.SIGKILL)
    killed_at = time.time()
    wait_for(lambda: handle.status() == "failed (killed)", timeout=120, poll=0.05)
    detected_s = time.time() - killed_at
    print(f"kill detected after {detected_s:.2f} s")
    assert detected_s < 3

    first_attempt = read_events(handle.run_dir)
    checkpoint = newest_checkpoint(handle.run_dir)
    assert (handle.run_dir / "train.log").stat().st_size > 0
    assert (checkpoint / "optimizer.pt").exists() and (checkpoint / "rng_state.pth").exists()
    advance()  # a poller writes down why it failed, with advice, for every reader
    (summary,) = list_runs()
    assert summary.status == "failed (killed)" and "Resume" in summary.error

    resumed = resume_run(handle.run_dir)
    assert resumed.run_dir == handle.run_dir
    assert resumed.wait(timeout=SLOW_WAIT) == "completed"

    events = read_events(handle.run_dir)
    assert events[: len(first_attempt)] == first_attempt  # the log was appended to, never rewritten
    after = events[len(first_attempt) :]
    (resume_event,) = [e for e in after if e.get("status") == "resumed"]
    from_step = resume_event["from_step"]
    assert resume_event["checkpoint"] == checkpoint.name == f"checkpoint-{from_step}"
    steps_after = logged_steps(after)
    assert steps_after[0] == from_step + 1 and steps_after[-1] == 12
    assert [e["total_steps"] for e in after if e["event"] == "start"] == [12]
    state = json.loads((handle.run_dir / "checkpoint-12" / "trainer_state.json").read_text())
    assert state["global_step"] == state["max_steps"] == 12
    # Optimizer, scheduler, RNG and data position restored: the steps the killed attempt had done after its
    # checkpoint come out again with the same loss.
    before = {e["step"]: e["loss"] for e in first_attempt if e["event"] == "log" and e["step"] > from_step}
    again = {e["step"]: e["loss"] for e in after if e["event"] == "log" and e["step"] in before}
    assert again and all(again[step] == pytest.approx(before[step], rel=1e-4) for step in again)
    assert (handle.run_dir / "final" / "adapter_model.safetensors").exists()


def test_a_completed_run_cannot_be_resumed(studio_dirs, tiny_model):
    handle = submit(short_run_config(max_steps=1))
    assert handle.wait(timeout=SLOW_WAIT) == "completed"
    with pytest.raises(StartRefused, match="is completed; only a stopped, cancelled or failed run can resume"):
        resume_run(handle.run_dir)


# ---------------------------------------------------------------------------------------------------------
# Out of memory


@pytest.fixture
def long_rows(tmp_path, monkeypatch):
    """A registry with one dataset of 64 rows far longer than the tiny model's 2048-token context."""
    data = tmp_path / "data"
    data.mkdir()
    words = " ".join(f"word{i % 97} and more text" for i in range(1500))
    rows = [{"instruction": f"Repeat {i}", "input": "", "output": words} for i in range(64)]
    (data / "long.json").write_text(json.dumps(rows))
    (data / "dataset_info.json").write_text(json.dumps({"long_rows": {"file_name": "long.json"}}))
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(data / "dataset_info.json"))


def test_out_of_memory_fails_with_plain_advice(studio_dirs, tiny_model, long_rows):
    config = short_run_config(max_steps=3)
    config.data.datasets = ["long_rows"]
    config.data.max_samples = 0
    config.data.cutoff_len = 2048
    config.train.per_device_train_batch_size = 64  # 64 × 2048 tokens: logits alone are 2 GB in float32
    handle = start_run(config)
    worker = psutil.Process(handle.process.pid)
    # A memory cap for this worker only, set once its model is loaded: 1 GB more than it holds now.
    wait_for(lambda: any(e["event"] == "start" for e in handle.events()), poll=0.02)
    cap = worker.memory_info().vms + 1024**3
    worker.rlimit(psutil.RLIMIT_AS, (cap, cap))
    assert handle.wait(timeout=SLOW_WAIT) == "failed (out of memory)"
    status = read_events(handle.run_dir)[-1]
    assert status["reason"] == "out of memory"
    assert "lower the batch size" in status["advice"] and "gradient checkpointing" in status["advice"]
    assert "4-bit" in status["advice"]
    assert "can't allocate memory" in status["error"] or "out of memory" in status["error"]
    assert "lower the batch size" in (handle.run_dir / "train.log").read_text()


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MemoryError(), "out of memory"),
        (
            RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory"),
            "out of memory",
        ),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk full"),
        (RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"), "disk full"),
        (PermissionError(errno.EACCES, "Permission denied", "/saves/run"), "not writable"),
        (ValueError("something else"), None),
    ],
)
def test_failures_are_classified_in_plain_words(error, reason):
    failure = classify_failure(error)
    assert failure.reason == reason
    assert bool(failure.advice) == (reason is not None)


def test_a_wrapped_torch_oom_is_found_through_the_chain():
    import torch

    try:
        try:
            raise torch.OutOfMemoryError("CUDA error")
        except torch.OutOfMemoryError as inner:
            raise RuntimeError("the trainer failed") from inner
    except RuntimeError as outer:
        assert classify_failure(outer).reason == "out of memory"


# ---------------------------------------------------------------------------------------------------------
# Disk full, unwritable saves folder


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB filesystem (tmpfs); skipped where this machine does not let us mount one."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_disk_too_small_is_refused_before_start(studio_dirs, small_disk, monkeypatch):
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(small_disk / "saves"))
    with pytest.raises(StartRefused, match="free, and this run needs about .* for its checkpoints"):
        submit(short_run_config(max_steps=2))
    assert not list((small_disk / "saves").glob("*/*/*"))  # nothing was created


def test_a_disk_that_fills_up_mid_run_fails_with_disk_full(studio_dirs, tiny_model, small_disk, monkeypatch):
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(small_disk / "saves"))
    handle = start_run(short_run_config(max_steps=4, save_steps=2))  # straight to a worker: what preflight cannot see
    assert handle.wait(timeout=SLOW_WAIT) == "failed (disk full)"
    advance()
    (summary,) = list_runs()
    assert summary.status == "failed (disk full)"


def test_a_saves_folder_that_is_a_file_is_refused_before_start(studio_dirs, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(blocker))
    problems = preflight(short_run_config(max_steps=2))
    assert problems == [
        f"the saves folder {blocker} is a file, not a folder; move it away or point STUDIO_SAVES_DIR at a folder"
    ]
    with pytest.raises(StartRefused):
        submit(short_run_config(max_steps=2))


def test_a_saves_folder_under_a_file_is_refused_by_the_cli(studio_dirs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = tmp_path / "run.yaml"
    short_run_config(max_steps=2).save(config)
    env = {**os.environ, "STUDIO_SAVES_DIR": str(blocker / "saves")}
    result = subprocess.run(
        [sys.executable, "-m", "engine", "train", str(config)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert f"cannot write to the saves folder {blocker / 'saves'}: Not a directory" in result.stderr


def test_a_read_only_saves_folder_is_refused(studio_dirs, small_disk, monkeypatch):
    (small_disk / "saves").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(small_disk / "saves"))
    (problem,) = preflight(short_run_config(max_steps=2))
    assert problem.startswith(f"cannot write to the saves folder {small_disk / 'saves'}: Read-only file system")
