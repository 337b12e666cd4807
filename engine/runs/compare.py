"""Comparing runs: their loss curves on one axis, the config fields that differ, and their final numbers.

Pure functions over run folders (config.yaml, events.jsonl, metrics.json): the CLI (`python -m engine compare`)
and the web UI's comparison panel read the same `Comparison`. Runs of different stages compare on what they
share: a curve or a metric that a run lacks is simply absent for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from engine.benchmarks.harness import JOB_DIR, read_results, side_by_side
from engine.benchmarks.judge import read_verdicts
from engine.config.schema import RunConfig
from engine.runs.events import current_events, final_status, peak_memory_mb, read_events
from engine.runs.files import CONFIG_FILE
from engine.runs.notes import RunNotes, read_notes
from engine.use.judging import read_judgements, win_rate
from engine.use.predict import read_metrics

MAX_RUNS = 6
X_AXES = ("step", "tokens")  # what a curve's x is: optimizer steps, or input tokens seen by then
SERIES = ("train", "eval")
SCORE_KEYS = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")  # from metrics.json, where the run was evaluated
# The final-metrics table, in this order; a row every compared run lacks is left out.
METRIC_KEYS = ("train_loss", "eval_loss", "perplexity", *SCORE_KEYS, "tokens_per_s", "peak_memory_mb",
               "wall_time_s", "trainable_params", "steps", "blind_win_rate", "judge_win_rate")
BENCH_PREFIX = "bench "  # a benchmark task's row: "bench mmlu" (the tuned model's score, engine/benchmarks)


@dataclass
class RunRecord:
    """What a comparison reads of one run: its label, its config as dotted fields, its current events, and
    what the user wrote about it."""

    run_dir: Path
    label: str
    config: dict
    events: list[dict]
    notes: RunNotes


@dataclass
class CurvePoint:
    run: str
    series: str  # train | eval
    x: float  # step, or tokens seen
    loss: float


@dataclass
class Comparison:
    runs: list[str]
    x: str  # what the curves' x is: step or tokens
    curves: list[CurvePoint]
    diff: dict[str, list]  # dotted field -> its value in each run, only for fields that differ
    metrics: dict[str, list]  # metric -> its value in each run (None where a run has none)
    notes: list[str]  # the user's note on each run ("" for none)
    tags: list[list[str]]  # the user's tags on each run


def compare_runs(run_dirs: list[str | Path], x: str = "step") -> Comparison:
    records = read_runs(run_dirs)
    return Comparison(
        runs=[record.label for record in records],
        x=x,
        curves=curve_points(records, x),
        diff=config_diff(records),
        metrics=metrics_table(records),
        notes=[record.notes.text for record in records],
        tags=[list(record.notes.tags) for record in records],
    )


# ---------------------------------------------------------------------------------------------------------
# Reading runs


def read_runs(run_dirs: list[str | Path]) -> list[RunRecord]:
    """The runs to compare, labelled by folder name (with its model/method folders when two names clash)."""
    paths = [Path(run_dir) for run_dir in run_dirs]
    names = [path.name for path in paths]
    labels = [name if names.count(name) == 1 else "/".join(path.parts[-3:]) for name, path in zip(names, paths)]
    return [RunRecord(path, label, flatten(RunConfig.load(path / CONFIG_FILE).to_dict()),
                      current_events(read_events(path)), read_notes(path)) for path, label in zip(paths, labels)]


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"train": {"learning_rate": 1e-4}} -> {"train.learning_rate": 1e-4}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# ---------------------------------------------------------------------------------------------------------
# Curves


def curve_points(records: list[RunRecord], x: str = "step") -> list[CurvePoint]:
    """Train loss at each logged step and eval loss at each evaluation, of every run; with x = "tokens" a
    point sits at the tokens seen by its step (points of a run that logged no token count are left out)."""
    if x not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}; got {x!r}")
    points = []
    for record in records:
        at = _x_of(record.events, x)
        for event in record.events:
            series, loss = _loss_of(event)
            if loss is not None and at(event["step"]) is not None:
                points.append(CurvePoint(record.label, series, at(event["step"]), loss))
    return points


def _loss_of(event: dict) -> tuple[str, float | None]:
    if event["event"] == "log":
        return "train", event.get("loss")
    if event["event"] == "eval":
        return "eval", event.get("eval_loss")
    return "", None


def _x_of(events: list[dict], x: str):
    """step -> x: the step itself, or the tokens seen at the last logged step at or before it."""
    if x == "step":
        return lambda step: step
    seen = sorted((e["step"], tokens) for e in events if e["event"] == "log" and (tokens := tokens_seen(e)))
    return lambda step: next((tokens for at, tokens in reversed(seen) if at <= step), None)


def tokens_seen(log_event: dict) -> float | None:
    """Input tokens trained on up to a log point: recorded as such, or rate × time (what the rate is of)."""
    if log_event.get("tokens_seen") is not None:
        return log_event["tokens_seen"]
    rate, elapsed = log_event.get("tokens_per_s"), log_event.get("elapsed_s")
    return round(rate * elapsed) if rate and elapsed else None


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average, bias-corrected like TensorBoard's so the first points are not dragged
    towards zero; weight 0 = the raw values, towards 1 = smoother."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1); got {weight}")
    smoothed, average = [], 0.0
    for count, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**count))
    return smoothed


# ---------------------------------------------------------------------------------------------------------
# Config diff and final metrics


def config_diff(records: list[RunRecord]) -> dict[str, list]:
    """The config fields whose values are not the same in every run, in config order; a field one run's
    config lacks (an older config) counts as None there. The run name is the label, not a difference."""
    fields = list(dict.fromkeys(key for record in records for key in record.config))
    diff = {}
    for key in fields:
        values = [record.config.get(key) for record in records]
        if key != "train.run_name" and any(value != values[0] for value in values):
            diff[key] = values
    return diff


def metrics_table(records: list[RunRecord]) -> dict[str, list]:
    per_run = [final_metrics(record) for record in records]
    benchmarks = sorted({key for metrics in per_run for key in metrics if key.startswith(BENCH_PREFIX)})
    return {key: [metrics.get(key) for metrics in per_run] for key in (*METRIC_KEYS, *benchmarks)
            if any(metrics.get(key) is not None for metrics in per_run)}


def final_metrics(record: RunRecord) -> dict:
    """A run's final numbers: last train loss, last eval loss and its perplexity, the scores of its latest
    evaluation (metrics.json), throughput, peak memory, wall time, trainable parameters, and the win rate of
    its blind judgements (judgements.jsonl) and of a judge model's (judge.jsonl) against whatever it was judged
    against, and its benchmark scores (benchmarks/results.json)."""
    events = record.events
    logs = [e for e in events if e["event"] == "log" and e.get("loss") is not None]
    evals = [e for e in events if e["event"] == "eval" and e.get("eval_loss") is not None]
    start = next((e for e in reversed(events) if e["event"] == "start"), {})
    found = {
        "train_loss": logs[-1]["loss"] if logs else None,
        "eval_loss": evals[-1]["eval_loss"] if evals else None,
        "perplexity": math.exp(min(evals[-1]["eval_loss"], 50.0)) if evals else None,
        "tokens_per_s": logs[-1].get("tokens_per_s") if logs else None,
        "peak_memory_mb": peak_memory_mb(events),
        "wall_time_s": wall_time_s(events),
        "trainable_params": start.get("trainable_params"),
        "steps": logs[-1]["step"] if logs else None,
    }
    scores = read_metrics(record.run_dir)
    judged = win_rate(read_judgements(record.run_dir))
    found["blind_win_rate"] = str(judged) if judged else None
    by_judge = win_rate([v for v in read_verdicts(record.run_dir) if v["verdict"] in ("a", "b", "tie")])
    found["judge_win_rate"] = str(by_judge) if by_judge else None
    benchmarked = side_by_side(read_results(record.run_dir / JOB_DIR))
    found |= {f"{BENCH_PREFIX}{row['task']}": row["tuned"] for row in benchmarked}
    return found | {key: scores[key] for key in SCORE_KEYS if key in scores}


def wall_time_s(events: list[dict]) -> float | None:
    """Seconds from the first start of training to its final status (or to the last log point while it runs)."""
    starts = [e["time"] for e in events if e["event"] == "start"]
    if not starts:
        return None
    final = final_status(events)
    logs = [e for e in events if e["event"] == "log"]
    end = final["time"] if final else (logs[-1]["time"] if logs else None)
    return round(end - starts[0], 1) if end else None


# ---------------------------------------------------------------------------------------------------------
# As text (the CLI)


def render_text(comparison: Comparison) -> str:
    """The comparison as plain-text tables: runs, differing config fields, final metrics, curve summary."""
    names = comparison.runs
    lines = ["runs:", *(_run_line(index, comparison) for index in range(len(names))), ""]
    lines += _table("config differences", comparison.diff, len(names)) or ["config: no differences", ""]
    lines += _table("final metrics", comparison.metrics, len(names))
    lines.append("curves (points, first -> last loss):")
    for index, name in enumerate(names, start=1):
        for series in SERIES:
            losses = [p.loss for p in comparison.curves if p.run == name and p.series == series]
            if losses:
                lines.append(f"  [{index}] {series:5} {len(losses):4} points  {losses[0]:.4f} -> {losses[-1]:.4f}")
    return "\n".join(lines)


def _run_line(index: int, comparison: Comparison) -> str:
    """'  [1] name  #tag #tag  — note' (the note on one line)."""
    tags = "".join(f"  #{tag}" for tag in comparison.tags[index])
    note = " ".join(comparison.notes[index].split())
    return f"  [{index + 1}] {comparison.runs[index]}{tags}" + (f"  — {note}" if note else "")


def _table(title: str, rows: dict[str, list], columns: int) -> list[str]:
    if not rows:
        return []
    width = max(len(key) for key in rows)
    header = f"  {'':{width}}  " + "  ".join(f"{f'[{i}]':>12}" for i in range(1, columns + 1))
    body = [f"  {key:{width}}  " + "  ".join(f"{format_value(v):>12}" for v in values) for key, values in rows.items()]
    return [f"{title}:", header, *body, ""]


def format_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
