"""Run directories and background training processes.

A run lives in saves/<model>/<method>/<run-name>/:
  config.yaml    exactly what ran           events.jsonl   progress, metrics, status of every attempt
  train.log      the worker's stdout+stderr  worker.json    pid, process group and start time of the worker
  worker.lock    locked by the live worker   QUEUED         present while the run waits in the queue
  checkpoint-N/  Trainer checkpoints          final/         the trained adapter or model
  STOP           present once a stop was asked for (its mtime is when)
The worker is an ordinary OS process in its own session (`python -m engine worker <run>`): it outlives the
UI, and anyone can read its files to follow it. It holds an exclusive lock on worker.lock for its whole life;
the kernel drops that lock when the process dies, however it dies, so "is a worker alive" never guesses from
pids, and two workers can never train into one directory. The queue (engine/runs/scheduler.py) decides when a run
starts; this module starts, follows and stops one.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.config.schema import RunConfig
from engine.runs.events import EventLog, current_events, final_status, read_events, read_last_status, status_label
from engine.runs.failures import DISK_FULL, KILLED, disk_nearly_full
from engine.models.loading import short_name
from engine.paths import CONFIG_FILE, PROJECT_DIR, PathEscapeError, inside, saves_dir

LOG_FILE = "train.log"
WORKER_FILE = "worker.json"
LOCK_FILE = "worker.lock"
QUEUED_FILE = "QUEUED"
STOP_FILE = "STOP"
CHECKPOINT_PREFIX = "checkpoint-"

# Statuses during which a run holds (or is about to hold) the machine; waiting ones first.
ACTIVE_STATUSES = ("queued", "starting", "running")
# Seconds a worker gets to stop cleanly after Stop before it is sent SIGTERM, then SIGKILL.
STOP_GRACE_S = 30.0
KILL_GRACE_S = 10.0
# Seconds a starting worker keeps trying for the lock: readers hold it for microseconds to test it.
CLAIM_PATIENCE_S = 5.0


class RunBusy(RuntimeError):
    """Another worker is training this run directory."""


# ---------------------------------------------------------------------------------------------------------
# Creating and finding run directories


def create_run(config: RunConfig) -> Path:
    """A new, empty run directory holding config.yaml; never one that already exists."""
    parent = saves_dir() / short_name(config.model.name_or_path) / config.method.finetuning_type
    parent.mkdir(parents=True, exist_ok=True)
    base = config.train.run_name or f"{datetime.now():%Y%m%d-%H%M%S}-{config.method.stage}"
    for attempt in range(1, 1000):
        # validate() refuses odd run names already; this keeps a config that skipped it inside saves/ too.
        run_dir = inside(parent, base if attempt == 1 else f"{base}-{attempt}", "run name")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        config.save(run_dir / CONFIG_FILE)
        return run_dir
    raise RuntimeError(f"could not find a free run name under {parent}")


def run_directory(path: str | Path) -> Path:
    """A user-given run folder, checked to be a run inside the saves folder (symlinks resolved)."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_relative_to(saves_dir()):
        raise PathEscapeError(f"{path} is not a run folder: runs live inside {saves_dir()}")
    if not (resolved / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a run folder: it holds no {CONFIG_FILE}")
    return resolved


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint the Trainer finished writing: it writes trainer_state.json last."""
    for checkpoint in sorted(_checkpoints(run_dir), key=_checkpoint_step, reverse=True):
        if checkpoint_step(checkpoint) is not None:
            return checkpoint
    return None


def checkpoint_step(checkpoint: Path) -> int | None:
    """The step a complete checkpoint was saved at; None when it is half-written."""
    try:
        return int(json.loads((checkpoint / "trainer_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def set_aside_incomplete_checkpoints(run_dir: Path) -> list[Path]:
    """Rename checkpoints a killed worker left half-written, so that neither a resume nor the Trainer's
    rotation of old checkpoints mistakes them for real ones; they are kept, not deleted."""
    moved = []
    for checkpoint in _checkpoints(run_dir):
        if checkpoint_step(checkpoint) is None:
            target = checkpoint.with_name(f"incomplete-{checkpoint.name}-{int(time.time())}")
            checkpoint.rename(target)
            moved.append(target)
    return moved


def _checkpoints(run_dir: Path) -> list[Path]:
    return [p for p in Path(run_dir).glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and _checkpoint_step(p) >= 0]


def _checkpoint_step(checkpoint: Path) -> int:
    suffix = checkpoint.name.removeprefix(CHECKPOINT_PREFIX)
    return int(suffix) if suffix.isdigit() else -1


# ---------------------------------------------------------------------------------------------------------
# Starting a worker

# Workers this process started, so they are reaped (not left as zombies) once they end.
_children: dict[int, subprocess.Popen] = {}


def worker_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "engine", "worker", str(run_dir)]


def start_run(config: RunConfig) -> "RunHandle":
    """Create a run directory and start its worker at once, bypassing the queue (engine.runs.scheduler.submit waits
    for the machine to be free; the UI and CLI use that)."""
    return launch_worker(create_run(config))


def launch_worker(run_dir: Path) -> "RunHandle":
    """Start the worker for `run_dir` in its own session; a stop asked of an earlier attempt is forgotten."""
    (run_dir / STOP_FILE).unlink(missing_ok=True)
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
    record_launch(run_dir, process.pid)
    _children[process.pid] = process
    return RunHandle(run_dir, process)


def reap_children() -> None:
    for pid, process in list(_children.items()):
        if process.poll() is not None:
            del _children[pid]


def record_launch(run_dir: Path, pid: int) -> None:
    """worker.json: who the worker is. The launcher writes it as soon as the process exists (so the run
    shows "starting"), and the worker again once it holds the lock. Written whole, then renamed in place."""
    import psutil

    record = {"pid": pid, "pgid": os.getpgid(pid), "create_time": psutil.Process(pid).create_time(),
              "time": round(time.time(), 3)}
    staging = run_dir / f".{WORKER_FILE}.{os.getpid()}"
    staging.write_text(json.dumps(record))
    staging.replace(run_dir / WORKER_FILE)


def launch_record(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / WORKER_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# ---------------------------------------------------------------------------------------------------------
# The worker's claim on its run directory


def claim_run(run_dir: Path):
    """Lock `run_dir` for this process's lifetime; returns the open lock file (closing it releases the
    claim). Raises RunBusy when another live worker holds it."""
    lock = (Path(run_dir) / LOCK_FILE).open("a")
    deadline = time.time() + CLAIM_PATIENCE_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.time() > deadline:
                lock.close()
                raise RunBusy(f"another worker is already training {run_dir}") from None
            time.sleep(0.05)


def worker_alive(run_dir: Path) -> bool:
    """True while a worker holds the run's lock, i.e. while its process (or a child it forked) lives."""
    try:
        lock = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(lock)  # also releases our shared lock, if we got it


def _launched_process_alive(record: dict) -> bool:
    import psutil

    try:
        process = psutil.Process(record["pid"])
        # The same pid with another start time is a different process that reused the number.
        same = abs(process.create_time() - record["create_time"]) < 1
        return same and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, KeyError):
        return False


# ---------------------------------------------------------------------------------------------------------
# Status


def run_status(run_dir: Path) -> str:
    """created | queued | starting | running | completed | stopped | cancelled | failed
    | failed (killed) | failed (out of memory) | failed (disk full) | failed (not writable)."""
    run_dir = Path(run_dir)
    reap_children()
    if worker_alive(run_dir):
        return "running"
    if (run_dir / QUEUED_FILE).exists():
        return "queued"
    last = read_last_status(run_dir)
    launch = launch_record(run_dir)
    if launch is None:  # never launched (or cancelled while queued), or started by hand without a record
        if last is None:
            return "created"
        return status_label(last) if final_status([last]) else f"failed ({KILLED})"
    this_attempt = last if last is not None and last["time"] >= launch["time"] else None
    if this_attempt is not None and final_status([this_attempt]):
        return status_label(this_attempt)
    if _launched_process_alive(launch):
        return "starting"
    # The worker is gone and left no final word: killed mid-run, or dead before it could claim the run.
    # On a full disk it most likely died writing, and could not even write why.
    if this_attempt is None:
        return "failed"
    return f"failed ({DISK_FULL})" if disk_nearly_full(run_dir) else f"failed ({KILLED})"


def is_active(run_dir: Path) -> bool:
    """True while the run trains or is about to; a queued run does not count, it waits."""
    return run_status(run_dir) in ("starting", "running")


def failure_event(run_dir: Path) -> dict | None:
    """The status event that says why the newest attempt failed, if one does."""
    final = final_status(read_events(run_dir))
    return final if final is not None and final["status"] == "failed" else None


# ---------------------------------------------------------------------------------------------------------
# Stopping


def request_stop(run_dir: Path) -> None:
    """Ask the worker to stop at its next step and save; it checks for this file every step. Asking again
    changes nothing: the grace period counts from the first request."""
    try:
        (Path(run_dir) / STOP_FILE).open("x").close()
    except FileExistsError:
        pass


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


def enforce_stop(run_dir: Path, grace_s: float = STOP_GRACE_S, kill_after_s: float = KILL_GRACE_S) -> None:
    """Make a requested stop happen; pollers call this. A worker still alive `grace_s` after the request is
    sent SIGTERM, `kill_after_s` later SIGKILL with its whole process group; once it has ended, whatever it
    left in its group (e.g. torchrun workers) is killed too."""
    run_dir = Path(run_dir)
    record = launch_record(run_dir)
    if record is None or not stop_requested(run_dir):
        return
    waited = time.time() - (run_dir / STOP_FILE).stat().st_mtime
    alive = worker_alive(run_dir) or _launched_process_alive(record)
    if not alive:
        signal_process_group(record, signal.SIGKILL)  # leftovers only; a no-op when the group is gone
        if not process_group_members(record):
            (run_dir / STOP_FILE).unlink(missing_ok=True)  # done: later polls need not look again
    elif waited > grace_s + kill_after_s:
        signal_process_group(record, signal.SIGKILL)
        _wait_until_dead(run_dir, record)
        EventLog(run_dir).write(
            "status", status="stopped",
            note=f"the worker did not stop within {grace_s + kill_after_s:.0f} s, so its processes were killed; "
                 "Resume continues from the last checkpoint",
        )
    elif waited > grace_s:
        signal_process_group(record, signal.SIGTERM)


def signal_process_group(record: dict, signum: int) -> None:
    """Send `signum` to the worker's process group and to any descendant that left it."""
    import psutil

    pgid = record["pgid"]
    try:
        leader = psutil.Process(record["pid"])
        if abs(leader.create_time() - record["create_time"]) >= 1:
            return  # the pid now belongs to a stranger; the old group is gone with its leader's number
        strays = [p for p in leader.children(recursive=True) if _pgid(p.pid) != pgid]
    except psutil.NoSuchProcess:
        strays = []  # a pid cannot be reused while its group lives, so any member left is ours
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
    for process in strays:
        try:
            process.send_signal(signum)
        except psutil.NoSuchProcess:
            pass


def process_group_members(record: dict) -> list[int]:
    """Pids still in the worker's process group (tests use this to prove nothing was left behind)."""
    import psutil

    return [p.pid for p in psutil.process_iter() if _pgid(p.pid) == record["pgid"]]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _wait_until_dead(run_dir: Path, record: dict, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while (worker_alive(run_dir) or _launched_process_alive(record)) and time.time() < deadline:
        reap_children()
        time.sleep(0.05)


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
        """Wait until the run has ended; a queued one is started when its turn comes."""
        from engine.runs.scheduler import advance  # the queue builds on this module; waiting is where the two meet

        deadline = None if timeout is None else time.time() + timeout
        while (state := self.status()) in ACTIVE_STATUSES:
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"run {self.run_dir} still {state} after {timeout} s")
            time.sleep(poll)
            advance()
        return state


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
    error: str = ""  # why the newest attempt failed, with advice, when it did


def summarize_run(run_dir: Path) -> RunSummary:
    config = RunConfig.load(run_dir / CONFIG_FILE)
    events = current_events(read_events(run_dir))
    logs = [e for e in events if e["event"] == "log"]
    start = next((e for e in reversed(events) if e["event"] == "start"), None)
    status = run_status(run_dir)
    final = final_status(events) if status.startswith("failed") else None
    return RunSummary(
        run_dir=run_dir,
        name=run_dir.name,
        model=config.model.name_or_path,
        method=config.method.finetuning_type,
        stage=config.method.stage,
        status=status,
        step=logs[-1]["step"] if logs else 0,
        total_steps=start["total_steps"] if start else 0,
        final_loss=logs[-1]["loss"] if logs else None,
        started=datetime.fromtimestamp((run_dir / CONFIG_FILE).stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S"),
        error="\n".join(filter(None, [final.get("error"), final.get("advice")])) if final else "",
    )


def all_run_dirs() -> list[Path]:
    return [config_path.parent for config_path in saves_dir().glob(f"*/*/*/{CONFIG_FILE}")]


def list_runs() -> list[RunSummary]:
    """Every run under the saves dir, newest first; unreadable folders are skipped."""
    summaries = []
    for run_dir in all_run_dirs():
        try:
            summaries.append(summarize_run(run_dir))
        except (OSError, ValueError):
            continue
    return sorted(summaries, key=lambda s: s.started, reverse=True)
