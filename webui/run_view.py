"""Following a run from its files: progress, loss curve, log tail and the run history.

Everything here reads the run directory (events.jsonl, train.log, config.yaml) and never the memory of
the UI process, so a reloaded page, a second browser or a restarted UI see the same run.
"""
from __future__ import annotations

import html
import time
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pandas as pd

from engine.config.schema import ConfigError, RunConfig
from engine.paths import PathEscapeError, saves_dir
from engine.runs.compare import smooth
from engine.messages import from_dict, say
from engine.runs.cluster import node_commands
from engine.runs.events import current_events, final_status, latest_progress, read_events
from engine.runs.files import CONFIG_FILE, EVENTS_FILE, FINAL_DIR, LOG_FILE
from engine.runs.scheduler import queued_runs
from engine.runs.status import Reason, RunStatus, State
from engine.runs.store import (
    RunSummary,
    filter_runs,
    list_runs,
    newest_checkpoint,
    run_directory,
    run_status,
    summarize_run,
)

from webui.devices_panel import ranks_html
from webui.i18n import localize, text
from webui.texts import TEXT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVE_COLUMNS = ["step", "loss", "series"]
CURVE_SERIES = ("train", "eval", "smoothed")
HISTORY_COLUMNS = ["run", "model", "method", "status", "step", "loss", "tags", "note", "started", "folder"]
NOTE_SHOWN_CHARS = 60  # the history shows a note's start; the editor below it shows the whole


# ---------------------------------------------------------------------------------------------------------
# Which run a page shows


def attach_run() -> str:
    """The run a freshly opened page shows: the one training now, else the next queued one, else the newest;
    "" when none."""
    runs = list_runs()
    chosen = next((run for run in runs if run.status.training), None)
    chosen = chosen or next((run for run in runs if _not_ended(run.status)), runs[0] if runs else None)
    return str(chosen.run_dir) if chosen else ""


def _not_ended(status: RunStatus) -> bool:
    # "created" too: submit() makes the folder a moment before it queues it, and a page may open in between.
    return status.active or status.state is State.CREATED


def queue_position(run_dir: str | Path) -> int | None:
    """1 for the run that starts next, 2 for the one after...; None when the run is not waiting."""
    waiting = queued_runs()
    return waiting.index(Path(run_dir)) + 1 if Path(run_dir) in waiting else None


def can_resume(run_dir: str, status: RunStatus) -> bool:
    """Resume is offered for a run that ended early and left a complete checkpoint to continue from."""
    return bool(run_dir) and status.resumable and newest_checkpoint(Path(run_dir)) is not None


def finished_runs() -> list[RunSummary]:
    """Runs with a trained result to chat with, evaluate or export."""
    finished = (State.COMPLETED, State.STOPPED)
    return [run for run in list_runs() if run.status.state in finished and (run.run_dir / FINAL_DIR).is_dir()]


def command_for(run_dir: str) -> str:
    if not run_dir:
        return "python -m engine train run.yaml"
    command = f"python -m engine train {Path(run_dir) / CONFIG_FILE}"
    try:
        config = RunConfig.load(Path(run_dir) / CONFIG_FILE)
    except (OSError, ConfigError):
        return command
    if config.distributed.nodes == 1:
        return command
    return "\n".join(f"# node {node}\n{line}" for node, line in enumerate(node_commands(config, Path(run_dir))))


# ---------------------------------------------------------------------------------------------------------
# What a run looks like now


def loss_curve(events: list[dict], smoothing: float | None = None, log_scale: bool = False,
               lang: str = "en") -> pd.DataFrame:
    """Long-format points: train loss at each logged step, eval loss at each evaluation, and with `smoothing`
    (an EMA weight) the smoothed train loss. `log_scale` gives log10 of the loss. Series are named in the
    page's language (CURVE_SERIES keys of TEXT)."""
    train = [(e["step"], e["loss"]) for e in events if e["event"] == "log" and e.get("loss") is not None]
    evals = [(e["step"], e["eval_loss"]) for e in events if e["event"] == "eval" and "eval_loss" in e]
    named = {series: text(f"curve.{series}", lang) for series in CURVE_SERIES}
    rows = [(step, loss, named["train"]) for step, loss in train]
    rows += [(step, loss, named["eval"]) for step, loss in evals]
    if smoothing is not None:
        smoothed = smooth([loss for _, loss in train], smoothing)
        rows += [(step, loss, named["smoothed"]) for (step, _), loss in zip(train, smoothed)]
    curve = pd.DataFrame(rows, columns=CURVE_COLUMNS).astype({"step": "int64", "loss": "float64", "series": "str"})
    if log_scale:
        curve["loss"] = np.log10(curve["loss"].where(curve["loss"] > 0))
    return curve


def has_loss(events: list[dict]) -> bool:
    """Whether the run has logged a train or eval loss, i.e. whether its curve has anything to draw."""
    return any((e["event"] == "log" and e.get("loss") is not None) or (e["event"] == "eval" and "eval_loss" in e)
               for e in events)


# How each series is drawn: eval points marked, as a line of one point (the first evaluation) draws nothing.
CURVE_STYLES = {"train": {"linewidth": 1.5}, "smoothed": {"linewidth": 2},
                "eval": {"linestyle": "--", "marker": "o", "markersize": 6}}
CURVE_COLORS = {"train": "#c7d2fe", "smoothed": "#6366f1", "eval": "#f59e0b"}
# Matplotlib falls back along this list glyph by glyph: Latin from DejaVu, Chinese legends from Noto CJK.
PLOT_FONTS = {"font.family": ["DejaVu Sans", "Noto Sans CJK SC"]}


def curve_figure(events: list[dict], smoothing: float | None = None, log_scale: bool = False,
                 lang: str = "en") -> Figure:
    """The live loss curve (loss_curve's points): the raw train line faint, its EMA solid, eval loss as marked
    points joined by a dashed line; the legend names the series in the page's language."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # ~0.3 s of imports, paid on the first drawn curve, not at page start

    curve = loss_curve(events, smoothing, log_scale, lang).dropna()
    with rc_context(PLOT_FONTS):  # text takes its font when created, so the context need not outlive this
        figure = Figure(figsize=(7, 3.6), layout="constrained")
        axes = figure.add_subplot()
        for series in CURVE_SERIES:
            points = curve[curve.series == text(f"curve.{series}", lang)]
            if not points.empty:
                axes.plot(points.step, points.loss, color=CURVE_COLORS[series], label=text(f"curve.{series}", lang),
                          **CURVE_STYLES[series])
        axes.set_xlabel(text("experiments.x.step", lang))
        axes.set_ylabel(text("curve.log_loss" if log_scale else "curve.loss", lang))
        axes.grid(alpha=0.3)
        if not curve.empty:
            axes.legend(title=text("curve.legend", lang), fontsize="small")
    return figure


def readable_log(events: list[dict], lang: str, lines: int = 40) -> str:
    """One line per logged step, newest last: step, loss, learning rate, tokens per second; evaluations too."""
    shown = []
    for event in events:
        if event["event"] == "log" and event.get("loss") is not None:
            shown.append(text("log.step", lang, step=event["step"], total=event.get("total_steps") or "?",
                              loss=f"{event['loss']:.4f}", lr=f"{event.get('learning_rate') or 0:.2e}",
                              speed=f"{event.get('tokens_per_s') or 0:.0f}"))
        elif event["event"] == "eval" and "eval_loss" in event:
            shown.append(text("log.eval", lang, step=event["step"], loss=f"{event['eval_loss']:.4f}"))
    return "\n".join(shown[-lines:])


# train_runtime is the Trainer's clock, which a resume restarts: progress, not a metric to plot.
PROGRESS_KEYS = {"event", "time", "step", "total_steps", "epoch", "loss", "learning_rate", "grad_norm",
                 "tokens_per_s", "elapsed_s", "eta_s", "train_runtime", "real_tokens_per_s", "padding_share"}


# Diagnostics a stage logs that would swamp the metric plot: token counters, GRPO's clip ratios, answer
# lengths and spreads. They stay in events.jsonl.
UNPLOTTED_KEYS = {"num_tokens", "step_time", "entropy", "frac_reward_zero_std", "runtime", "samples_per_second",
                  "steps_per_second"}
UNPLOTTED_PREFIXES = ("clip_ratio/", "completions/")


def _plotted(key: str) -> bool:
    return not (key in UNPLOTTED_KEYS or key.startswith(UNPLOTTED_PREFIXES) or key.endswith(("/std", "_std")))


def stage_metrics(events: list[dict]) -> pd.DataFrame:
    """(step, value, metric) points of what a stage logs beyond the loss: DPO rewards and margins, a reward
    model's accuracy, GRPO's rewards, eval accuracy..."""
    rows = [(e["step"], value, key) for e in events if e["event"] == "log"
            for key, value in e.items()
            if key not in PROGRESS_KEYS and _plotted(key) and isinstance(value, (int, float))]
    rows += [(e["step"], value, key) for e in events if e["event"] == "eval"
             for key, value in e.items() if key.startswith("eval_") and key != "eval_loss"
             and _plotted(key.removeprefix("eval_")) and isinstance(value, (int, float))]
    return pd.DataFrame(rows, columns=["step", "value", "metric"]).astype({"step": "int64", "value": "float64"})


# What a resources event holds per GPU (engine/train/resources.py), drawn as memory series.
GPU_MEMORY_KEYS = ("allocated_mb", "reserved_mb", "peak_mb")


def resource_curves(events: list[dict], lang: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(memory, utilisation) as (step, value, series) points from the run's resources events: memory in MB
    (CPU resident; per GPU allocated, reserved and peak) and use in % (CPU; per GPU when NVML reports it).
    Series are named in the page's language; both are empty for a run that recorded none. The end of training
    samples again at the last step: the newest sample of a step is its point."""
    memory, use = [], []
    newest = {event["step"]: event for event in events if event["event"] == "resources"}
    for step, event in newest.items():
        memory.append((step, event["cpu_rss_mb"], text("resources.cpu_rss", lang)))
        use.append((step, event.get("cpu_percent"), text("resources.cpu_percent", lang)))
        for gpu in event.get("gpus", []):
            memory += [(step, gpu[key], text(f"resources.gpu_{key}", lang, device=gpu["device"]))
                       for key in GPU_MEMORY_KEYS]
            use.append((step, gpu.get("utilization"), text("resources.gpu_percent", lang, device=gpu["device"])))
    return _points(memory), _points([row for row in use if row[1] is not None])


def _points(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["step", "value", "series"]).astype(
        {"step": "int64", "value": "float64", "series": "str"})


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_html(run_dir: str, lang: str, events: list[dict] | None = None, status: RunStatus | None = None) -> str:
    """A bar with 'status · step N/M · elapsed · ETA' for the run, or a hint when there is none; a failed
    run's reason and advice below it. `events` are the run's current events (see current_events)."""
    if not run_dir:
        return f"<div class='run-progress'><span>{html.escape(text('train.no_run', lang))}</span></div>"
    events = current_events(read_events(Path(run_dir))) if events is None else events
    status = status or run_status(Path(run_dir))
    logs = [e for e in events if e["event"] == "log"]
    start = next((e for e in reversed(events) if e["event"] == "start"), None)  # a resume starts again
    progress = latest_progress(events)
    total = progress["total_steps"] if progress else (start or {}).get("total_steps", 0)
    step = progress["step"] if progress else 0
    if status.training and start:
        elapsed, eta = time.time() - start["time"], (logs[-1].get("eta_s") if logs else None)
    else:
        elapsed, eta = (progress["elapsed_s"] if progress else None), 0
    fraction = step / total if total else 0.0
    parts = [
        f"<b>{html.escape(Path(run_dir).name)}</b>",
        status_text(status, lang, run_dir),
        text("train.step", lang, step=step, total=total or "?"),
        text("train.elapsed", lang, time=clock(elapsed)),
    ]
    if status.training:
        parts.append(text("train.eta", lang, time=clock(eta)))
    parts += throughput_text(logs, lang)
    if status.waiting and not logs:
        parts = parts[:2]  # nothing has run yet: a step count and a clock would only say "?"
    if status.training and progress is None:  # before step 1: what the worker is doing, not "step 0/?"
        attempt = attempt_events(events)
        parts = parts[:2] + [phase_text(events, lang)]
        if attempt:
            parts.append(text("train.elapsed", lang, time=clock(time.time() - attempt[0]["time"])))
    error = failure_text(run_dir, status, events, lang)
    detail = ranks_html(run_dir, lang) + (f"<pre class='run-error'>{html.escape(error)}</pre>" if error else "")
    note = outcome_note(events, lang) if status.final else ""
    detail += f"<div class='run-note' id='run-note'>{html.escape(note)}</div>" if note else ""
    return (
        f"<div class='run-progress' data-status='{html.escape(status)}' data-step='{step}' data-total='{total}'>"
        f"<div class='run-bar'><div style='width:{fraction * 100:.1f}%'></div></div>"
        f"<span>{' · '.join(parts)}</span>{detail}</div>"
    )


def attempt_events(events: list[dict]) -> list[dict]:
    """The events of the newest attempt, from its running/resumed status on."""
    begins = [i for i, e in enumerate(events) if e["event"] == "status" and e["status"] in ("running", "resumed")]
    return events[begins[-1]:] if begins else []


def phase_text(events: list[dict], lang: str) -> str:
    """What a started run does before its first logged step: its newest phase, or the first step once the
    trainer has started."""
    attempt = attempt_events(events)
    if any(e["event"] == "start" for e in attempt):
        return text("phase.first_step", lang)
    phase = next((e for e in reversed(attempt) if e["event"] == "phase"), None)
    if phase is None:
        return text("phase.starting", lang)
    if phase["phase"] == "encode":
        return text("phase.encode", lang, dataset=phase["dataset"], done=phase["done"], total=phase["total"])
    return text(f"phase.{phase['phase']}", lang)
def throughput_text(logs: list[dict], lang: str) -> list[str]:
    """['1,234 real tokens/s', '6% padding'] from the newest log event that measured them (training time only,
    padding excluded: what bench/train_throughput.py prints); [] before the first."""
    measured = next((e for e in reversed(logs) if e.get("real_tokens_per_s")), None)
    if measured is None:
        return []
    parts = [text("train.real_tokens", lang, rate=f"{measured['real_tokens_per_s']:,.0f}")]
    if measured.get("padding_share") is not None:
        parts.append(text("train.padding", lang, share=f"{measured['padding_share']:.0%}"))
    return parts


def status_text(status: RunStatus, lang: str, run_dir: str | Path | None = None) -> str:
    """The status in the page's language; a queued run (given its folder) also says its place in line."""
    label = text(f"status.{status}", lang) if f"status.{status}" in TEXT else status
    position = queue_position(run_dir) if run_dir and status.waiting else None
    return text("status.queued_position", lang, position=position) if position else label


def outcome_note(events: list[dict], lang: str) -> str:
    """What the final status adds in the page's language: where early stopping ended the run, which step
    was best (and is the result); "" otherwise."""
    final = final_status(events)
    if not final or final.get("early_stop_step") is None:
        return ""
    return localize(say("train.early_stop", step=final["early_stop_step"], best=final["best_step"]), lang)


def failure_text(run_dir: str, status: RunStatus, events: list[dict], lang: str) -> str:
    """Why a failed run failed and what to do about it, in `lang`; "" for any other run."""
    if not status.failed:
        return ""
    final = final_status(events)
    if final is None or status.reason is Reason.DAMAGED:  # no status event to read: the store words it
        try:
            return localize(summarize_run(Path(run_dir)).error, lang)
        except (OSError, ValueError):
            return ""
    return "\n".join(part for part in (said(final, "error", lang), said(final, "advice", lang)) if part)


def said(event: dict, key: str, lang: str) -> str:
    """An event's field in `lang`: by its message code when the engine wrote one (see EventLog.write)."""
    record = event.get("said", {}).get(key)
    return localize(from_dict(record), lang) if record else str(event.get(key) or "")


def log_tail(run_dir: str, lines: int = 40) -> str:
    path = Path(run_dir) / LOG_FILE if run_dir else None
    if not path or not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - 64_000))  # the tail only: logs of long runs grow large
        tail = log.read().decode("utf-8", errors="replace")
    # Progress bars redraw with carriage returns; keep only what each line finally showed.
    return "\n".join(line.rsplit("\r", 1)[-1] for line in tail.split("\n")[-lines:] if line.strip())


def run_config_text(run_dir: str) -> str:
    path = Path(run_dir) / CONFIG_FILE if run_dir else None
    return path.read_text(encoding="utf-8") if path and path.exists() else ""


def history_table(lang: str, search: str | None = "", tag: str | None = "", archived: bool = False) -> pd.DataFrame:
    """Past runs, newest first, filtered like filter_runs (archived ones only when `archived`); the last column
    is the run's id (what selecting a row looks up). A filter that is None (its control not drawn yet: the
    Train tab unopened) filters nothing."""
    rows = [
        (
            run.name,
            run.model,
            run.method,
            _status_cell(run, lang),
            f"{run.step}/{run.total_steps}",
            None if run.final_loss is None else round(run.final_loss, 4),
            ", ".join(run.notes.tags),
            _shortened(run.notes.text),
            run.started,
            run_id(run.run_dir),
        )
        for run in filter_runs(list_runs(), tag or "", search or "", bool(archived))
    ]
    headers = [text(f"column.{c}", lang) if f"column.{c}" in TEXT else c for c in HISTORY_COLUMNS]
    return pd.DataFrame(rows, columns=headers)


def _status_cell(run: RunSummary, lang: str) -> str:
    archived = text("history.archived_mark", lang) if run.notes.archived else ""
    return status_text(run.status, lang, run.run_dir) + archived


def _shortened(note: str) -> str:
    line = " ".join(note.split())
    return line if len(line) <= NOTE_SHOWN_CHARS else line[: NOTE_SHOWN_CHARS - 1] + "…"


def run_id(run_dir: Path) -> str:
    """A run's id in the history: its folder under the saves dir, model/method/name (shown, and unique)."""
    return run_dir.relative_to(saves_dir()).as_posix()


def run_dir_of_row(row: list) -> str:
    """The run directory of a selected history row; "" unless its last column is the id of a listed run. The
    row comes from the browser, so its id is only ever looked up among the runs, never joined into a path, and
    the run found is confined like Resume and Stop confine theirs (a symlinked folder may not lead out)."""
    wanted = row[-1] if row else None
    found = next((run.run_dir for run in list_runs() if run_id(run.run_dir) == wanted), None)
    try:
        return str(run_directory(found)) if found else ""
    except (PathEscapeError, OSError):
        return ""


def snapshot(run_dir: str) -> tuple:
    """What changes as a run goes on; the timer redraws only when this differs from what it drew last."""
    if not run_dir:
        return ("",)
    path = Path(run_dir)
    events_file, log_file = path / EVENTS_FILE, path / LOG_FILE
    return (run_dir, _size(events_file), _size(log_file), run_status(path))


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else -1


BASE = "base"  # the picker value meaning "the base model chosen in the Model tab"


def refreshed_picker(choices: list, picked, fallback) -> dict:
    """A picker's update with today's `choices`. The value is sent only when `picked` is no longer offered (a
    deleted run): this refresh runs on focus, and on a busy machine its answer lands after the pick it would undo."""
    if picked in [value for _, value in choices]:
        return gr.update(choices=choices)
    return gr.update(choices=choices, value=fallback)


def source_choices(lang: str, include_base: bool = True) -> list[tuple[str, str]]:
    """(label, value) pairs for a run picker: finished runs newest first, then optionally the base model."""
    choices = [(f"{run.name} · {run.model} · {run.method}", str(run.run_dir)) for run in finished_runs()]
    return choices + ([(text("pick.base", lang), BASE)] if include_base else [])
