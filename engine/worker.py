"""The training process: claims a run directory, trains, and always leaves a final status event."""
from __future__ import annotations

import signal
import sys
import traceback
from pathlib import Path

from .config import ConfigError, RunConfig
from .events import EventLog
from .runs import CONFIG_FILE, LOG_FILE, record_worker, stop_requested


class _Tee:
    """Write to the terminal and to train.log at once, for runs started from a terminal."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()

    def isatty(self):
        return False


def _log_to_file(run_dir: Path) -> None:
    """Send output to train.log unless the launcher already pointed stdout there."""
    import os

    log_path = run_dir / LOG_FILE
    if log_path.exists() and os.path.samestat(os.fstat(sys.stdout.fileno()), log_path.stat()):
        return
    log = log_path.open("a", encoding="utf-8", buffering=1)
    sys.stdout, sys.stderr = _Tee(sys.__stdout__, log), _Tee(sys.__stderr__, log)


def train_in_this_process(run_dir: Path) -> int:
    """Train the run in `run_dir`; the exit code is 0 for completed or stopped, 1 for failed."""
    run_dir = Path(run_dir)
    log = EventLog(run_dir)
    log.claim()
    _log_to_file(run_dir)
    record_worker(run_dir)
    interrupted = []
    # SIGTERM and Ctrl-C become a stop request: the Trainer finishes its step and saves.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: interrupted.append(True))
    log.write("status", status="running")
    try:
        from .stages import run_training
        from .training import RunContext

        config = RunConfig.load(run_dir / CONFIG_FILE)
        outcome = run_training(RunContext(config, run_dir, log, lambda: bool(interrupted) or stop_requested(run_dir)))
    except Exception as err:  # any failure must still end in a readable status
        traceback.print_exc()
        log.write("status", status="failed", error=_explain(err), traceback=traceback.format_exc()[-4000:])
        return 1
    log.write("status", status=outcome)
    print(f"run {outcome}: {run_dir}", flush=True)
    return 0


def _explain(err: Exception) -> str:
    if isinstance(err, ConfigError):
        return "the config has problems:\n" + "\n".join(f"- {p}" for p in err.problems)
    return f"{type(err).__name__}: {err}".strip()
