"""The run's event log: events.jsonl, one JSON object per line, appended by the worker, read by anyone.

Kinds (the "event" key):
  start   total_steps, trainable_params, total_params, data (encoding statistics)
  log     step, total_steps, epoch, loss, learning_rate, grad_norm, tokens_per_s, elapsed_s, eta_s
  eval    step, epoch, eval_loss, perplexity, ...
  resources  step, cpu_rss_mb, cpu_peak_rss_mb, cpu_percent (of one core; 200 = two cores busy),
          gpus: [{device, allocated_mb, reserved_mb, peak_mb, utilization (percent, when known)}]
  phase   phase = build_model | convert_model | encode (dataset, done, total examples) | load_model: what the
          worker does before training starts (the `start` event then means the first step is under way)
  end     step, total_steps, elapsed_s: where the trainer stopped (its real final step; the last `log` can be
          earlier when logging every N steps)
  status  status = running | resumed | completed | stopped | cancelled | failed
          a "resumed" status carries from_step (the checkpoint's step, 0 when none) and checkpoint;
          a failed one carries error, and reason (killed | out of memory | disk full | not writable) with advice
          when the cause is known. Fields that are engine messages (engine/messages/) are repeated under
          said = {field: {code, params}}, so that a reader can show them in its own language.
A resumed run appends to the same file: earlier attempts stay readable, and `current_events` drops the points
a resume went back over. Readers tolerate a half-written last line (the worker may be mid-write), and skip any
other line that is not a well-formed event (`well_formed`): a stray line must not break the queue or the UI. A
run whose newest complete line is such a line is damaged (`tail_damaged`); engine/runs/status.py says so.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from engine.messages import Message
from engine.runs.files import EVENTS_FILE

FINAL_STATUSES = ("completed", "stopped", "cancelled", "failed")
# The status event that starts a later attempt; it is no run status: the run is running again.
RESUMED = "resumed"
STATUSES = (*FINAL_STATUSES, "running", RESUMED)

# The fields each kind must carry, and what they must be, for readers to use it without checking again.
_NUMBER = (int, float)
REQUIRED_FIELDS = {
    "start": {"total_steps": int},
    "log": {"step": int, "total_steps": int, "loss": _NUMBER, "elapsed_s": _NUMBER},
    "eval": {"step": int},
    "phase": {"phase": str},
    "end": {"step": int, "total_steps": int},
    "resources": {"step": int},
    "status": {"status": str},
}


class EventLog:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / EVENTS_FILE

    def write(self, kind: str, **fields) -> None:
        """Append one event. A field that is a Message is written as its English text (what the CLI prints)
        and again under "said" by code and parameters, so that the web UI can show it in the page's language."""
        record = {"event": kind, "time": round(time.time(), 3), **fields}
        said = {key: value.as_dict() for key, value in fields.items() if isinstance(value, Message)}
        if said:
            record["said"] = said
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a+b") as out:
            # A worker killed mid-write leaves a last line without its newline: start on a line of our own,
            # so that the cut line stays one damaged line and this event stays readable.
            if out.seek(0, 2) and (out.seek(-1, 2), out.read(1))[1] != b"\n":
                line = "\n" + line
            out.write(line.encode("utf-8"))


def well_formed(event) -> bool:
    """True for an object readers can use as it is: a known kind with its fields of the right types."""
    if not isinstance(event, dict) or not isinstance(event.get("time"), _NUMBER) or isinstance(event["time"], bool):
        return False
    required = REQUIRED_FIELDS.get(event.get("event"))
    if required is None:
        return False
    if any(not isinstance(event.get(key), kinds) or isinstance(event[key], bool) for key, kinds in required.items()):
        return False
    return event["event"] != "status" or event["status"] in STATUSES


def parse_event(line: str) -> dict | None:
    """The event of one line, or None when the line is not a well-formed event."""
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return event if well_formed(event) else None


def read_events(run_dir: Path) -> list[dict]:
    """The well-formed events of the run, oldest first."""
    try:
        text = (Path(run_dir) / EVENTS_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [event for line in text.splitlines() if (event := parse_event(line)) is not None]


def _tail(run_dir: Path, tail_bytes: int) -> tuple[str, int] | None:
    """(the last `tail_bytes` of events.jsonl as text, the file's size); None when there is no file."""
    try:
        with (Path(run_dir) / EVENTS_FILE).open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(size - tail_bytes, 0))
            return log.read().decode("utf-8", errors="replace"), size
    except FileNotFoundError:
        return None


def read_last_status(run_dir: Path, tail_bytes: int = 16384) -> dict | None:
    """`last_status` of the file without reading all of it: pollers ask this of every run, every few
    seconds, and a long run's log holds many thousand lines. The final status is normally the last line."""
    read = _tail(run_dir, tail_bytes)
    if read is None:
        return None
    tail, size = read
    for line in reversed(_complete_lines(tail, cut_start=size > tail_bytes)):
        event = parse_event(line)
        if event is not None and event["event"] == "status":
            return event
    return last_status(read_events(run_dir)) if size > tail_bytes else None


def tail_damaged(run_dir: Path, tail_bytes: int = 4096) -> bool:
    """True when the newest complete line of events.jsonl is not a well-formed event: something other than
    the worker wrote there (or the file was damaged), so the run's state cannot be trusted. A half-written
    last line (no newline yet) is not damage: a worker may be writing it, or was killed while it did."""
    read = _tail(run_dir, tail_bytes)
    if read is None:
        return False
    tail, size = read
    lines = [line for line in _complete_lines(tail, cut_start=size > tail_bytes) if line.strip()]
    return bool(lines) and parse_event(lines[-1]) is None


def _complete_lines(tail: str, cut_start: bool) -> list[str]:
    """The whole lines of a file's tail: without one cut by the tail's start, or one still being written."""
    lines = tail.split("\n")
    return lines[1 if cut_start else 0:-1]


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
