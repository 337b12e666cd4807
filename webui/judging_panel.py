"""Blind A/B judging under the Evaluate tab's comparison: each prompt with the two models' replies in a
random, hidden order; the user says which is better (keys 1, 2, or T for a tie). Judgements go to
judgements.jsonl in the judged run's folder (engine/use/judging.py); the win rate with its 95% interval is
shown at the end, and `compare` shows it too.
"""
from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path

import gradio as gr
import pandas as pd

from engine.paths import CONFIG_FILE
from engine.use.judging import BlindPair, blind_pairs, read_judgements, record_judgement, win_rate
from webui.i18n import Labels, text

CHOICES = ("first", "second", "tie")
# Keys 1 / 2 / T click the buttons, unless the user is typing into a field.
SHORTCUTS_JS = """() => {
  if (window.studioJudgeKeys) return;
  window.studioJudgeKeys = true;
  const buttons = {"1": "judge-first", "2": "judge-second", "t": "judge-tie", "T": "judge-tie"};
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement?.tagName);
    const id = buttons[event.key];
    if (!typing && id) document.getElementById(id)?.click();
  });
}"""


def build_judging_panel(labels: Labels) -> dict:
    parts = {"start": labels.button("judge.start", elem_id="judge-start")}
    parts["progress"] = gr.Markdown(elem_id="judge-progress")
    parts["prompt"] = gr.Markdown(elem_id="judge-prompt")
    with gr.Row():
        parts["first_reply"] = labels.labelled(gr.Textbox, "judge.reply_first", interactive=False, lines=4,
                                               elem_id="judge-reply-first")
        parts["second_reply"] = labels.labelled(gr.Textbox, "judge.reply_second", interactive=False, lines=4,
                                                elem_id="judge-reply-second")
    with gr.Row():
        parts["first"] = labels.button("judge.first", elem_id="judge-first")
        parts["tie"] = labels.button("judge.tie", elem_id="judge-tie")
        parts["second"] = labels.button("judge.second", elem_id="judge-second")
    parts["state"] = gr.State(None)
    return parts


# ---------------------------------------------------------------------------------------------------------
# Handlers


def start_judging(table: pd.DataFrame | None, picked_a: str, picked_b: str, lang: str) -> tuple:
    """A fresh session over the compared rows (prompt, label, reply a, reply b, ...), or a hint why not.
    The judged run (model A of the judgements) is whichever side is a run; A when both are."""
    if table is None or len(table) == 0:
        return None, text("judge.nothing", lang), "", "", ""
    sides = [(picked_a, 2), (picked_b, 3)]
    runs = [(picked, column) for picked, column in sides if picked and (Path(picked) / CONFIG_FILE).exists()]
    if not runs:
        return None, text("judge.needs_run", lang), "", "", ""
    (judged, column), (other, other_column) = runs[0], next(side for side in sides if side != runs[0])
    rows = [{"prompt": row[0], "prediction_a": row[column], "prediction_b": row[other_column]}
            for row in table.itertuples(index=False)]
    state = {"pairs": [asdict(pair) for pair in blind_pairs(rows, random.randrange(2**32))], "index": 0,
             "folder": judged, "label_a": Path(judged).name, "label_b": _label(other)}
    return (state, *judging_view(state, lang))


def _label(picked: str) -> str:
    return Path(picked).name if picked and (Path(picked) / CONFIG_FILE).exists() else "base"


def judge(state: dict | None, choice: str, lang: str) -> tuple:
    """Record the choice about the current pair and move on; after the last one, the win rate."""
    if not state or state["index"] >= len(state["pairs"]):
        return (state, *judging_view(state, lang))
    pair = BlindPair(**state["pairs"][state["index"]])
    record_judgement(Path(state["folder"]), pair, choice, state["label_a"], state["label_b"])
    state = {**state, "index": state["index"] + 1}
    return (state, *judging_view(state, lang))


def judging_view(state: dict | None, lang: str) -> tuple[str, str, str, str]:
    """(progress or result, prompt, reply shown first, reply shown second)."""
    if not state:
        return "", "", "", ""
    index, pairs = state["index"], state["pairs"]
    if index >= len(pairs):
        judged = [record for record in read_judgements(Path(state["folder"])) if record.get("b") == state["label_b"]]
        result = win_rate(judged)
        shown = text("judge.rate", lang, rate=f"{result.rate:.0%}", low=f"{result.low:.0%}", high=f"{result.high:.0%}",
                     wins=result.wins, losses=result.losses, ties=result.ties) if result else "—"
        return text("judge.result", lang, run=state["label_a"], other=state["label_b"], result=shown), "", "", ""
    pair = pairs[index]
    return (text("judge.progress", lang, done=index, total=len(pairs)), f"**{pair['prompt']}**",
            pair["first"], pair["second"])


# ---------------------------------------------------------------------------------------------------------
# Wiring


def wire_judging_panel(parts: dict, table: gr.Dataframe, picked_a: gr.Dropdown, picked_b: gr.Dropdown,
                       lang: gr.Radio) -> None:
    view = [parts["progress"], parts["prompt"], parts["first_reply"], parts["second_reply"]]
    parts["start"].click(start_judging, [table, picked_a, picked_b, lang], [parts["state"], *view])
    parts["start"].click(None, None, None, js=SHORTCUTS_JS)
    for choice in CHOICES:
        parts[choice].click(lambda state, current, choice=choice: judge(state, choice, current),
                            [parts["state"], lang], [parts["state"], *view])
