"""Data tab: pick registered datasets, add one from a file (detected, previewed, checked, registered),
look at a dataset as the model will see it (data_inspect.py) and clean it into a new one (data_cleaning.py)."""
from __future__ import annotations

import contextlib
from pathlib import Path

import gradio as gr

from engine.data.formats import FORMATS
from engine.data.registry import DataError, dataset_names, registry_problems
from engine.messages import say
from engine.paths import nearest_plain_name
from webui.form import Form
from webui.gate import upload_folder
from webui.i18n import Labels, localize, text
from webui.tabs.data_cleaning import build_cleaning_section, unused_name, wire_cleaning_section
from webui.tabs.data_inspect import build_inspect_section, wire_inspect_section
from webui.tabs.data_placeholders import build_placeholders_section, wire_placeholders_section

FORMAT_CHOICES = ["auto", *FORMATS]
# Every role a format maps to a column of the file (prompt, response, messages, chosen, ...), in a stable order.
ROLES = list(dict.fromkeys([*(role for spec in FORMATS.values() for role in spec.columns), "system", "history"]))
UPLOAD_TYPES = [".json", ".jsonl", ".csv", ".parquet", ".zip"]  # a zip: a JSON/JSONL dataset and its pictures


# ---------------------------------------------------------------------------------------------------------
# Handlers


def suggest_name(path: str) -> str:
    """A registry name from the file name that is not taken yet: my_data, else my_data-2, ..."""
    return unused_name(nearest_plain_name(Path(path).stem, "dataset"))


def preview_upload(path: str | None, formatting: str, lang: str) -> list:
    """[what was found or what is wrong, first rows, suggested name, Add-button update, one update per role,
    thumbnails of the first rows' pictures].

    Either way the message carries the report `python -m engine data check FILE` prints, line by line in the
    page's language, so the UI and the CLI say the same thing about a file. "Add dataset" stays disabled
    while the file is not usable; a file of which not one row could be read is unusable whatever the format or
    columns, so its temporary upload is deleted at once.
    """
    if not path:
        hidden = gr.update(value=None, visible=False)
        return ["", hidden, "", gr.update(interactive=False), *role_updates(None, []), hidden]
    from engine.data.uploads import preview_file

    preview = preview_file(Path(path), formatting or "auto")
    detection, rows, report = preview.detection, preview.rows, preview.report
    if not report.rows:
        discard_upload(path)
    rendered = "\n\n```\n" + "\n".join(localize(line, lang) for line in report.lines()) + "\n```"
    looked = [gr.update(value=rows, visible=not rows.empty), suggest_name(path), gr.update(interactive=report.ok),
              *role_updates(detection, list(rows.columns)),
              gr.update(value=preview.thumbnails or None, visible=bool(preview.thumbnails))]
    if not report.ok:
        return [text("data.error", lang, error=rendered), *looked]
    found = text("data.detected", lang, formatting=detection.formatting, rows=report.rows,
                 confidence=f"{detection.confidence:.0%}", reason=localize(detection.reason, lang))
    return [found + rendered, *looked]


def role_updates(detection, file_columns: list[str]) -> list:
    """One dropdown update per role: shown for the roles the detected format uses, offering the file's columns."""
    used = detection.columns if detection else {}
    return [gr.update(visible=role in used, choices=["", *file_columns], value=used.get(role, ""))
            for role in ROLES]


def import_upload(path: str | None, name: str, formatting: str, lang: str, *columns: str):
    """(message, datasets-picker update): the new dataset is registered and becomes the one selected (the
    person added it to train on it), or nothing changes. `columns` are the role dropdowns, in ROLES order."""
    if not path:
        return text("data.no_file", lang), gr.skip()
    from engine.data.uploads import import_dataset

    mapping = {role: column for role, column in zip(ROLES, columns) if column}
    try:
        result = import_dataset(Path(path), (name or "").strip(), formatting or "auto", mapping or None)
    except DataError as err:
        return text("data.error", lang, error="\n\n```\n" + localize(err.args[0], lang) + "\n```"), gr.skip()
    discard_upload(path)  # the data folder holds the copy now
    message = text("data.imported", lang, name=result.name, rows=result.rows, file=result.file_name)
    return message, gr.update(choices=dataset_names(), value=[result.name])


def discard_upload(path: str) -> None:
    """Delete a temporary upload and its folder (gradio puts each in a folder named by its hash). Only ever a
    file inside gradio's upload folder: a path given any other way is the user's own file."""
    folder, file = upload_folder().resolve(), Path(path).resolve()
    if not (file.is_relative_to(folder) and file.is_file()):
        return
    file.unlink()
    if file.parent != folder:
        with contextlib.suppress(OSError):  # not empty: another upload of the same bytes is still in use
            file.parent.rmdir()


def picker_choices(dataset_dir: str) -> list:
    """Both dataset pickers offered every registered name, with those of the form's dataset folder."""
    return [gr.update(choices=dataset_names(dataset_dir))] * 2


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def registry_note(lang: str) -> dict:
    """The registry's problems over the pickers (a broken file adds no datasets, and the studio still starts)."""
    problems = registry_problems()
    shown = localize(say("registry.broken_note", problems=problems), lang) if problems else ""
    return gr.update(value=f"**{shown}**" if shown else "", visible=bool(problems))


def build_data_tab(form: Form, labels: Labels) -> dict:
    note = registry_note(labels.lang)
    parts = {"registry": gr.Markdown(note["value"], visible=note["visible"], elem_id="registry-problem")}
    names = dataset_names(form.base.data.dataset_dir)
    with gr.Row():
        parts["datasets"] = form.control("data.datasets", gr.Dropdown, choices=names,
                                         multiselect=True, scale=4, elem_id="datasets")
        parts["refresh"] = labels.button("data.refresh", size="sm", scale=1)
    with gr.Row():
        form.control("data.max_samples")
        form.control("data.train_on_prompt")
        form.control("data.mask_history")
        parts["dataset_dir"] = form.control("data.dataset_dir", scale=2)
    labels.markdown("data.upload_heading")
    with gr.Row():
        with gr.Column(scale=2):
            parts["file"] = labels.labelled(
                gr.File, "data.upload_file", file_types=UPLOAD_TYPES, elem_id="upload-file"
            )
            parts["formatting"] = labels.labelled(gr.Dropdown, "data.formatting", choices=FORMAT_CHOICES, value="auto")
            parts["name"] = labels.labelled(gr.Textbox, "data.name", elem_id="upload-name")
        with gr.Column(scale=3):
            labels.markdown("data.columns")
            with gr.Row():
                parts["roles"] = [
                    labels.labelled(
                        gr.Dropdown,
                        f"data.role.{role}",
                        choices=[""],
                        value="",
                        visible=False,
                        min_width=140,
                        elem_id=f"role-{role}",
                    )
                    for role in ROLES
                ]
            parts["found"] = gr.Markdown(elem_id="upload-found", elem_classes="wrap-report")
    parts["preview"] = labels.labelled(
        gr.Dataframe, "data.preview", interactive=False, max_height=240, wrap=True, visible=False
    )  # shown with a file's first rows
    parts["thumbnails"] = labels.labelled(
        gr.Gallery, "data.thumbnails", columns=8, height="auto", visible=False, elem_id="upload-thumbnails"
    )  # shown when the first rows have pictures
    parts["import"] = labels.button("data.import", variant="primary", elem_id="upload-import", interactive=False)
    parts["message"] = gr.Markdown(elem_id="upload-message")
    parts["inspect"] = build_inspect_section(labels, names, form.base.data.datasets)
    parts["placeholders"] = build_placeholders_section(labels)
    parts["cleaning"] = build_cleaning_section(labels)
    parts["controls"] = form.controls  # read when wiring: by then the Model and Train tabs have added theirs
    return parts


def wire_data_tab(parts: dict, lang: gr.Radio) -> None:
    pickers = [parts["datasets"], parts["inspect"]["dataset"]]
    parts["refresh"].click(picker_choices, parts["dataset_dir"], pickers)
    parts["refresh"].click(registry_note, lang, parts["registry"])
    parts["dataset_dir"].change(picker_choices, parts["dataset_dir"], pickers)
    looked = [parts["found"], parts["preview"], parts["name"], parts["import"], *parts["roles"], parts["thumbnails"]]
    parts["file"].upload(preview_upload, [parts["file"], parts["formatting"], lang], looked)
    parts["formatting"].change(preview_upload, [parts["file"], parts["formatting"], lang], looked)
    inputs = [parts["file"], parts["name"], parts["formatting"], lang, *parts["roles"]]
    imported = parts["import"].click(import_upload, inputs, [parts["message"], parts["datasets"]])
    imported.then(picker_choices, parts["dataset_dir"], pickers)
    wire_inspect_section(parts["inspect"], parts["controls"], lang)
    wire_placeholders_section(parts["placeholders"], parts["inspect"]["dataset"], parts["datasets"],
                              parts["controls"], lang)
    wire_cleaning_section(parts["cleaning"], parts["inspect"]["dataset"], parts["datasets"], parts["controls"], lang)
