"""A run's status: one type that the runs, the queue, the CLI and the UI read, and how it is judged from files.

A status is a state (queued, running, failed...) and, for a failure whose cause is known, a reason. Its string
value is the label users read ("failed (out of memory)", "completed"), so it prints, compares and lands in a
table as text; code asks its properties (`.training`, `.failed`, `.reason`) instead of taking the text apart.
"""
from __future__ import annotations

import shutil
from enum import StrEnum
from pathlib import Path
from typing import Self

from engine.runs.events import final_status, read_last_status, tail_damaged
from engine.runs.files import EVENTS_FILE, QUEUED_FILE, WORKER_FILE
from engine.runs.process import launch_record, launched_process_alive, reap_children, worker_alive


class State(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Reason(StrEnum):
    """Why a run failed, when the cause is known (events.jsonl's "reason"; engine/runs/failures.py advises)."""

    KILLED = "killed"
    OUT_OF_MEMORY = "out of memory"
    DISK_FULL = "disk full"
    NOT_WRITABLE = "not writable"
    DAMAGED = "damaged"  # its files hold something the worker never wrote: listed and deletable, not trusted
    NOT_FINITE = "not finite"  # the loss or gradients became NaN or infinite, so training stopped there
    DATA = "data"
    NOT_SUPPORTED = "not supported"  # the model refused a setting (an attention kernel its class does not have)


TRAINING_STATES = (State.STARTING, State.RUNNING)
FINAL_STATES = (State.COMPLETED, State.STOPPED, State.CANCELLED, State.FAILED)
RESUMABLE_STATES = (State.STOPPED, State.CANCELLED, State.FAILED)


class RunStatus(str):
    """A state and an optional reason; equal to its label, e.g. RunStatus("failed", "killed") == "failed (killed)"."""

    state: State
    reason: Reason | None

    def __new__(cls, state: State | str, reason: Reason | str | None = None) -> Self:
        state, reason = State(state), Reason(reason) if reason else None
        status = super().__new__(cls, f"{state} ({reason})" if reason else state.value)
        status.state, status.reason = state, reason
        return status

    def __getnewargs__(self):  # copies and pickles rebuild from the parts, not from the label
        return self.state, self.reason

    def __repr__(self) -> str:
        return f"RunStatus({str(self)!r})"

    @property
    def waiting(self) -> bool:
        """In the queue, not started yet."""
        return self.state is State.QUEUED

    @property
    def training(self) -> bool:
        """A worker holds (or is about to hold) the machine."""
        return self.state in TRAINING_STATES

    @property
    def active(self) -> bool:
        """Waiting or training: the run has not ended."""
        return self.waiting or self.training

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def failed(self) -> bool:
        return self.state is State.FAILED

    @property
    def resumable(self) -> bool:
        """Ended early: Resume may continue it."""
        return self.state in RESUMABLE_STATES


def status_of_event(event: dict) -> RunStatus:
    """The status a final status event of events.jsonl records."""
    return RunStatus(event["status"], event.get("reason"))


# ---------------------------------------------------------------------------------------------------------
# Judging a run's status from its files


def run_status(run_dir: Path) -> RunStatus:
    """The run's status now: from the worker's lock, the queue file, the launch record and the last event."""
    run_dir = Path(run_dir)
    reap_children()
    if worker_alive(run_dir):
        return RunStatus(State.RUNNING)
    if (run_dir / QUEUED_FILE).exists():
        return RunStatus(State.QUEUED)
    last = read_last_status(run_dir)
    launch = launch_record(run_dir)
    if damaged_file(run_dir):
        return RunStatus(State.FAILED, Reason.DAMAGED)
    if launch is None:  # never launched (or cancelled while queued), or started by hand without a record
        if last is None:
            return RunStatus(State.CREATED)
        return status_of_event(last) if final_status([last]) else RunStatus(State.FAILED, Reason.KILLED)
    this_attempt = last if last is not None and last["time"] >= launch["time"] else None
    if this_attempt is not None and final_status([this_attempt]):
        return status_of_event(this_attempt)
    if launched_process_alive(launch):
        return RunStatus(State.STARTING)
    # The worker is gone and left no final word: killed mid-run, or dead before it could claim the run.
    # On a full disk it most likely died writing, and could not even write why.
    if this_attempt is None:
        return RunStatus(State.FAILED)
    return RunStatus(State.FAILED, Reason.DISK_FULL if disk_nearly_full(run_dir) else Reason.KILLED)


def damaged_file(run_dir: Path) -> str | None:
    """Which file of the run holds something its worker never wrote, or None: the newest line of
    events.jsonl, or worker.json (which is written whole, then renamed into place)."""
    if tail_damaged(run_dir):
        return f"the last line of {EVENTS_FILE}"
    if (run_dir / WORKER_FILE).exists() and launch_record(run_dir) is None:
        return WORKER_FILE
    return None


def disk_nearly_full(folder: Path, below_bytes: int = 16 * 1024**2) -> bool:
    """True when the disk of `folder` has almost no room left: a worker that died silently there most
    likely died writing."""
    try:
        return shutil.disk_usage(folder).free < below_bytes
    except OSError:
        return False
