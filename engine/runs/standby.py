"""A worker started before it is needed: the studio keeps one waiting with the training libraries imported, so
that pressing Start does not wait ~6 s (on two idle cores) for torch, transformers, peft and trl to load.

The standby is the same program as a worker (`python -m engine standby`, engine/runs/worker.py:
train_when_handed_a_run), started the same way (its own session, the worker's environment), that imports what
training needs and then blocks reading one line from its stdin: the run directory it is to train. From then on
it *is* that run's worker — same claim, same events, same process group — so nothing that follows or stops a
run can tell the difference. The process that keeps it (the web UI; `keep_standby()`) hands it the next run it
launches and starts another once nothing trains, not at once: a standby importing beside a starting run would
take the CPU that run needs. When the keeping process ends, the standby reads end-of-file and exits; it holds
no file of any run until it is handed one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.paths import PROJECT_DIR

READY = b"ready\n"  # the standby's one line on its stdout once the libraries are imported


class _Kept:
    """The standby this process keeps, and the environment it was started in."""

    enabled = False
    process: subprocess.Popen | None = None
    environment: dict[str, str] = {}


def worker_environment() -> dict[str, str]:
    """What a worker process runs in: this process's environment, unbuffered output, the project importable."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")]))
    return env


# Variables that change in the keeping process without concerning a worker: pytest's name of the test phase, and
# what the encoding's fork pool sets for itself (engine/data/encoding.py; a worker sets it when it needs it).
UNRELATED = ("PYTEST_CURRENT_TEST", "TOKENIZERS_PARALLELISM")


def _environment() -> dict[str, str]:
    """The environment a standby must have been started in to serve a run now."""
    return {name: value for name, value in os.environ.items() if name not in UNRELATED}


def keep_standby() -> None:
    """From now on this process keeps a standby worker ready (the web UI calls this once it serves)."""
    _Kept.enabled = True
    replenish()


def replenish() -> None:
    """Start a standby if this process keeps one and has none alive (the queue calls this when idle)."""
    if not _Kept.enabled or (_Kept.process is not None and _Kept.process.poll() is None):
        return
    _Kept.environment = _environment()
    _Kept.process = subprocess.Popen(
        [sys.executable, "-m", "engine", "standby"],
        cwd=PROJECT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # until it is handed a run: then its output goes to that run's train.log
        env=worker_environment(),
        start_new_session=True,  # its own process group, as a worker's: stopping the run ends all of it
    )


def take_standby() -> subprocess.Popen | None:
    """The standby, no longer kept, for the caller to hand a run with `hand_over`; None when there is none
    alive, or it was started in another environment than a worker would now get (a changed workspace)."""
    process, _Kept.process = _Kept.process, None
    if process is None:
        return None
    if process.poll() is None and _Kept.environment == _environment():
        return process
    _let_go(process)  # Start does not wait for it to leave
    return None


def hand_over(process: subprocess.Popen, run_dir: Path) -> bool:
    """Tell the standby `process` to train `run_dir`; False when it has died meanwhile."""
    try:
        process.stdin.write(f"{run_dir}\n".encode())
        process.stdin.close()
        return True
    except (BrokenPipeError, ValueError):
        return False
    finally:
        process.stdout.close()  # its "ready" line, if any, is of no more use


def _let_go(process: subprocess.Popen) -> None:
    """The standby reads end-of-file and exits, once its imports are done if it is still in them."""
    for pipe in (process.stdin, process.stdout):
        pipe.close()


def standby_ready(timeout_s: float) -> int | None:
    """The pid of the kept standby once it has imported the training libraries, waiting up to `timeout_s`;
    None when there is none, or it is not ready by then."""
    import select

    process = _Kept.process
    if process is None or process.stdout.closed:
        return None
    if not select.select([process.stdout], [], [], timeout_s)[0] or process.stdout.readline() != READY:
        return None
    return process.pid


def stop_keeping() -> None:
    """This process keeps no standby from now on; the one waiting exits (waited for: no process is left)."""
    _Kept.enabled = False
    process, _Kept.process = _Kept.process, None
    if process is None:
        return
    _let_go(process)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
