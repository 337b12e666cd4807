"""The run's event log: events.jsonl, one JSON object per line, appended by the worker, read by anyone.

Kinds (the "event" key):
  start   total_steps, trainable_params, total_params, data (encoding statistics)
  log     step, total_steps, epoch, loss, learning_rate, grad_norm, tokens_per_s, elapsed_s, eta_s
  eval    step, epoch, eval_loss, perplexity, ...
  resources  step, cpu_rss_mb, cpu_peak_rss_mb, cpu_percent (of one core; 200 = two cores busy),
          gpus: [{device, allocated_mb, reserved_mb, peak_mb, utilization (percent, when known)}]
  phase   phase = build_model | encode (dataset, done, total examples) | load_model: what the worker does
          before training starts (the `start` event then means the first step is under way)
  end     step, total_steps, elapsed_s: where the trainer stopped (its real final step; the last `log` can be
          earlier when logging every N steps)
  status  status = running | resumed | completed | stopped | cancelled | failed
          a "resumed" status carries from_step (the checkpoint's step, 0 when none) and checkpoint;
          a failed one carries error, and reason (killed | out of memory | disk full | not writable) with advice
          when the cause is known.
A resumed run appends to the same file: earlier attempts stay readable, and `current_events` drops the points
a resume went back over. Readers tolerate a half-written last line (the worker may be mid-write).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from engine.runs.files import EVENTS_FILE

FINAL_STATUSES = ("completed", "stopped", "cancelled", "failed")
# The status event that starts a later attempt; it is no run status: the run is running again.
RESUMED = "resumed"


class EventLog:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / EVENTS_FILE

    def write(self, kind: str, **fields) -> None:
        record = {"event": kind, "time": round(time.time(), 3), **fields}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_events(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the line being written right now
    return events


def read_last_status(run_dir: Path, tail_bytes: int = 16384) -> dict | None:
    """`last_status` of the file without reading all of it: pollers ask this of every run, every few
    seconds, and a long run's log holds many thousand lines. The final status is normally the last line."""
    path = Path(run_dir) / EVENTS_FILE
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(size - tail_bytes, 0))
            tail = log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    for line in reversed(tail.splitlines()[1:] if size > tail_bytes else tail.splitlines()):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written, or a line cut by the tail's start
        if event.get("event") == "status":
            return event
    return last_status(read_events(run_dir)) if size > tail_bytes else None


def last_status(events: list[dict]) -> dict | None:
    """The newest status event, final or not: after a resume, an older attempt's "failed" no longer counts."""
    return next((event for event in reversed(events) if event["event"] == "status"), None)


def final_status(events: list[dict]) -> dict | None:
    """The status event that ended the newest attempt, or None while it has not ended (or died silently)."""
    last = last_status(events)
    return last if last is not None and last["status"] in FINAL_STATUSES else None


def peak_memory_mb(events: list[dict]) -> float | None:
    """The run's peak memory from its resources events: the largest per-device GPU peak when it trained on
    GPUs (what limits a run there), else the process's peak resident memory; None when nothing was recorded."""
    samples = [e for e in events if e["event"] == "resources"]
    gpu_peaks = [gpu["peak_mb"] for e in samples for gpu in e.get("gpus", [])]
    cpu_peaks = [max(e.get("cpu_peak_rss_mb") or 0, e.get("cpu_rss_mb") or 0) for e in samples]
    return max(gpu_peaks or cpu_peaks, default=None)


def latest_progress(events: list[dict]) -> dict | None:
    """The newest `log` or `end` event: the step the trainer is at (or ended at), of total_steps."""
    return next((event for event in reversed(events) if event["event"] in ("log", "end")), None)


def current_events(events: list[dict]) -> list[dict]:
    """The events of the run as it stands: after each resume from step N, earlier log and eval points past N
    are dropped, since training went back to N and did those steps again."""
    kept: list[dict] = []
    for event in events:
        if event["event"] == "status" and event["status"] == RESUMED:
            from_step = event.get("from_step", 0)
            kept = [e for e in kept if e["event"] not in ("log", "eval") or e["step"] <= from_step]
        kept.append(event)
    return kept
