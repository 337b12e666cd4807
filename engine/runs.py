"""Run directories and background training processes.

A run lives in saves/<model>/<method>/<run-name>/:
  config.yaml    exactly what ran           events.jsonl   progress, metrics, final status
  train.log      the worker's stdout+stderr  worker.json    pid and start time of the worker process
  checkpoint-N/  Trainer checkpoints          final/         the trained adapter or model
  STOP           present once a stop was asked for
The worker is an ordinary OS process in its own session (`python -m engine train <run>/config.yaml`):
it outlives the UI, and anyone can read its files to follow it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .config import RunConfig
from .events import EVENTS_FILE, final_status, read_events
from .models import short_name
from .paths import PROJECT_DIR, saves_dir

CONFIG_FILE = "config.yaml"
LOG_FILE = "train.log"
WORKER_FILE = "worker.json"
STOP_FILE = "STOP"


# ---------------------------------------------------------------------------------------------------------
# Creating and starting


def create_run(config: RunConfig) -> Path:
    """A new, empty run directory holding config.yaml; never one that already exists."""
    parent = saves_dir() / short_name(config.model.name_or_path) / config.method.finetuning_type
    parent.mkdir(parents=True, exist_ok=True)
    base = config.train.run_name or f"{datetime.now():%Y%m%d-%H%M%S}-{config.method.stage}"
    for attempt in range(1, 1000):
        run_dir = parent / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        config.save(run_dir / CONFIG_FILE)
        return run_dir
    raise RuntimeError(f"could not find a free run name under {parent}")


def is_fresh_run(config_path: Path) -> bool:
    """True for the config.yaml of a run directory that no worker has claimed yet."""
    run_dir = config_path.resolve().parent
    return (
        config_path.name == CONFIG_FILE
        and run_dir.is_relative_to(saves_dir())
        and not (run_dir / EVENTS_FILE).exists()
    )


def worker_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "engine", "train", str(run_dir / CONFIG_FILE)]


def start_run(config: RunConfig) -> "RunHandle":
    """Create a run directory and start its training in a background process."""
    run_dir = create_run(config)
    return launch_worker(run_dir)


def launch_worker(run_dir: Path) -> "RunHandle":
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")]))
    with (run_dir / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(
            worker_command(run_dir),
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: the UI closing or crashing does not end it
        )
    return RunHandle(run_dir, process)


# ---------------------------------------------------------------------------------------------------------
# Following a run


@dataclass
class RunHandle:
    run_dir: Path
    process: subprocess.Popen | None = None

    def events(self) -> list[dict]:
        return read_events(self.run_dir)

    def status(self) -> str:
        if self.process is not None:
            self.process.poll()  # reap our own child so it is not mistaken for a live zombie
        return run_status(self.run_dir)

    def stop(self) -> None:
        request_stop(self.run_dir)

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> str:
        deadline = None if timeout is None else time.time() + timeout
        while (state := self.status()) in ("starting", "running"):
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"run {self.run_dir} still {state} after {timeout} s")
            time.sleep(poll)
        return state


def request_stop(run_dir: Path) -> None:
    """Ask the worker to stop at its next step and save; it checks for this file every step."""
    (Path(run_dir) / STOP_FILE).touch()


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


def record_worker(run_dir: Path) -> None:
    import psutil

    me = psutil.Process()
    (run_dir / WORKER_FILE).write_text(json.dumps({"pid": me.pid, "create_time": me.create_time()}))


def worker_alive(run_dir: Path) -> bool:
    import psutil

    try:
        info = json.loads((run_dir / WORKER_FILE).read_text())
        process = psutil.Process(info["pid"])
        # The same pid with another start time is a different process that reused the number.
        return abs(process.create_time() - info["create_time"]) < 1 and process.status() != psutil.STATUS_ZOMBIE
    except (FileNotFoundError, json.JSONDecodeError, psutil.NoSuchProcess):
        return False


def run_status(run_dir: Path) -> str:
    """starting | running | completed | stopped | failed | failed (killed)."""
    run_dir = Path(run_dir)
    final = final_status(read_events(run_dir))
    if final:
        return final["status"]
    if not (run_dir / EVENTS_FILE).exists():
        return "starting" if (run_dir / LOG_FILE).exists() else "created"
    return "running" if worker_alive(run_dir) else "failed (killed)"


# ---------------------------------------------------------------------------------------------------------
# The run list


@dataclass
class RunSummary:
    run_dir: Path
    name: str
    model: str
    method: str
    stage: str
    status: str
    step: int
    total_steps: int
    final_loss: float | None
    started: str


def summarize_run(run_dir: Path) -> RunSummary:
    config = RunConfig.load(run_dir / CONFIG_FILE)
    events = read_events(run_dir)
    logs = [e for e in events if e["event"] == "log"]
    start = next((e for e in events if e["event"] == "start"), None)
    return RunSummary(
        run_dir=run_dir,
        name=run_dir.name,
        model=config.model.name_or_path,
        method=config.method.finetuning_type,
        stage=config.method.stage,
        status=run_status(run_dir),
        step=logs[-1]["step"] if logs else 0,
        total_steps=start["total_steps"] if start else 0,
        final_loss=logs[-1]["loss"] if logs else None,
        started=datetime.fromtimestamp((run_dir / CONFIG_FILE).stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S"),
    )


def list_runs() -> list[RunSummary]:
    """Every run under the saves dir, newest first; unreadable folders are skipped."""
    summaries = []
    for config_path in saves_dir().glob(f"*/*/*/{CONFIG_FILE}"):
        try:
            summaries.append(summarize_run(config_path.parent))
        except (OSError, ValueError):
            continue
    return sorted(summaries, key=lambda s: s.started, reverse=True)
