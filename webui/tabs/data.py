"""Data tab: pick registered datasets, add one from a file (detected, previewed, checked, registered),
look at a dataset as the model will see it (data_inspect.py) and clean it into a new one (data_cleaning.py)."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd

from engine.data.formats import FORMATS
from engine.data.registry import DataError, read_registry
from engine.paths import nearest_plain_name
from webui.form import Form
from webui.i18n import Labels, localize, text
from webui.tabs.data_cleaning import build_cleaning_section, unused_name, wire_cleaning_section
from webui.tabs.data_inspect import build_inspect_section, wire_inspect_section

FORMAT_CHOICES = ["auto", *FORMATS]
UPLOAD_TYPES = [".json", ".jsonl", ".csv", ".parquet"]


# ---------------------------------------------------------------------------------------------------------
# Handlers


def suggest_name(path: str) -> str:
    """A registry name from the file name that is not taken yet: my_data, else my_data-2, ..."""
    return unused_name(nearest_plain_name(Path(path).stem, "dataset"))


def preview_upload(path: str | None, formatting: str, lang: str) -> tuple[str, str, pd.DataFrame, str]:
    """(what was found or what is wrong, column mapping as JSON, first rows, suggested name).

    Either way the message carries the report `python -m engine data check FILE` prints, so the UI and the
    CLI say the same thing about a file.
    """
    if not path:
        return "", "", pd.DataFrame(), ""
    from engine.data.uploads import preview_file

    detection, rows, report = preview_file(Path(path), formatting or "auto")
    columns = json.dumps(detection.columns if detection else {}, ensure_ascii=False, indent=1)
    rendered = "\n\n```\n" + report.render() + "\n```"
    if not report.ok:
        return text("data.error", lang, error=rendered), columns, rows, suggest_name(path)
    found = text("data.detected", lang, formatting=detection.formatting, rows=report.rows,
                 confidence=f"{detection.confidence:.0%}", reason=detection.reason)
    return found + rendered, columns, rows, suggest_name(path)


def import_upload(path: str | None, name: str, formatting: str, columns_json: str, chosen: list[str], lang: str):
    """(message, datasets-picker update): the new dataset is registered and selected, or nothing changes."""
    if not path:
        return text("data.no_file", lang), gr.skip()
    from engine.data.uploads import import_dataset

    try:
        columns = json.loads(columns_json) if (columns_json or "").strip() else None
        if columns is not None and not isinstance(columns, dict):
            raise DataError('the column mapping must be a JSON object such as {"prompt": "question"}')
        result = import_dataset(Path(path), (name or "").strip(), formatting or "auto", columns or None)
    except json.JSONDecodeError as err:
        return text("data.error", lang, error=f"the column mapping is not valid JSON: {err.msg}"), gr.skip()
    except DataError as err:
        return text("data.error", lang, error="\n\n```\n" + localize(err.args[0], lang) + "\n```"), gr.skip()
    message = text("data.imported", lang, name=result.name, rows=result.rows, file=result.file_name)
    return message, gr.update(choices=list(read_registry()), value=[*(chosen or []), result.name])


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def build_data_tab(form: Form, labels: Labels) -> dict:
    parts = {}
    with gr.Row():
        parts["datasets"] = form.control("data.datasets", gr.Dropdown, choices=list(read_registry()),
                                         multiselect=True, scale=4, elem_id="datasets")
        parts["refresh"] = labels.button("data.refresh", size="sm", scale=1)
    with gr.Row():
        form.control("data.max_samples")
        form.control("data.train_on_prompt")
    labels.markdown("data.upload_heading")
    with gr.Row():
        with gr.Column(scale=2):
            parts["file"] = labels.labelled(gr.File, "data.upload_file", file_types=UPLOAD_TYPES, elem_id="upload-file")
            parts["formatting"] = labels.labelled(gr.Dropdown, "data.formatting", choices=FORMAT_CHOICES, value="auto")
            parts["name"] = labels.labelled(gr.Textbox, "data.name", elem_id="upload-name")
        with gr.Column(scale=3):
            parts["columns"] = labels.labelled(gr.Code, "data.columns", language="json", interactive=True, lines=4)
            parts["found"] = gr.Markdown(elem_id="upload-found")
    parts["preview"] = labels.labelled(gr.Dataframe, "data.preview", interactive=False, max_height=240, wrap=True)
    parts["import"] = labels.button("data.import", variant="primary", elem_id="upload-import")
    parts["message"] = gr.Markdown(elem_id="upload-message")
    parts["inspect"] = build_inspect_section(labels, list(read_registry()), form.base.data.datasets)
    parts["cleaning"] = build_cleaning_section(labels)
    parts["controls"] = form.controls  # read when wiring: by then the Model and Train tabs have added theirs
    return parts


def wire_data_tab(parts: dict, lang: gr.Radio) -> None:
    pickers = [parts["datasets"], parts["inspect"]["dataset"]]
    parts["refresh"].click(lambda: [gr.update(choices=list(read_registry()))] * 2, None, pickers)
    looked = [parts["found"], parts["columns"], parts["preview"], parts["name"]]
    parts["file"].upload(preview_upload, [parts["file"], parts["formatting"], lang], looked)
    parts["formatting"].change(preview_upload, [parts["file"], parts["formatting"], lang], looked)
    inputs = [parts["file"], parts["name"], parts["formatting"], parts["columns"], parts["datasets"], lang]
    imported = parts["import"].click(import_upload, inputs, [parts["message"], parts["datasets"]])
    imported.then(lambda: gr.update(choices=list(read_registry())), None, parts["inspect"]["dataset"])
    wire_inspect_section(parts["inspect"], parts["controls"], lang)
    wire_cleaning_section(parts["cleaning"], parts["inspect"]["dataset"], parts["datasets"], parts["controls"], lang)
