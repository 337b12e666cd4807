"""Training in several processes: the worker starts the ranks with torch.distributed's elastic launcher (the
engine behind torchrun) and turns what they report into the run's status.

The worker stays what it is for one process (it holds the run's lock, writes the status events, is what
Stop and the queue talk to); with several it calls `elastic_launch`, which spawns the ranks as its own
children. Spawned children stay in the worker's process group (torchrun's command-line form would put each
rank in a session of its own), so Stop's SIGTERM and SIGKILL reach every rank; each rank also dies with its
parent. Rank 0 writes the progress events and the final save, like the single process does. Each rank
records itself in ranks/rank-N.json (pid, status), which the run view shows; when one fails, the launcher
ends the others and the run fails naming the rank that caused it.
"""
from __future__ import annotations

import json
import os
import signal
import time
import warnings
from pathlib import Path

from engine.config.schema import ConfigError, RunConfig
from engine.messages import say
from engine.paths import CONFIG_FILE
from engine.runs.events import RESUMED, EventLog
from engine.runs.failures import Failure, classify_failure
from engine.runs.status import Reason, State
from engine.train import distributed
from engine.train.rules import validate

RANKS_DIR = "ranks"
# Seconds the launcher gives the other ranks to end after one failed or a signal came, before SIGKILL.
SHUTDOWN_TIMEOUT_S = 15
# Signals that the launcher itself sends to end ranks: a rank ended by one of these was not the cause.
TEARDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# What a rank says when a peer vanished under it: a consequence of another rank's failure, not a cause.
PEER_LOST_TEXT = ("connection closed", "connection reset", "broken pipe", "socket", "gloo", "nccl", "timed out")


class RanksFailed(RuntimeError):
    """A rank failed and so the run did; `fields` are the failed status event's reason, error and advice."""

    def __init__(self, rank: int, failure: Failure, world_size: int):
        self.rank, self.failure = rank, failure
        self.fields = {
            "error": say("distributed.rank_failed", rank=rank, world_size=world_size, error=failure.message),
            "advice": failure.advice or say("distributed.rank_failed_advice"),
            "rank": rank,
            **({"reason": failure.reason} if failure.reason else {}),
        }
        super().__init__(self.fields["error"])


# ---------------------------------------------------------------------------------------------------------
# The worker's side


def launch_ranks(run_dir: Path, config: RunConfig, resume_from: str | None) -> str:
    """Train `run_dir` in the config's ranks on this node; "completed" or "stopped" (rank 0's word), or
    RanksFailed naming the rank that failed first."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    problems = validate(config)
    if problems:
        raise ConfigError(problems)
    clear_rank_records(run_dir)
    try:
        results = elastic_launch(launch_config(config, run_dir), train_rank)(str(run_dir), resume_from, False)
    except ChildFailedError as err:
        rank, failure = root_cause(err.failures)
        _mark_failed(run_dir, rank, failure.message)
        raise RanksFailed(rank, failure, distributed.world_size(config)) from None
    return results[0] if 0 in results else "completed"  # rank 0 lives on another node: its word is not here


def launch_config(config: RunConfig, run_dir: Path):
    """One node's part: on one machine a rendezvous on a free local port (torchrun --standalone); on
    several, node 0's address and port with this node's rank (torchrun --node-rank)."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig

    spread = config.distributed
    several = spread.nodes > 1
    return LaunchConfig(
        min_nodes=spread.nodes,
        max_nodes=spread.nodes,
        nproc_per_node=distributed.processes_per_node(config),
        run_id=run_dir.name,
        rdzv_backend="static" if several else "c10d",
        rdzv_endpoint=f"{spread.master_address}:{spread.master_port}" if several else "localhost:0",
        rdzv_configs={"rank": spread.node_rank} if several else {},
        max_restarts=0,
        monitor_interval=0.2,
        start_method="spawn",
        logs_specs=DefaultLogsSpecs(log_dir=str(run_dir / RANKS_DIR / "launcher")),
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )


def root_cause(failures: dict) -> tuple[int, Failure]:
    """(rank, failure) of the rank that brought the run down. The launcher times failures in whole seconds
    and ends the others itself, so order by kind: killed from outside, then a rank's own error, then one
    that only lost a peer, then one the launcher ended."""

    def kind(item) -> tuple:
        rank, failure = item
        if failure.exitcode < 0:
            return (0 if -failure.exitcode not in TEARDOWN_SIGNALS else 3, failure.timestamp, rank)
        lost_peer = any(text in _error_text(failure).lower() for text in PEER_LOST_TEXT)
        return (2 if lost_peer else 1, failure.timestamp, rank)

    rank, failure = min(failures.items(), key=kind)
    if failure.exitcode < 0:
        message = say("distributed.rank_killed", signal=failure.signal_name())
        return rank, Failure(Reason.KILLED, message, say("distributed.rank_killed_advice"))
    error = _error_text(failure)
    known = classify_failure(RuntimeError(error))  # out of memory, disk full, ... as in one process
    return rank, Failure(known.reason, known.message if known.reason else error, known.advice)


def _error_text(failure) -> str:
    """"DataError: ..." from a rank's error file, which the launcher reads as {"message": text, ...}."""
    message = failure.message
    if isinstance(message, dict):
        message = message.get("message", "")
    return str(message).strip() or f"exit code {failure.exitcode}"


# ---------------------------------------------------------------------------------------------------------
# A rank


def train_rank(run_dir: str, resume_from: str | None, record_status: bool) -> str:
    """One rank's training; "completed" or "stopped". Under the worker (`record_status` False) the worker
    writes the status events; started by torchrun on a node of a cluster, global rank 0 writes them."""
    from torch.distributed.elastic.multiprocessing.errors import record

    return record(_train_rank)(Path(run_dir), resume_from, record_status)


def _train_rank(run_dir: Path, resume_from: str | None, record_status: bool) -> str:
    from engine.runs.process import stop_requested
    from engine.train.trainer import RunContext, run_training

    _die_with_parent()
    warnings.filterwarnings("ignore", category=FutureWarning)
    rank = distributed.rank()
    write_rank_record(run_dir, rank, "running")
    interrupted = []
    for signum in (signal.SIGTERM, signal.SIGINT):  # a stop request, agreed with the other ranks at a step end
        signal.signal(signum, lambda *_: interrupted.append(True))
    log = EventLog(run_dir) if rank == 0 else SilentLog()
    if record_status and rank == 0:
        _announce(log, resume_from)
    config = RunConfig.load(run_dir / CONFIG_FILE)
    stop = lambda: distributed.agreed(bool(interrupted) or stop_requested(run_dir))  # noqa: E731
    try:
        outcome = run_training(RunContext(config, run_dir, log, stop, resume_from))
    except Exception as err:
        write_rank_record(run_dir, rank, "failed", error=classify_failure(err).message)
        raise
    write_rank_record(run_dir, rank, outcome, **_peak_memory())
    if record_status and rank == 0:
        log.write("status", status=outcome)
    return outcome


def _announce(log: EventLog, resume_from: str | None) -> None:
    """The attempt's first status, as the worker writes it, for ranks that torchrun started without one."""
    from engine.runs.store import checkpoint_step

    if resume_from is None:
        log.write("status", status=State.RUNNING)
        return
    log.write("status", status=RESUMED, from_step=checkpoint_step(Path(resume_from)) or 0,
              checkpoint=Path(resume_from).name)


def _peak_memory() -> dict:
    """The GPU memory this rank peaked at, for comparing strategies against the estimate."""
    import torch

    return {"peak_memory_bytes": torch.cuda.max_memory_allocated()} if torch.cuda.is_available() else {}


class SilentLog:
    """The event log of ranks other than 0: one writer keeps events.jsonl free of duplicate steps."""

    def write(self, kind: str, **fields) -> None:
        pass


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this rank when its launcher dies, however it dies: no orphaned rank keeps
    training (and writing events) after the worker was killed."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return  # not Linux: Stop still reaches the ranks through the process group
    if os.getppid() == 1:  # the launcher died before the request took hold
        os._exit(1)


# ---------------------------------------------------------------------------------------------------------
# Rank records: ranks/rank-N.json


def write_rank_record(run_dir: Path, rank: int, status: str, **fields) -> None:
    folder = Path(run_dir) / RANKS_DIR
    folder.mkdir(exist_ok=True)
    record = {"rank": rank, "pid": os.getpid(), "host": os.uname().nodename, "status": status,
              "time": round(time.time(), 3), **fields}
    staging = folder / f".rank-{rank}.{os.getpid()}"
    staging.write_text(json.dumps(record, ensure_ascii=False))
    staging.replace(folder / f"rank-{rank}.json")


def _mark_failed(run_dir: Path, rank: int, error: str) -> None:
    """The launcher's account of a rank that could not write its own (killed, say)."""
    path = Path(run_dir) / RANKS_DIR / f"rank-{rank}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        record = {"rank": rank, "pid": None, "host": os.uname().nodename}
    record.update(status="failed", error=str(error), time=round(time.time(), 3))
    path.write_text(json.dumps(record, ensure_ascii=False))


def clear_rank_records(run_dir: Path) -> None:
    for path in (Path(run_dir) / RANKS_DIR).glob("rank-*.json"):
        path.unlink(missing_ok=True)


def rank_records(run_dir: Path) -> list[dict]:
    """Each rank's last word, by rank; a "running" rank whose process is gone shows as "ended"."""
    import psutil

    records = []
    for path in sorted((Path(run_dir) / RANKS_DIR).glob("rank-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        here = record.get("host") == os.uname().nodename
        if record["status"] == "running" and here and not psutil.pid_exists(record["pid"]):
            record["status"] = "ended"
        records.append(record)
    return records
