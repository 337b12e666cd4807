"""The comparison panel under the run history: 2–6 runs' loss curves on one plot, the config fields that
differ, and their final metrics. It draws what engine/runs/compare.py reads; nothing is computed here.

The plot is matplotlib (a figure per redraw, no pyplot state), as each curve needs its own look: the raw line
faint, its smoothed line solid in the same colour, eval points marked.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

import gradio as gr

from engine.runs.compare import MAX_RUNS, SERIES, X_AXES, Comparison, compare_runs, format_value, smooth
from engine.runs.store import list_runs
from webui import run_view
from webui.i18n import Labels, text
from webui.texts import TEXT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = ("#6366f1", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9")


# ---------------------------------------------------------------------------------------------------------
# Layout


def build_compare_panel(labels: Labels) -> dict:
    with labels.add(gr.Accordion(text("experiments.title", labels.lang), open=False, elem_id="compare-panel"),
                    "experiments.title"):
        with gr.Row():
            parts = {"runs": labels.labelled(gr.Dropdown, "experiments.runs", choices=run_choices(labels.lang),
                                             multiselect=True, max_choices=MAX_RUNS, elem_id="compare-runs", scale=3)}
            parts["x"] = labels.labelled(gr.Radio, "experiments.x", choices=x_choices(labels.lang), value="step")
            parts["smoothing"] = labels.labelled(gr.Slider, "experiments.smoothing", minimum=0.0, maximum=0.95,
                                                 step=0.05, value=0.6)
            parts["log"] = labels.labelled(gr.Checkbox, "experiments.log_scale", value=False)
        parts["button"] = labels.button("experiments.button", variant="primary", elem_id="compare-button")
        parts["message"] = gr.Markdown(elem_id="compare-message")
        parts["notes"] = gr.Markdown(elem_id="compare-notes")
        parts["plot"] = labels.labelled(gr.Plot, "experiments.curve", elem_id="compare-curve")
        parts["diff"] = labels.labelled(gr.Dataframe, "experiments.diff", interactive=False, elem_id="compare-diff")
        parts["metrics"] = labels.labelled(gr.Dataframe, "experiments.metrics", interactive=False,
                                           elem_id="compare-metrics")
    return parts


def run_choices(lang: str = "en") -> list[tuple[str, str]]:
    """(label, run folder) of every run with something to compare, newest first; its status in `lang`."""
    return [(" · ".join([run.name, run.method, run_view.status_text(run.status, lang),
                         *(f"#{tag}" for tag in run.notes.tags)]), str(run.run_dir))
            for run in list_runs() if run.step]


def x_choices(lang: str) -> list[tuple[str, str]]:
    return [(text(f"experiments.x.{x}", lang), x) for x in X_AXES]


# ---------------------------------------------------------------------------------------------------------
# Handlers


def compare_view(run_dirs: list[str] | None, x: str, smoothing: float, log_scale: bool, lang: str) -> tuple:
    """(message, the runs' notes and tags, figure, config diff, final metrics) for the chosen runs; a hint and
    nothing drawn when fewer than two (or more than six) are chosen."""
    run_dirs = run_dirs or []
    if not 2 <= len(run_dirs) <= MAX_RUNS:
        return text("experiments.pick", lang), "", None, None, None
    comparison = compare_runs(run_dirs, x)
    message = "" if comparison.diff else text("experiments.same_config", lang)
    return (message, notes_markdown(comparison, lang), loss_figure(comparison, smoothing, log_scale, lang),
            diff_frame(comparison, lang), metrics_frame(comparison, lang))


def redraw_in_language(run_dirs: list[str] | None, x: str, smoothing: float, log_scale: bool, lang: str) -> tuple:
    """compare_view in the page's new language when runs are chosen (headers, metric names, legend); the
    panel stays as it is otherwise."""
    if not 2 <= len(run_dirs or []) <= MAX_RUNS:
        return (gr.skip(),) * 5
    return compare_view(run_dirs, x, smoothing, log_scale, lang)


def notes_markdown(comparison: Comparison, lang: str) -> str:
    """'**Notes**' and a line per run with a note or tags: '- **run** `tag` `tag` · note'; "" when none has."""
    lines = [_note_line(run, note, tags) for run, note, tags in zip(comparison.runs, comparison.notes, comparison.tags)
             if note or tags]
    return "\n".join([f"**{text('experiments.notes', lang)}**", *lines]) if lines else ""


def _note_line(run: str, note: str, tags: list[str]) -> str:
    line = " ".join([f"- **{run}**", *(f"`{tag}`" for tag in tags)])
    return f"{line} · {html.escape(' '.join(note.split()))}" if note else line  # a note's HTML shows as text


def loss_figure(comparison: Comparison, smoothing: float, log_scale: bool, lang: str) -> Figure:
    """Train loss per run: the raw line faint, the EMA-smoothed line solid; eval loss as marked points joined
    by a dashed line. One colour per run; the legend names run and series."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # ~0.3 s of imports, paid on the first comparison, not at page start

    with rc_context(run_view.PLOT_FONTS):  # the live curve's fonts: Chinese legends and axes as text, not boxes
        return _loss_figure(Figure(figsize=(9, 4.2), layout="constrained"), comparison, smoothing, log_scale, lang)


def _loss_figure(figure: Figure, comparison: Comparison, smoothing: float, log_scale: bool, lang: str) -> Figure:
    axes = figure.add_subplot()
    for index, run in enumerate(comparison.runs):
        color = COLORS[index % len(COLORS)]
        for series in SERIES:
            points = [p for p in comparison.curves if p.run == run and p.series == series]
            if not points:
                continue
            xs, losses = [p.x for p in points], [p.loss for p in points]
            name = f"{run} · {text(f'experiments.series.{series}', lang)}"
            if series == "train":
                axes.plot(xs, losses, color=color, alpha=0.25, linewidth=1)
                axes.plot(xs, smooth(losses, smoothing), color=color, linewidth=2, label=name)
            else:
                axes.plot(xs, losses, color=color, linestyle="--", marker="o", markersize=5, label=name)
    axes.set_xlabel(text(f"experiments.x.{comparison.x}", lang))
    axes.set_ylabel(text("experiments.loss", lang))
    if log_scale:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def diff_frame(comparison: Comparison, lang: str) -> pd.DataFrame:
    rows = [[field, *(format_value(value) for value in values)] for field, values in comparison.diff.items()]
    return pd.DataFrame(rows, columns=[text("experiments.column.field", lang), *comparison.runs])


def metrics_frame(comparison: Comparison, lang: str) -> pd.DataFrame:
    rows = [[metric_label(key, lang), *(format_value(value) for value in values)]
            for key, values in comparison.metrics.items()]
    return pd.DataFrame(rows, columns=[text("experiments.column.metric", lang), *comparison.runs])


def metric_label(key: str, lang: str) -> str:
    return text(f"metric.{key}", lang) if f"metric.{key}" in TEXT else key  # BLEU / ROUGE read the same


# ---------------------------------------------------------------------------------------------------------
# Wiring


def wire_compare_panel(parts: dict, lang: gr.Radio, history: gr.Dataframe, refresh: gr.Button):
    inputs = [parts["runs"], parts["x"], parts["smoothing"], parts["log"], lang]
    outputs = [parts["message"], parts["notes"], parts["plot"], parts["diff"], parts["metrics"]]
    parts["button"].click(compare_view, inputs, outputs)
    for control in (parts["x"], parts["smoothing"], parts["log"]):
        control.change(compare_view, inputs, outputs, show_progress="hidden")
    # The history redraws when a run's status changes: a run that just finished becomes comparable.
    for event in (history.change, refresh.click, lang.change):
        event(lambda current: gr.update(choices=run_choices(current)), lang, parts["runs"], show_progress="hidden")
    lang.change(lambda current: gr.update(choices=x_choices(current)), lang, parts["x"])
    lang.change(redraw_in_language, inputs, outputs, show_progress="hidden")
