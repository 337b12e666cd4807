"""One training at a time: the machine (its GPU) is one resource, so Start puts a run in a queue.

The queue is files, not memory, so it survives a restart of the UI server:
  saves/.queue.lock        an flock held while anyone looks at or changes the queue: two Start presses, or a
                           UI and a CLI, never both see "free" and start two workers
  <run>/QUEUED             present while that run waits; it holds when it was queued (the order)
Nothing runs in the background to move the queue on. Whoever is around calls `advance()`: the UI's timer,
the CLI while it follows a run, `RunHandle.wait`, and every worker as its last act, so the next run starts
when one ends even with no browser open. `advance()` also makes pending stops happen (SIGTERM, then SIGKILL,
after a grace period) and writes down why a worker that died silently has failed.
"""
from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.config.schema import RunConfig
from engine.train.rules import validate
from engine.messages import Message, say
from engine.paths import PathEscapeError, saves_dir
from engine.runs.events import EventLog, read_events, read_last_status
from engine.runs.failures import ADVICE
from engine.runs.files import CONFIG_FILE, LOG_FILE, QUEUED_FILE
from engine.runs.preflight import StartRefused, preflight, saves_dir_problem
from engine.runs.standby import replenish
from engine.runs.process import (
    KILL_GRACE_S,
    STOP_GRACE_S,
    enforce_stop,
    launch_record,
    launch_worker,
    reap_children,
    request_stop,
    stop_requested,
)
from engine.runs.status import Reason, RunStatus, State, run_status
from engine.runs.store import all_run_dirs, create_run, run_directory

QUEUE_LOCK_FILE = ".queue.lock"


@contextmanager
def queue_lock():
    """Exclusive access to the queue for every process on this machine (blocks until it is free)."""
    problem = saves_dir_problem(saves_dir())
    if problem:
        raise StartRefused([problem])
    with (saves_dir() / QUEUE_LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------------
# Following a run


@dataclass
class RunHandle:
    run_dir: Path
    process: subprocess.Popen | None = None

    def events(self) -> list[dict]:
        return read_events(self.run_dir)

    def status(self) -> RunStatus:
        if self.process is not None:
            self.process.poll()  # reap our own child so it is not mistaken for a live zombie
        return run_status(self.run_dir)

    def stop(self) -> None:
        request_stop(self.run_dir)

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> RunStatus:
        """Wait until the run has ended, moving the queue on meanwhile: a queued run starts when its turn comes."""
        deadline = None if timeout is None else time.time() + timeout
        while (status := self.status()).active:
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"run {self.run_dir} still {status} after {timeout} s")
            time.sleep(poll)
            advance()
        return status


# ---------------------------------------------------------------------------------------------------------
# Putting runs in


def submit(config: RunConfig) -> RunHandle:
    """Create a run for `config` and queue it; it starts at once when nothing else trains.
    Raises StartRefused (with every problem as a sentence) for an invalid config, a saves folder that cannot
    be written, or a disk without room for the run."""
    problems = validate(config) or preflight(config)
    if problems:
        raise StartRefused(problems)
    return _enqueue(create_run(config))


def start_run(config: RunConfig) -> RunHandle:
    """Create a run directory and start its worker at once, bypassing the queue and its checks (tests use it
    to reach what only a worker sees; the UI and CLI submit)."""
    run_dir = create_run(config)
    return RunHandle(run_dir, launch_worker(run_dir))


def resume_run(run_dir: str | Path) -> RunHandle:
    """Queue a stopped, cancelled or failed run to continue in the same directory from its newest complete
    checkpoint (from the start when it has none). Its events go on in the same events.jsonl."""
    run_dir = run_directory(run_dir)
    status = run_status(run_dir)
    if status.active or status.state is State.COMPLETED:  # a created run never started: it may start now
        raise StartRefused([f"run {run_dir.name} is {status}; only a stopped, cancelled or failed run can resume"])
    problems = preflight(RunConfig.load(run_dir / CONFIG_FILE))
    if problems:
        raise StartRefused(problems)
    return _enqueue(run_dir)


def _enqueue(run_dir: Path) -> RunHandle:
    with queue_lock():
        (run_dir / QUEUED_FILE).write_text(json.dumps({"queued_at_ns": time.time_ns()}))
    started = advance()
    return started if started is not None and started.run_dir == run_dir else RunHandle(run_dir)


# ---------------------------------------------------------------------------------------------------------
# Moving the queue on


def advance(grace_s: float = STOP_GRACE_S, kill_after_s: float = KILL_GRACE_S) -> RunHandle | None:
    """Start the next queued run if nothing trains; returns its handle (or None). On the way: reap ended
    workers, escalate stops older than `grace_s`, and record why silently dead workers failed."""
    with queue_lock():
        reap_children()
        run_dirs = all_run_dirs()
        for run_dir in run_dirs:
            if stop_requested(run_dir):
                enforce_stop(run_dir, grace_s, kill_after_s)
        statuses = {run_dir: run_status(run_dir) for run_dir in run_dirs}
        for run_dir, status in statuses.items():
            if status.failed and status.reason in SILENT_DEATHS and not _failure_recorded(run_dir):
                _record_silent_death(run_dir, status)
        if any(status.training for status in statuses.values()):
            return None
        waiting = sorted((d for d, s in statuses.items() if s.waiting), key=_queued_at)
        if not waiting:
            replenish()  # the machine is idle: the next Start's worker may import its libraries now
            return None
        handle = RunHandle(waiting[0], launch_worker(waiting[0]))
        (waiting[0] / QUEUED_FILE).unlink(missing_ok=True)  # after the launch record: never neither
    return handle


def queued_runs() -> list[Path]:
    """Run folders waiting to start, first to start first."""
    return sorted((d for d in all_run_dirs() if (d / QUEUED_FILE).exists()), key=_queued_at)


def _queued_at(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / QUEUED_FILE).read_text())["queued_at_ns"]
    except (OSError, ValueError, KeyError):
        return int(run_dir.stat().st_mtime * 1e9)


def _failure_recorded(run_dir: Path) -> bool:
    last = read_last_status(run_dir)
    record = launch_record(run_dir)
    return last is not None and last["status"] == State.FAILED and (record is None or last["time"] >= record["time"])


# What a silent death's status means, said in the event that records it.
SILENT_DEATHS = {
    Reason.DISK_FULL: "failure.silent.disk_full",
    Reason.KILLED: "failure.silent.killed",
    None: "failure.silent.before_start",  # with the end of train.log
}


def _record_silent_death(run_dir: Path, status: RunStatus) -> None:
    """Write down why a worker that ended without a final status failed, so every reader sees the same
    reason and advice (the UI shows them next to the status)."""
    reason = status.reason
    error = say(SILENT_DEATHS[reason], **({} if reason else {"tail": _log_tail(run_dir)}))
    fields = {"reason": reason, "advice": ADVICE[reason]} if reason else {}
    try:
        EventLog(run_dir).write("status", status=State.FAILED, error=error, **fields)
    except OSError:
        pass  # a full or read-only disk: the status stays derived from the files, which is still right


def _log_tail(run_dir: Path, lines: int = 8) -> str:
    try:
        return "\n".join((run_dir / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no train.log)"


# ---------------------------------------------------------------------------------------------------------
# Taking runs out


def stop_run(run_dir: str | Path) -> str:
    """Stop button: a queued run is cancelled ("cancelled"); a training one is asked to save and stop
    ("stopping"), and `advance()` escalates if it does not; anything else is left alone ("not running").
    Pressing it twice is harmless."""
    run_dir = run_directory(run_dir)
    with queue_lock():
        status = run_status(run_dir)
        if status.waiting:
            (run_dir / QUEUED_FILE).unlink()
            EventLog(run_dir).write("status", status=State.CANCELLED)
            return "cancelled"
        if status.training:
            request_stop(run_dir)
            return "stopping"
    return "not running"


def stop_and_wait(
    run_dir: str | Path, grace_s: float = STOP_GRACE_S, kill_after_s: float = KILL_GRACE_S, poll: float = 0.5
) -> RunStatus:
    """Stop and return the final status once the worker and every process it started have ended; the
    queue moves on to the next run meanwhile."""
    run_dir = run_directory(run_dir)
    stop_run(run_dir)
    deadline = time.time() + grace_s + kill_after_s + 30  # past the SIGKILL, the kernel needs a moment
    while run_status(run_dir).training and time.time() < deadline:
        time.sleep(poll)
        advance(grace_s, kill_after_s)
    advance(grace_s, kill_after_s)  # once more: the worker has ended, so kill what it left in its group
    return run_status(run_dir)


class RunActive(RuntimeError):
    """A run that has not ended cannot be deleted; `message` says what to do first."""

    def __init__(self, message: Message):
        super().__init__(message)
        self.message = message


def delete_run(run_dir: str | Path) -> Path:
    """Delete a run folder and everything in it; returns the folder deleted. Confined by resolved path to a
    run folder of the saves folder (saves/<model>/<method>/<run>); RunActive while it waits in the queue or
    trains. The queue's lock is held meanwhile, so the queue cannot start it halfway."""
    run_dir = run_directory(run_dir)
    if len(run_dir.relative_to(saves_dir()).parts) != 3:
        raise PathEscapeError(say("runs.delete_not_run_folder", folder=run_dir, saves=saves_dir()))
    with queue_lock():
        status = run_status(run_dir)
        if status.waiting:
            raise RunActive(say("runs.delete_queued", run=run_dir.name))
        if status.training:
            raise RunActive(say("runs.delete_training", run=run_dir.name))
        shutil.rmtree(run_dir)
    # The model/method folders above stay, even when empty: a run being created there meanwhile needs them.
    return run_dir
