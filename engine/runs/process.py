"""The worker process of a run: launching it, its claim on the run directory, and ending it.

The worker is an ordinary OS process in its own session (`python -m engine worker <run>`): it outlives the
UI, and anyone can read its files to follow it. It holds an exclusive lock on worker.lock for its whole life;
the kernel drops that lock when the process dies, however it dies, so "is a worker alive" never guesses from
pids, and two workers can never train into one directory. The queue (engine/runs/scheduler.py) decides when a
run starts; this module starts, watches and stops one process.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.paths import PROJECT_DIR
from engine.runs.events import EventLog
from engine.runs.files import LOCK_FILE, LOG_FILE, STOP_FILE, WORKER_FILE
from engine.runs.standby import hand_over, take_standby, worker_environment

# Seconds a worker gets to stop cleanly after Stop before it is sent SIGTERM, then SIGKILL.
STOP_GRACE_S = 30.0
KILL_GRACE_S = 10.0
# Seconds a starting worker keeps trying for the lock: readers hold it for microseconds to test it.
CLAIM_PATIENCE_S = 5.0


class RunBusy(RuntimeError):
    """Another worker is training this run directory."""


# ---------------------------------------------------------------------------------------------------------
# Starting a worker

# Workers this process started, so they are reaped (not left as zombies) once they end.
_children: dict[int, subprocess.Popen] = {}


def worker_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "engine", "worker", str(run_dir)]


def launch_worker(run_dir: Path) -> subprocess.Popen:
    """Start the worker for `run_dir` in its own session — the standby worker when this process keeps one
    (engine/runs/standby.py), else a new process; a stop asked of an earlier attempt is forgotten."""
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    process = take_standby()
    if process is not None:
        record_launch(run_dir, process.pid)  # before the hand-over: from then on it may write events at once
        if not hand_over(process, run_dir):
            process = None
    if process is None:
        with (run_dir / LOG_FILE).open("ab") as log:
            process = subprocess.Popen(
                worker_command(run_dir),
                cwd=PROJECT_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=worker_environment(),
                start_new_session=True,  # its own process group: the UI closing or crashing does not end it
            )
        record_launch(run_dir, process.pid)
    _children[process.pid] = process
    return process


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
    """worker.json, or None when there is none or it is not one record_launch wrote (status.py: damaged)."""
    try:
        record = json.loads((Path(run_dir) / WORKER_FILE).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    fields = {"pid": int, "pgid": int, "create_time": (int, float), "time": (int, float)}
    if not isinstance(record, dict) or any(not isinstance(record.get(k), t) for k, t in fields.items()):
        return None
    return record


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


def launched_process_alive(record: dict) -> bool:
    """True while the process the launch record names lives (a zombie does not count)."""
    import psutil

    try:
        process = psutil.Process(record["pid"])
        # The same pid with another start time is a different process that reused the number.
        same = abs(process.create_time() - record["create_time"]) < 1
        return same and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, KeyError):
        return False


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
    alive = worker_alive(run_dir) or launched_process_alive(record)
    if not alive:
        signal_process_group(record, signal.SIGKILL, run_dir)  # leftovers only; a no-op when the group is gone
        if not process_group_members(record):
            (run_dir / STOP_FILE).unlink(missing_ok=True)  # done: later polls need not look again
    elif waited > grace_s + kill_after_s:
        signal_process_group(record, signal.SIGKILL, run_dir)
        _wait_until_dead(run_dir, record)
        EventLog(run_dir).write(
            "status", status="stopped",
            note=f"the worker did not stop within {grace_s + kill_after_s:.0f} s, so its processes were killed; "
                 "Resume continues from the last checkpoint",
        )
    elif waited > grace_s:
        signal_process_group(record, signal.SIGTERM, run_dir)


def signal_process_group(record: dict, signum: int, run_dir: Path | None = None) -> None:
    """Send `signum` to the worker's process group and to any descendant that left it, except another run's
    worker and what it started: a worker that ends advances the queue, so the next run's worker (or a standby
    handed the next run) is its child, in a session of its own."""
    import psutil

    pgid = record["pgid"]
    try:
        leader = psutil.Process(record["pid"])
        if abs(leader.create_time() - record["create_time"]) >= 1:
            return  # the pid now belongs to a stranger; the old group is gone with its leader's number
        descendants = leader.children(recursive=True)
        spared = {p.pid for other in descendants if _other_runs_worker(other, run_dir)
                  for p in (other, *_children_of(other))}
        strays = [p for p in descendants if _pgid(p.pid) != pgid and p.pid not in spared]
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


def _other_runs_worker(process, run_dir: Path | None) -> bool:
    """A `python -m engine worker <another run>` or `python -m engine standby` process."""
    import psutil

    try:
        command = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    role = command[1:4]
    if role == ["-m", "engine", "standby"]:
        return True
    return role == ["-m", "engine", "worker"] and (
        run_dir is None or len(command) < 5 or Path(command[4]).resolve() != Path(run_dir).resolve())


def _children_of(process) -> list:
    import psutil

    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


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
    while (worker_alive(run_dir) or launched_process_alive(record)) and time.time() < deadline:
        reap_children()
        time.sleep(0.05)
