"""Export tab: merge a finished run's adapter into its base and write a standalone model folder."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from . import run_view
from .i18n import Labels, text


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def export(run_dir: str, name: str, max_shard_size: str, lang: str) -> tuple[str, pd.DataFrame]:
    """(message, files table) after exporting `run_dir`; the message says why when it could not."""
    columns = [text("column.file", lang), text("column.size", lang)]
    if not run_dir:
        return text("export.no_run", lang), pd.DataFrame(columns=columns)
    from engine.export import export_run  # loads torch: only when someone exports

    try:
        result = export_run(Path(run_dir), name=(name or "").strip(), max_shard_size=max_shard_size or "2GB")
    except Exception as err:  # folder exists, no result yet, bad name: the engine words it for the user
        return text("export.failed", lang, error=err), pd.DataFrame(columns=columns)
    files = pd.DataFrame([(file, human_size(size)) for file, size in result.files], columns=columns)
    message = text("export.done", lang, folder=result.folder, size=human_size(result.total_bytes), count=len(result.files))
    return message, files


def build_export_tab(labels: Labels) -> dict:
    parts = {}
    lang = labels.lang
    with gr.Row():
        choices = run_view.source_choices(lang, include_base=False)
        parts["run"] = labels.labelled(gr.Dropdown, "pick.run", choices=choices,
                                       value=choices[0][1] if choices else None, scale=4, elem_id="export-run")
        parts["refresh"] = labels.button("pick.refresh", size="sm", scale=1)
    with gr.Row():
        # Per-export choices: the run's own config keeps its export section; these override it once.
        parts["name"] = labels.field(gr.Textbox, "export.export_dir", elem_id="export-name")
        parts["shard"] = labels.field(gr.Textbox, "export.max_shard_size", value="2GB")
    parts["export"] = labels.button("export.run", variant="primary", elem_id="export-button")
    parts["result"] = gr.Markdown(elem_id="export-result")
    parts["files"] = labels.labelled(gr.Dataframe, "export.files", interactive=False)
    return parts


def wire_export_tab(parts: dict, lang: gr.Radio, tab: gr.Tab) -> None:
    def refresh(current_lang, picked):
        choices = run_view.source_choices(current_lang, include_base=False)
        values = [value for _, value in choices]
        return gr.update(choices=choices, value=picked if picked in values else (values[0] if values else None))

    for event in (tab.select, parts["refresh"].click):
        event(refresh, [lang, parts["run"]], parts["run"])
    parts["export"].click(export, [parts["run"], parts["name"], parts["shard"], lang], [parts["result"], parts["files"]])
