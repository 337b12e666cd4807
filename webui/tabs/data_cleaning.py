"""Data tab, cleaning: the tutorials' preprocessing step as a button, saved as a new registered dataset.

engine/data/cleaning.py does the work and writes nothing until "Save"; the cleaned rows wait in this page's
gr.State, so two people cleaning at once never see each other's result. The original file and registry
entry are never touched.
"""
from __future__ import annotations

import gradio as gr

from engine.data.registry import DataError, dataset_names
from engine.messages import message_of

from webui.tabs.data_inspect import CONVERSATIONS, PROBLEMS, cannot_show, tokenizer_for, with_dataset_dir
from webui.i18n import Labels, localize, text


def unused_name(stem: str) -> str:
    """`stem` if no dataset has that name yet, else stem-2, stem-3, ..."""
    taken = set(dataset_names())
    return next(name for n in range(1, 10_000) if (name := stem if n == 1 else f"{stem}-{n}") not in taken)


# ---------------------------------------------------------------------------------------------------------
# Handlers: plain functions from values to values


def clean(dataset: str, trim: bool, min_prompt, min_response, max_tokens, exact: bool, near: bool,
          validation_ratio, seed, model: str, trust: bool, lang: str):
    """(counts per reason as Markdown, the CleanResult for Save or None, a free name for the cleaned set)."""
    if refusal := cannot_show(dataset, CONVERSATIONS, lang):
        return refusal, None, ""
    from engine.data.cleaning import CleanOptions, clean_dataset

    try:
        limit = int(max_tokens or 0)  # tokens of prompt + response; 0 = no limit
        options = CleanOptions(
            trim_whitespace=bool(trim),
            min_prompt_chars=int(min_prompt or 0),
            min_response_chars=int(min_response or 0),
            max_tokens=limit,
            tokenizer=tokenizer_for(model, trust) if limit else None,  # exact counts, not estimates
            exact_dedup=bool(exact),
            near_dedup=bool(near),
            validation_ratio=float(validation_ratio or 0),
            seed=int(seed or 0),
        )
        result = clean_dataset(dataset, options)
    except PROBLEMS as err:
        return text("data.clean_failed", lang, error=localize(message_of(err), lang)), None, ""
    return describe(result, lang), result, unused_name(f"{dataset}_clean")


def describe(result, lang: str) -> str:
    """What cleaning did, in words: the totals, then one line per reason with the rows it removed."""
    removed = sum(result.removed.values())
    lines = [
        text(
            "data.cleaned",
            lang,
            source=result.source,
            total=result.total,
            removed=removed,
            train=len(result.train),
            validation=len(result.validation),
        )
    ]
    lines += [f"- {text('reason.' + reason, lang)}: **{count}**" for reason, count in result.removed.items()]
    return "\n".join(lines)


def save_cleaned(result, name: str, chosen: list[str] | None, lang: str):
    """(message, training-datasets picker update, inspect picker update, the kept result).

    The cleaned set replaces its source among the chosen training datasets, as that is why one cleans; the
    result is then dropped, so a second click cannot register the same rows twice under another name.
    """
    if result is None:
        return text("data.clean_first", lang), gr.skip(), gr.skip(), None
    if not (name or "").strip():
        return text("data.clean_no_name", lang), gr.skip(), gr.skip(), result
    try:
        names = result.save_as(name.strip())
    except (DataError, OSError) as err:
        return text("data.clean_failed", lang, error=localize(message_of(err), lang)), gr.skip(), gr.skip(), result
    choices = dataset_names()
    chosen = [names[0] if item == result.source else item for item in chosen or []]
    message = text("data.saved", lang, names=", ".join(names), source=result.source)
    return message, gr.update(choices=choices, value=chosen), gr.update(choices=choices, value=names[0]), None


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def build_cleaning_section(labels: Labels) -> dict:
    labels.markdown("data.clean_heading")
    with gr.Row():
        parts = {
            "trim": labels.labelled(gr.Checkbox, "data.trim", value=True),
            "exact": labels.labelled(gr.Checkbox, "data.exact_dedup", value=True),
            "near": labels.labelled(gr.Checkbox, "data.near_dedup", value=True),
        }
    with gr.Row():
        parts["min_prompt"] = labels.labelled(gr.Number, "data.min_prompt", value=1, minimum=0, precision=0)
        parts["min_response"] = labels.labelled(gr.Number, "data.min_response", value=1, minimum=0, precision=0)
        parts["max_tokens"] = labels.labelled(gr.Number, "data.max_tokens", value=0, minimum=0, precision=0)
        parts["validation"] = labels.labelled(
            gr.Slider, "data.validation_ratio", minimum=0.0, maximum=0.5, step=0.05, value=0.0
        )
        parts["seed"] = labels.labelled(gr.Number, "data.clean_seed", value=42, precision=0)
    parts["clean"] = labels.button("data.clean", variant="primary", elem_id="clean-button")
    parts["report"] = gr.Markdown(elem_id="clean-report")
    parts["result"] = gr.State(None)  # this page's CleanResult, waiting for Save
    with gr.Row():
        parts["name"] = labels.labelled(gr.Textbox, "data.clean_name", scale=3, elem_id="clean-name")
        parts["save"] = labels.button("data.save_clean", scale=1, elem_id="clean-save")
    parts["message"] = gr.Markdown(elem_id="clean-message")
    return parts


def wire_cleaning_section(
    parts: dict, dataset: gr.Dropdown, datasets: gr.Dropdown, controls: dict, lang: gr.Radio
) -> None:
    """`dataset`: the one to clean (the inspect picker); `datasets`: the training picker, offered the result."""
    options = [
        parts[key]
        for key in ("trim", "min_prompt", "min_response", "max_tokens", "exact", "near", "validation", "seed")
    ]
    model = [controls["model.name_or_path"], controls["model.trust_remote_code"]]
    folder = controls["data.dataset_dir"]
    parts["clean"].click(with_dataset_dir(clean), [folder, dataset, *options, *model, lang],
                         [parts["report"], parts["result"], parts["name"]])
    parts["save"].click(
        with_dataset_dir(save_cleaned),
        [folder, parts["result"], parts["name"], datasets, lang],
        [parts["message"], datasets, dataset, parts["result"]],
    )
