"""Export tab: a finished run as a merged model (sharded), or its adapter alone; optionally GGUF files with an
Ollama Modelfile, each checked in llama.cpp against transformers. Every export carries a model card."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from engine.export.gguf import GGUF_TYPES
from engine.messages import message_of
from webui import run_view
from webui.i18n import Labels, localize, text
from webui.serve_panel import build_serve_panel, wire_serve_panel

# A few short chats for the llama.cpp check: greedy first tokens must match transformers on each.
VERIFY_PROMPTS = [
    [{"role": "user", "content": "What is LoRA?"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "How do I export a model?"}],
    [{"role": "user", "content": "学习率是什么？"}],
]


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def files_table(files: list[tuple[str, int]], lang: str) -> pd.DataFrame:
    columns = [text("column.file", lang), text("column.size", lang)]
    return pd.DataFrame([(file, human_size(size)) for file, size in files], columns=columns)


# ---------------------------------------------------------------------------------------------------------
# Handlers


def verification_line(result: dict, lang: str) -> str:
    """One sentence per GGUF file: what loaded it and how many prompts decoded the same first tokens."""
    key = "export.verified" if result["matching"] == result["prompts"] else "export.verified_partly"
    return text(key, lang, file=result["file"], runtime=result["runtime"], matching=result["matching"],
                prompts=result["prompts"], tokens=result["tokens"], agreed=", ".join(map(str, result["agreed"])))


def verify_files(folder: Path, lang: str) -> list[str]:
    """Check every .gguf in an export folder with llama.cpp; a sentence each (or why it could not)."""
    from engine.export.gguf import verify_gguf

    lines = []
    for path in sorted(folder.glob("*.gguf")):
        try:
            lines.append(verification_line(verify_gguf(path, VERIFY_PROMPTS, folder), lang))
        except ImportError:
            return [text("export.no_llama_cpp", lang)]
        except Exception as err:  # a file llama.cpp refuses: say so next to the export, which stands
            lines.append(text("export.verify_failed", lang, file=path.name, error=err))
    return lines


def export(run_dir: str, name: str, max_shard_size: str, adapter_only: bool, gguf_types, verify: bool, lang: str):
    """Stream (message, files table): a 'working' line first, then the result, then the llama.cpp checks."""
    empty = files_table([], lang)
    if not run_dir:
        yield text("export.no_run", lang), empty
        return
    from engine.export.merge import export_run  # loads torch: only when someone exports

    gguf_types = [] if adapter_only else list(gguf_types or [])
    yield text("export.working", lang), empty
    try:
        result = export_run(Path(run_dir), name=(name or "").strip(), max_shard_size=(max_shard_size or "2GB").strip(),
                            adapter_only=bool(adapter_only), gguf_types=gguf_types)
    except Exception as err:  # folder exists, no result yet, bad name: the engine words it for the user
        yield text("export.failed", lang, error=localize(message_of(err), lang)), empty
        return
    message = text(
        "export.done", lang, folder=result.folder, size=human_size(result.total_bytes), count=len(result.files)
    )
    files = files_table(result.files, lang)
    if not (gguf_types and verify):
        yield message, files
        return
    yield message + "\n\n" + text("export.verifying", lang), files
    yield message + "\n\n" + "\n\n".join(verify_files(result.folder, lang)), files


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def build_export_tab(labels: Labels) -> dict:
    parts = {}
    lang = labels.lang
    with gr.Row():
        choices = run_view.source_choices(lang, include_base=False)
        parts["run"] = labels.labelled(
            gr.Dropdown,
            "pick.run",
            choices=choices,
            value=choices[0][1] if choices else None,
            scale=4,
            elem_id="export-run",
        )
        parts["refresh"] = labels.button("pick.refresh", size="sm", scale=1)
    parts["hint"] = gr.Markdown("" if choices else text("export.no_runs", lang), elem_id="export-hint")
    with gr.Row():
        # Per-export choices: the run's own config keeps its export section; these override it once.
        parts["name"] = labels.field(gr.Textbox, "export.export_dir", elem_id="export-name")
        parts["shard"] = labels.field(gr.Textbox, "export.max_shard_size", value="2GB")
    with gr.Row():
        parts["adapter_only"] = labels.labelled(
            gr.Checkbox, "export.adapter_only", value=False, elem_id="export-adapter-only"
        )
        parts["gguf"] = labels.labelled(
            gr.CheckboxGroup, "export.gguf", choices=list(GGUF_TYPES), value=[], elem_id="export-gguf"
        )
        parts["verify"] = labels.labelled(gr.Checkbox, "export.verify", value=True, elem_id="export-verify")
    parts["export"] = labels.button("export.run", variant="primary", elem_id="export-button")
    parts["result"] = gr.Markdown(elem_id="export-result")
    parts["files"] = labels.labelled(
        gr.Dataframe, "export.files", value=files_table([], lang), interactive=False, elem_id="export-files"
    )  # empty but with its headers, not "1 2 3"
    parts["serve"] = build_serve_panel(labels)
    return parts


def wire_export_tab(parts: dict, lang: gr.Radio, tab: gr.Tab) -> None:
    def refresh(current_lang, picked):
        choices = run_view.source_choices(current_lang, include_base=False)
        hint = "" if choices else text("export.no_runs", current_lang)  # an empty picker says why it is empty
        return run_view.refreshed_picker(choices, picked, choices[0][1] if choices else None), hint

    for event in (tab.select, parts["refresh"].click, parts["run"].focus):  # focus: a run deleted meanwhile goes
        event(refresh, [lang, parts["run"]], [parts["run"], parts["hint"]])
    # GGUF files are made from the merged model: an adapter-only export has none, so the choice greys out.
    parts["adapter_only"].change(lambda only: gr.update(interactive=not only), parts["adapter_only"], parts["gguf"])
    inputs = [parts[k] for k in ("run", "name", "shard", "adapter_only", "gguf", "verify")]
    parts["export"].click(export, [*inputs, lang], [parts["result"], parts["files"]])
    wire_serve_panel(parts["serve"], lang, tab)
