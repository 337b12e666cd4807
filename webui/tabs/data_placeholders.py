"""Data tab, placeholders: find `{{name}}`-style placeholders in a dataset (LLaMA-Factory's identity.json) and
save a copy with them filled in as a new dataset. engine/data/placeholders.py does the work."""
from __future__ import annotations

import gradio as gr

from engine.data.formats import FORMATS
from engine.data.registry import DataError, read_registry

from webui.i18n import Labels, localize, text
from webui.tabs.data_cleaning import unused_name
from webui.tabs.data_inspect import PROBLEMS, cannot_show, with_dataset_dir

# ---------------------------------------------------------------------------------------------------------
# Handlers: plain functions from values to values


def find_in_dataset(dataset: str, lang: str):
    """(what was found, a values box with one `name=` line per placeholder, a free name for the filled copy)."""
    if refusal := cannot_show(dataset, tuple(FORMATS), lang):
        return refusal, "", ""
    from engine.data.hub import entry_rows
    from engine.data.placeholders import find_placeholders
    from engine.data.registry import get_entry

    try:
        found = find_placeholders(entry_rows(get_entry(dataset)))
    except PROBLEMS as err:
        return text("data.view_failed", lang, error=localize(str(err), lang)), "", ""
    if not found:
        return text("data.placeholders_none", lang, dataset=dataset), "", ""
    names = ", ".join("{{" + name + "}}" for name in found)
    message = text("data.placeholders_found", lang, dataset=dataset, rows=max(found.values()), names=names)
    return message, "\n".join(f"{name}=" for name in found), unused_name(f"{dataset}_filled")


def save_filled_copy(dataset: str, values: str, name: str, chosen: list[str] | None, lang: str):
    """(message, training-datasets picker update, inspect picker update): the filled copy replaces its source
    among the chosen training datasets, as the source is not meant to be trained as it is."""
    from engine.data.cleaning import save_filled
    from engine.data.placeholders import parse_values

    if refusal := cannot_show(dataset, tuple(FORMATS), lang):
        return refusal, gr.skip(), gr.skip()
    new_name = (name or "").strip()
    try:
        message = save_filled(dataset, new_name, parse_values(values))
    except (DataError, OSError) as err:
        return text("data.error", lang, error=localize(err.args[0] if err.args else str(err), lang)), gr.skip(), \
            gr.skip()
    choices = list(read_registry())
    chosen = [new_name if item == dataset else item for item in chosen or []]
    return localize(message, lang), gr.update(choices=choices, value=chosen), gr.update(choices=choices,
                                                                                          value=new_name)


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def build_placeholders_section(labels: Labels) -> dict:
    labels.markdown("data.placeholders_heading")
    parts = {"find": labels.button("data.placeholders_find", elem_id="placeholders-find")}
    parts["found"] = gr.Markdown(elem_id="placeholders-found")
    with gr.Row():
        parts["values"] = labels.labelled(gr.Textbox, "data.placeholders_values", lines=3, scale=3,
                                          elem_id="placeholders-values")
        parts["name"] = labels.labelled(gr.Textbox, "data.placeholders_name", scale=2, elem_id="placeholders-name")
    parts["save"] = labels.button("data.placeholders_save", elem_id="placeholders-save")
    parts["message"] = gr.Markdown(elem_id="placeholders-message")
    return parts


def wire_placeholders_section(parts: dict, dataset: gr.Dropdown, datasets: gr.Dropdown, controls: dict,
                              lang: gr.Radio) -> None:
    """`dataset`: the one looked at (the inspect picker); `datasets`: the training picker, offered the copy."""
    folder = controls["data.dataset_dir"]
    parts["find"].click(with_dataset_dir(find_in_dataset), [folder, dataset, lang],
                        [parts["found"], parts["values"], parts["name"]])
    parts["save"].click(with_dataset_dir(save_filled_copy), [folder, dataset, parts["values"], parts["name"],
                                                              datasets, lang], [parts["message"], datasets, dataset])
