"""Evaluate tab: eval loss and perplexity of a finished run or the base model on a registered dataset."""
from __future__ import annotations

import gradio as gr

from engine.data import read_registry

from . import run_view
from .form import Form
from .i18n import Labels, text


def evaluate(picked: str, base_model: str, dataset: str, cutoff_len, max_samples, batch_size, lang: str) -> str:
    """The result as one sentence, or the reason it failed."""
    from engine.evaluate import evaluate_loss  # loads torch: only when someone evaluates

    source = base_model if picked == run_view.BASE or not picked else picked
    try:
        result = evaluate_loss(source, dataset, int(cutoff_len), int(max_samples), int(batch_size))
    except Exception as err:  # missing dataset, model or result: shown as the engine words it
        return text("evaluate.failed", lang, error=err)
    name = base_model if source == base_model else source.rstrip("/").rsplit("/", 1)[-1]
    return text("evaluate.result", lang, source=name, dataset=dataset, **result)


def build_evaluate_tab(labels: Labels, form: Form) -> dict:
    parts = {}
    with gr.Row():
        parts["picked"] = labels.labelled(gr.Dropdown, "pick.source", choices=run_view.source_choices(labels.lang),
                                          value=run_view.BASE, scale=4)
        parts["refresh"] = labels.button("pick.refresh", size="sm", scale=1)
    with gr.Row():
        names = list(read_registry())
        parts["dataset"] = labels.labelled(gr.Dropdown, "evaluate.dataset", choices=names,
                                           value=(form.base.data.datasets or names or [None])[0])
        parts["cutoff_len"] = labels.field(gr.Number, "data.cutoff_len", value=form.base.data.cutoff_len, precision=0)
        parts["max_samples"] = labels.labelled(gr.Number, "evaluate.max_samples", value=0, precision=0)
        parts["batch_size"] = labels.labelled(gr.Number, "evaluate.batch_size", value=8, precision=0)
    parts["run"] = labels.button("evaluate.run", variant="primary")
    parts["result"] = gr.Markdown(elem_id="evaluate-result")
    return parts


def wire_evaluate_tab(parts: dict, form: Form, lang: gr.Radio, tab: gr.Tab) -> None:
    def refresh(current_lang, picked):
        choices = run_view.source_choices(current_lang)
        names = list(read_registry())
        return (gr.update(choices=choices, value=picked if picked in dict(choices).values() else run_view.BASE),
                gr.update(choices=names))

    for event in (tab.select, parts["refresh"].click):
        event(refresh, [lang, parts["picked"]], [parts["picked"], parts["dataset"]])
    inputs = [parts["picked"], form.controls["model.name_or_path"], parts["dataset"],
              parts["cutoff_len"], parts["max_samples"], parts["batch_size"], lang]
    parts["run"].click(evaluate, inputs, parts["result"])
