"""The run's event log: events.jsonl, one JSON object per line, appended by the worker, read by anyone.

Kinds (the "event" key):
  start   total_steps, trainable_params, total_params, data (encoding statistics)
  log     step, total_steps, epoch, loss, learning_rate, grad_norm, tokens_per_s, elapsed_s, eta_s
  eval    step, epoch, eval_loss, perplexity, ...
  status  status = running | completed | stopped | failed, plus error / reason when failed
Readers tolerate a half-written last line (the worker may be mid-write).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

EVENTS_FILE = "events.jsonl"
FINAL_STATUSES = ("completed", "stopped", "failed")


class EventLog:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / EVENTS_FILE

    def claim(self) -> None:
        """Create the log; fails if it exists, so two workers can never train into one run directory."""
        self.path.open("x").close()

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


def final_status(events: list[dict]) -> dict | None:
    for event in reversed(events):
        if event["event"] == "status" and event["status"] in FINAL_STATUSES:
            return event
    return None
