"""What to do once a run has finished: Evaluate it, chat with it, export it, one click each.

The buttons appear at the top of the Train tab when the page's run has completed; each switches to its tab
with that run already picked.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from engine.runs.status import State
from engine.runs.store import run_status
from webui import run_view
from webui.i18n import Labels

# tab id -> whether its picker offers the base model too (Export only takes runs)
STEPS = {"evaluate": True, "chat": True, "export": False}


def build_next_steps(labels: Labels) -> dict:
    parts = {}
    with gr.Row(visible=False, elem_id="next-steps", equal_height=True) as parts["row"]:
        labels.markdown("next.heading")
        for tab in STEPS:
            parts[tab] = labels.button(f"next.{tab}", variant="primary", size="sm", elem_id=f"next-{tab}")
    return parts


def completed(run_dir: str) -> bool:
    return bool(run_dir) and Path(run_dir).is_dir() and run_status(Path(run_dir)).state == State.COMPLETED


def go_to(tab: str, run_dir: str, lang: str) -> tuple:
    """(the Tabs switched to `tab`, its picker showing `run_dir`)."""
    choices = run_view.source_choices(lang, include_base=STEPS[tab])
    return gr.Tabs(selected=tab), gr.update(choices=choices, value=run_dir)


def wire_next_steps(parts: dict, tabs: gr.Tabs, pickers: dict, run_dir: gr.State, lang: gr.Radio) -> None:
    """`pickers`: tab id -> the run picker on that tab. The Train tab's timer shows and hides the row."""
    for tab in STEPS:
        parts[tab].click(lambda chosen, current_lang, tab=tab: go_to(tab, chosen, current_lang), [run_dir, lang],
                         [tabs, pickers[tab]])
