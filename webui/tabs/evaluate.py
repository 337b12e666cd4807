"""Evaluate tab: loss, perplexity and scored generation of a run (streamed row by row), and two models
compared on the same prompts with per-row scores side by side and the metric deltas."""
from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import pandas as pd

from engine.config.schema import ConfigError, RunConfig
from engine.data.registry import dataset_names
from engine.paths import CONFIG_FILE
from engine.use.metrics import METRICS

from webui import benchmarks_panel, judging_panel, run_view
from webui.form import Form
from webui.i18n import Labels, text, translated_columns
from webui.loaded_models import BASE_PREFIX, load_pair, source_of
from webui.stopping import stoppable, wire_stop

METRIC_NAMES = {"bleu-4": "BLEU-4", "rouge-1": "ROUGE-1", "rouge-2": "ROUGE-2", "rouge-l": "ROUGE-L"}
ROW_COLUMNS = ["prompt", "label", "prediction", *METRIC_NAMES.values()]
# Wrapped text columns share the width so the prediction and its scores stay on screen.
ROW_WIDTHS = ["26%", "22%", "28%", "6%", "6%", "6%", "6%"]
SPLITS = ("all", "validation")


# ---------------------------------------------------------------------------------------------------------
# Loss only (one sentence)


def evaluate(picked: str, base_model: str, dataset: str, cutoff_len, max_samples, batch_size, lang: str) -> str:
    """Eval loss and perplexity as one sentence, or the reason it failed."""
    from engine.use.evaluate import evaluate_loss  # loads torch: only when someone evaluates

    source = base_model if picked == run_view.BASE or not picked else picked
    try:
        result = evaluate_loss(source, dataset, int(cutoff_len), int(max_samples), int(batch_size))
    except Exception as err:  # missing dataset, model or result: shown as the engine words it
        return text("evaluate.failed", lang, error=err)
    name = base_model if source == base_model else source.rstrip("/").rsplit("/", 1)[-1]
    return text("evaluate.result", lang, source=name, dataset=dataset, **result)


# ---------------------------------------------------------------------------------------------------------
# What a streamed result looks like


def progress_html(done: int, total: int, note: str, elem_class: str = "run-progress") -> str:
    """A bar and 'note' ("12 of 40 rows" and where the files go); data-done/data-total for tests."""
    fraction = done / total if total else 0.0
    return (f"<div class='{elem_class}' data-done='{done}' data-total='{total}'>"
            f"<div class='run-bar'><div style='width:{fraction * 100:.1f}%'></div></div>"
            f"<span>{html.escape(note)}</span></div>")


def metrics_markdown(metrics: dict, lang: str = "en") -> str:
    """The eval numbers so far as a two-column table (loss and perplexity first, then the text scores)."""
    lines = [text("evaluate.metric_header", lang), "|---|---|"]
    if "eval_loss" in metrics:
        lines += [f"| {text('evaluate.eval_loss', lang)} | {metrics['eval_loss']:.4f} |",
                  f"| {text('evaluate.perplexity', lang)} | {metrics['perplexity']:.2f} |"]
    lines += [f"| {label} | {metrics[key]:.2f} |" for key, label in METRIC_NAMES.items() if key in metrics]
    return "\n".join(lines)


def rows_table(rows: list[dict], lang: str = "en") -> pd.DataFrame:
    headers = [text(f"evaluate.column.{name}", lang) for name in ROW_COLUMNS[:3]] + ROW_COLUMNS[3:]
    return pd.DataFrame(
        [
            [prompt_cell(row), row["label"], row["prediction"], *(round(row["scores"][key], 1) for key in METRICS)]
            for row in rows
        ],
        columns=headers,
    )


def prompt_cell(row: dict) -> str:
    """The prompt, and the file names of its pictures when it has some (its `<image>` placeholders say where)."""
    names = ", ".join(Path(path).name for path in row.get("images", []))
    return f"{row['prompt']}  [{names}]" if names else row["prompt"]


def split_choices(lang: str) -> list[tuple[str, str]]:
    return [(text(f"evaluate.split.{split}", lang), split) for split in SPLITS]


def follow_run(picked: str):
    """(datasets, split) updates: a picked run brings its own datasets, and its validation split when it held one
    out; the base model leaves both as they are."""
    if not picked or picked == run_view.BASE:
        return gr.skip(), gr.skip()
    try:
        config = RunConfig.load(Path(picked) / CONFIG_FILE)
    except (OSError, ConfigError):
        return gr.skip(), gr.skip()
    split = "validation" if config.data.val_size else "all"
    return gr.update(choices=dataset_names(), value=list(config.data.datasets)), gr.update(value=split)


def deltas_markdown(comparison, lang: str = "en") -> str:
    """Each metric for both models and the change (second − first), signed so a gain reads +."""
    a, b = (text("pick.base", lang) if label == "base" else label
            for label in (comparison.label_a, comparison.label_b))
    lines = [f"| {text('evaluate.column.metric', lang)} | {a} | {b} | Δ ({b} − {a}) |", "|---|---|---|---|"]
    for key, label in METRIC_NAMES.items():
        if key in comparison.deltas:
            lines.append(
                f"| {label} | {comparison.metrics_a[key]:.2f} | {comparison.metrics_b[key]:.2f} | "
                f"{comparison.deltas[key]:+.2f} |"
            )
    return "\n".join(lines)


def comparison_table(comparison, lang: str = "en") -> pd.DataFrame:
    rows = [[*row[:4], *(round(score, 1) for score in row[4:])] for row in comparison.table()]
    return translated_columns(pd.DataFrame(rows, columns=comparison.table_headers()), lang)


# ---------------------------------------------------------------------------------------------------------
# Handlers (generators: every yield redraws the outputs while the work goes on)


def evaluation_plan(
    picked: str, base_model: str, datasets, split: str, max_samples, batch_size, max_new_tokens, generate
):
    from engine.use.evaluate import EvalPlan, resolve_plan

    source = base_model if picked == run_view.BASE or not picked else picked
    plan = EvalPlan(
        source,
        tuple(datasets or ()),
        int(max_samples or 0),
        split or "all",
        bool(generate),
        int(max_new_tokens),
        max(1, int(batch_size)),
    )
    plan.output_dir = str(resolve_plan(plan)[3])  # fixed once: a base model's folder is named by the time
    return plan


def stream_evaluate(
    picked, base_model, datasets, split, max_samples, batch_size, max_new_tokens, generate, lang, stop=None
):
    """Yield (progress, metrics, rows) after the loss and after every generated batch."""
    from engine.use.evaluate import stream_evaluation  # loads torch: only when someone evaluates

    empty = rows_table([], lang)
    try:
        plan = evaluation_plan(picked, base_model, datasets, split, max_samples, batch_size, max_new_tokens, generate)
        yield progress_html(0, 0, text("evaluate.loading", lang)), "", empty
        for step in stream_evaluation(plan, stop):
            note = text("evaluate.progress", lang, done=step.done, total=step.total, folder=plan.output_dir)
            if step.complete:
                note = text("evaluate.finished", lang, done=step.done, total=step.total, folder=plan.output_dir)
            drawn = metrics_markdown(step.metrics, lang), rows_table(step.rows, lang)
            yield progress_html(step.done, step.total, note), *drawn
        if not step.complete:
            yield (
                progress_html(step.done, step.total, text("evaluate.stopped", lang, done=step.done, total=step.total)),
                metrics_markdown(step.metrics, lang),
                rows_table(step.rows, lang),
            )
    except Exception as err:  # unknown dataset, empty split, missing model: the engine's words, not a trace
        yield progress_html(0, 0, ""), text("evaluate.failed", lang, error=err), empty


def comparison_tasks(datasets, split: str, max_samples, sources: list[str]) -> list[dict]:
    """The prompts both models answer; a validation split is the held-out part of whichever side is a run."""
    from engine.config.schema import RunConfig
    from engine.use.predict import prediction_tasks
    from engine.paths import CONFIG_FILE

    settings = {}
    runs = [Path(source) for source in sources if not source.startswith(BASE_PREFIX)]
    run = next((path for path in runs if (path / CONFIG_FILE).exists()), None)
    if run is not None:
        config = RunConfig.load(run / CONFIG_FILE)
        settings = {"seed": config.train.seed, "val_size": config.data.val_size}
    if not datasets:
        raise ValueError("choose a dataset to compare on")
    return prediction_tasks(list(datasets), int(max_samples or 0), split or "all", **settings)


def stream_compare(
    picked_a, picked_b, model_values: dict, datasets, split, max_samples, batch_size, max_new_tokens, lang, stop=None
):
    """Yield (progress, deltas, side-by-side table) after every batch both models answered."""
    from engine.use.predict import stream_comparison  # loads torch

    empty = pd.DataFrame()
    try:
        source_a, source_b = source_of(picked_a, model_values), source_of(picked_b, model_values)
        if source_a == source_b:
            raise ValueError(text("compare.same", lang))
        tasks = comparison_tasks(datasets, split, max_samples, [source_a, source_b])
        yield progress_html(0, len(tasks), text("evaluate.loading", lang)), "", empty
        chat_a, chat_b = load_pair(source_a, source_b)
        comparison = None
        for comparison in stream_comparison(chat_a, chat_b, tasks, int(max_new_tokens), max(1, int(batch_size)), stop):
            note = text("compare.progress", lang, done=comparison.done, total=comparison.total)
            yield (
                progress_html(comparison.done, comparison.total, note),
                deltas_markdown(comparison, lang),
                comparison_table(comparison, lang),
            )
        done = comparison.done if comparison else 0
        if done < len(tasks):
            yield (
                progress_html(done, len(tasks), text("evaluate.stopped", lang, done=done, total=len(tasks))),
                deltas_markdown(comparison, lang) if comparison else "",
                comparison_table(comparison, lang) if comparison else empty,
            )
    except Exception as err:  # as above: a sentence in the page, never a crash
        yield progress_html(0, 0, ""), text("compare.failed", lang, error=err), empty


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def build_evaluate_tab(labels: Labels, form: Form) -> dict:
    parts = {}
    lang = labels.lang
    with gr.Row():
        parts["picked"] = labels.labelled(
            gr.Dropdown,
            "pick.source",
            choices=run_view.source_choices(lang),
            value=run_view.BASE,
            scale=4,
            elem_id="eval-source",
        )
        parts["refresh"] = labels.button("pick.refresh", size="sm", scale=1)
    with gr.Row():
        names = dataset_names()
        parts["datasets"] = labels.labelled(
            gr.Dropdown,
            "evaluate.dataset",
            choices=names,
            multiselect=True,
            value=(form.base.data.datasets or names)[:1],
            scale=3,
            elem_id="eval-datasets",
        )
        parts["split"] = labels.labelled(gr.Radio, "evaluate.split", choices=split_choices(lang), value="all")
        parts["max_samples"] = labels.labelled(
            gr.Number, "evaluate.max_samples", value=16, precision=0, elem_id="eval-max-samples"
        )
        parts["batch_size"] = labels.labelled(gr.Number, "evaluate.batch_size", value=8, precision=0)
        parts["max_new_tokens"] = labels.labelled(
            gr.Number, "evaluate.max_new_tokens", value=64, precision=0, elem_id="eval-max-new-tokens"
        )
        parts["generate"] = labels.labelled(gr.Checkbox, "evaluate.generate", value=True)
    with gr.Row():
        parts["run"] = labels.button("evaluate.run", variant="primary", elem_id="eval-run")
        parts["stop"] = labels.button("evaluate.stop", variant="stop", elem_id="eval-stop")
    parts["progress"] = gr.HTML(elem_id="eval-progress")
    parts["metrics"] = gr.Markdown(elem_id="eval-metrics")
    parts["rows"] = labels.labelled(
        gr.Dataframe,
        "evaluate.rows",
        value=rows_table([], lang),
        interactive=False,
        wrap=True,
        max_height=420,
        column_widths=ROW_WIDTHS,
        elem_id="eval-rows",
    )
    labels.markdown("compare.heading")
    with gr.Row():
        choices = run_view.source_choices(lang)
        parts["picked_a"] = labels.labelled(
            gr.Dropdown, "compare.a", choices=choices, value=run_view.BASE, elem_id="compare-a"
        )
        parts["picked_b"] = labels.labelled(
            gr.Dropdown, "compare.b", choices=choices, value=choices[0][1], elem_id="compare-b"
        )
    with gr.Row():
        parts["compare"] = labels.button("compare.run", variant="primary", elem_id="compare-run")
        parts["compare_stop"] = labels.button("evaluate.stop", variant="stop", elem_id="compare-stop")
    parts["compare_progress"] = gr.HTML(elem_id="compare-progress")
    parts["deltas"] = gr.Markdown(elem_id="compare-deltas")
    parts["compared"] = labels.labelled(
        gr.Dataframe,
        "compare.rows",
        value=translated_columns(pd.DataFrame(columns=["prompt", "label"]), lang),
        interactive=False,
        wrap=True,
        max_height=420,
        elem_id="compare-rows",
    )
    parts["judging"] = judging_panel.build_judging_panel(labels)
    parts["benchmarks"] = benchmarks_panel.build_benchmarks_panel(labels)
    parts["stop_event"], parts["compare_stop_event"] = gr.State(None), gr.State(None)
    return parts


def wire_evaluate_tab(parts: dict, form: Form, lang: gr.Radio, tab: gr.Tab) -> None:
    model_fields = [f for f in form.fields if f.startswith("model.")]
    model_controls = [form.controls[f] for f in model_fields]

    def refresh(current_lang, picked, picked_a, picked_b):
        choices = run_view.source_choices(current_lang)
        return (
            run_view.refreshed_picker(choices, picked, run_view.BASE),
            gr.update(choices=dataset_names()),
            run_view.refreshed_picker(choices, picked_a, run_view.BASE),
            run_view.refreshed_picker(choices, picked_b, choices[0][1]),
            gr.update(choices=split_choices(current_lang)),
        )

    pickers = [parts["picked"], parts["datasets"], parts["picked_a"], parts["picked_b"], parts["split"]]
    parts["picked"].change(follow_run, parts["picked"], [parts["datasets"], parts["split"]])
    for event in (tab.select, parts["refresh"].click, parts["picked"].focus):
        event(refresh, [lang, parts["picked"], parts["picked_a"], parts["picked_b"]], pickers)

    settings = [parts[k] for k in ("datasets", "split", "max_samples", "batch_size", "max_new_tokens")]
    inputs = [parts["picked"], form.controls["model.name_or_path"], *settings, parts["generate"], lang]
    stoppable(
        parts["run"].click,
        stream_evaluate,
        inputs,
        [parts["progress"], parts["metrics"], parts["rows"]],
        parts["stop_event"],
    )
    wire_stop(parts["stop"], parts["stop_event"])

    def compare(picked_a, picked_b, *values):
        model_values = dict(zip(model_fields, values[: len(model_fields)]))
        *rest, current_lang, stop = values[len(model_fields) :]
        yield from stream_compare(picked_a, picked_b, model_values, *rest, current_lang, stop)

    stoppable(
        parts["compare"].click,
        compare,
        [parts["picked_a"], parts["picked_b"], *model_controls, *settings, lang],
        [parts["compare_progress"], parts["deltas"], parts["compared"]],
        parts["compare_stop_event"],
    )
    wire_stop(parts["compare_stop"], parts["compare_stop_event"])
    judging_panel.wire_judging_panel(parts["judging"], parts["compared"], parts["picked_a"], parts["picked_b"], lang)
    benchmarks_panel.wire_benchmarks_panel(parts["benchmarks"], parts["compared"], parts["picked_a"], lang)
