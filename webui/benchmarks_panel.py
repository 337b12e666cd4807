"""Benchmarks and a model as judge, under the Evaluate tab.

Benchmarks: a run (and its base) on lm-evaluation-harness tasks picked by language, or on a registered
dataset of questions; the job runs in the background (engine/benchmarks/harness.py) and this panel polls its
folder for progress and the base-vs-tuned table. Judge: the compared rows above graded by any
OpenAI-compatible endpoint, its prompt shown and editable, its cost shown before it runs.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from engine.benchmarks import harness, judge
from engine.benchmarks.catalog import LOCAL_PREFIX, names_in
from engine.data.registry import DataError, dataset_names
from engine.messages import say
from webui import run_view
from webui.i18n import Labels, text

POLL_S = 2.0


def build_benchmarks_panel(labels: Labels) -> dict:
    lang = labels.lang
    parts = {}
    labels.markdown("benchmarks.heading")
    with gr.Row():
        parts["run"] = labels.labelled(gr.Dropdown, "benchmarks.run", elem_id="bench-run",
                                       choices=run_view.source_choices(lang, include_base=False))
        parts["english"] = labels.labelled(gr.CheckboxGroup, "benchmarks.english", choices=names_in("en"))
        parts["chinese"] = labels.labelled(gr.CheckboxGroup, "benchmarks.chinese", choices=names_in("zh"))
        parts["local"] = labels.labelled(gr.Dropdown, "benchmarks.local", choices=dataset_names(), multiselect=True,
                                         value=["demo_quick_quiz"], elem_id="bench-local")
    with gr.Row():
        parts["limit"] = labels.labelled(gr.Number, "benchmarks.limit", value=50, precision=0, minimum=0)
        parts["fewshot"] = labels.labelled(gr.Number, "benchmarks.fewshot", value=0, precision=0, minimum=0)
        parts["start"] = labels.button("benchmarks.start", variant="primary", elem_id="bench-start")
        parts["stop"] = labels.button("evaluate.stop", variant="stop", elem_id="bench-stop")
    parts["status"] = gr.Markdown(elem_id="bench-status")
    parts["table"] = gr.Dataframe(interactive=False, elem_id="bench-table")
    parts["timer"] = gr.Timer(POLL_S, active=False)
    labels.markdown("llm_judge.heading")
    with gr.Row():
        parts["url"] = labels.labelled(gr.Textbox, "llm_judge.url", placeholder="http://127.0.0.1:8000/v1")
        parts["model"] = labels.labelled(gr.Textbox, "llm_judge.model")
        parts["key_file"] = labels.labelled(gr.Textbox, "llm_judge.key_file")
    with gr.Row():
        parts["mode"] = labels.labelled(gr.Radio, "llm_judge.mode", choices=list(judge.MODES), value="pairwise")
        parts["rows"] = labels.labelled(gr.Number, "llm_judge.rows", value=20, precision=0, minimum=1)
        parts["max_tokens"] = labels.labelled(gr.Number, "llm_judge.max_tokens", value=256, precision=0, minimum=1)
    parts["prompt"] = labels.labelled(gr.Textbox, "llm_judge.prompt", value=judge.PAIRWISE_PROMPT, lines=8)
    parts["cost"] = gr.Markdown(elem_id="judge-cost")
    parts["judge"] = labels.button("llm_judge.start", elem_id="llm-judge-start")
    parts["verdicts"] = gr.Dataframe(interactive=False, wrap=True, elem_id="llm-judge-verdicts")
    parts["summary"] = gr.Markdown(elem_id="llm-judge-summary")
    return parts


# ---------------------------------------------------------------------------------------------------------
# Benchmarks


def start(run: str, english: list, chinese: list, local: list, limit, fewshot, lang: str) -> tuple:
    """Start the job (or say why not, in the page's language); the timer follows it."""
    if not run:
        return text("benchmarks.pick_run", lang), gr.Timer(active=False)
    tasks = [*english, *chinese, *(LOCAL_PREFIX + name for name in local)]
    plan = harness.BenchPlan(run, tasks, int(limit or 0), int(fewshot or 0))
    try:
        harness.start_job(plan)
    except (harness.BenchmarkError, DataError) as err:
        return text("benchmarks.refused", lang, error=err), gr.Timer(active=False)
    return text("benchmarks.started", lang), gr.Timer(active=True)


def stop(run: str, lang: str) -> str:
    if run:
        harness.stop_job(harness.job_folder(run))
    return text("benchmarks.stopped", lang)


def follow(run: str, lang: str) -> tuple:
    """The job's progress and its table; the timer stops once the job has ended."""
    if not run:
        return "", pd.DataFrame(), gr.Timer(active=False)
    folder = harness.job_folder(run)
    progress = harness.job_progress(folder)
    status = text(f"benchmarks.state_{progress['state']}", lang, **progress)
    if progress["state"] == "failed":
        log = Path(folder) / harness.LOG_FILE
        status += "\n\n```\n" + (log.read_text(encoding="utf-8")[-1500:] if log.exists() else "") + "\n```"
    return status, results_table(harness.read_results(folder), lang), gr.Timer(active=progress["state"] == "running")


def results_table(results: dict, lang: str) -> pd.DataFrame:
    """Task, metric, base ± stderr, tuned ± stderr, difference."""
    rows = [[row["task"], row["metric"], harness.with_stderr(row["base"], row["base_stderr"]),
             harness.with_stderr(row["tuned"], row["tuned_stderr"]), harness.signed(row["difference"])]
            for row in harness.side_by_side(results)]
    return pd.DataFrame(rows, columns=[text(f"benchmarks.column_{c}", lang) for c in
                                       ("task", "metric", "base", "tuned", "difference")])


# ---------------------------------------------------------------------------------------------------------
# Judge


def judged_rows(table: pd.DataFrame | None) -> list[dict]:
    """The comparison's rows (prompt, label, reply a, reply b, ...) as the judge reads them."""
    if table is None or len(table) == 0:
        return []
    return [{"prompt": row[0], "reply_a": row[2], "reply_b": row[3]} for row in table.itertuples(index=False)]


def cost(table, mode: str, prompt: str, rows, max_tokens, lang: str) -> str:
    plan = judge.JudgePlan(mode, prompt, int(rows or 1), int(max_tokens or 1))
    return text("llm_judge.cost", lang, cost=say("judge.cost", **judge.estimate_cost(plan, judged_rows(table))))


def run_judge(table, picked_a: str, url: str, model: str, key_file: str, mode: str, prompt: str, rows, max_tokens,
              lang: str):
    """Judge row by row, showing each verdict as it comes; the verdicts go to run A's folder when A is a run."""
    replies = judged_rows(table)
    if not replies:
        yield pd.DataFrame(), text("judge.nothing", lang)
        return
    plan = judge.JudgePlan(mode, prompt, int(rows or 1), int(max_tokens or 1))
    verdicts, shown = [], []
    try:
        endpoint = judge.Endpoint(url.strip(), model.strip(), judge.read_api_key(key_file.strip()))
        for verdict in judge.judge_rows(endpoint, plan, replies):
            verdicts.append(verdict)
            reasons = "\n---\n".join(verdict.reasons)
            shown.append([verdict.prompt, verdict.verdict, " / ".join(verdict.orders), reasons])
            yield pd.DataFrame(shown, columns=["prompt", "verdict", "orders", "reasons"]), ""
    except Exception as err:  # an unreachable endpoint, a refused key, a bad prompt: said, not raised
        yield pd.DataFrame(shown), text("llm_judge.failed", lang, error=err)
        return
    summary = judge.summarize(verdicts, mode)
    won = summary.get("win_rate") or summary.get("mean_scores") or say("judge.no_judged")
    if picked_a and picked_a != run_view.BASE and Path(picked_a).is_dir():
        judge.record_verdicts(Path(picked_a), verdicts, replies, Path(picked_a).name, "b", plan, endpoint)
    yield pd.DataFrame(shown, columns=["prompt", "verdict", "orders", "reasons"]), text(
        "llm_judge.result", lang, result=say("judge.result", judge=endpoint.model, rows=summary["rows"],
                                                   won=str(won), no_verdict=summary["no_verdict"]))


def wire_benchmarks_panel(parts: dict, compared: gr.Dataframe, picked_a: gr.Dropdown, lang: gr.Radio) -> None:
    chosen = [parts[name] for name in ("run", "english", "chinese", "local", "limit", "fewshot")]
    parts["start"].click(start, [*chosen, lang], [parts["status"], parts["timer"]])
    parts["stop"].click(stop, [parts["run"], lang], parts["status"])
    parts["timer"].tick(follow, [parts["run"], lang], [parts["status"], parts["table"], parts["timer"]])
    parts["run"].change(follow, [parts["run"], lang], [parts["status"], parts["table"], parts["timer"]])
    parts["mode"].change(lambda mode: judge.PROMPTS[mode], parts["mode"], parts["prompt"])
    costed = [compared, parts["mode"], parts["prompt"], parts["rows"], parts["max_tokens"], lang]
    for control in (compared, parts["mode"], parts["prompt"], parts["rows"], parts["max_tokens"]):
        control.change(cost, costed, parts["cost"])
    judged = [compared, picked_a, *(parts[n] for n in ("url", "model", "key_file", "mode", "prompt", "rows",
                                                        "max_tokens")), lang]
    parts["judge"].click(run_judge, judged, [parts["verdicts"], parts["summary"]])
