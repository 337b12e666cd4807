"""Benchmarks and judges on the command line.

  python -m engine bench TARGET --tasks mmlu,local:demo_quick_quiz [--limit N] [--num-fewshot K] [--no-base]
  python -m engine judge A B --data DATASET --judge URL [--judge-model M] [--key-file F] [--mode pairwise|rubric]
"""
from __future__ import annotations

import sys
from pathlib import Path

from engine.paths import CONFIG_FILE


def add_parsers(commands) -> None:
    bench = commands.add_parser("bench", help="score a run (and its base) on lm-evaluation-harness tasks")
    bench.add_argument("target", help="a run directory, or a base model (builtin:tiny-demo, Hub id, folder)")
    bench.add_argument("--tasks", action="append", required=True,
                       help="lm-eval task names, comma-separated (mmlu, ceval-valid, ...) or local:<dataset>")
    bench.add_argument("--limit", type=int, default=0, help="examples per task (0 = all)")
    bench.add_argument("--num-fewshot", type=int, default=0)
    bench.add_argument("--batch-size", type=int, default=8)
    bench.add_argument("--no-base", action="store_true", help="score only the run's result, not its base")
    judge = commands.add_parser("judge", help="have an OpenAI-compatible model judge two models' replies")
    judge.add_argument("a", help="model A: a run directory or a base model")
    judge.add_argument("b", help="model B: a run directory or a base model")
    judge.add_argument("--data", required=True, help="registered dataset whose prompts both models answer")
    judge.add_argument("--judge", required=True, help="the judge's base URL, e.g. https://api.deepseek.com/v1")
    judge.add_argument("--judge-model", default="", help="the judge model's name (default: the server's first)")
    judge.add_argument("--key-file", default="", help="a file holding the API key (default: $JUDGE_API_KEY)")
    judge.add_argument("--mode", default="pairwise", choices=("pairwise", "rubric"))
    judge.add_argument("--prompt-file", default="", help="the judge prompt to use instead of the default")
    judge.add_argument("--rows", type=int, default=20, help="prompts to judge, at most")
    judge.add_argument("--max-tokens", type=int, default=256, help="per judge reply, at most")
    judge.add_argument("--max-new-tokens", type=int, default=128, help="per reply of A and B")


def command_bench(args) -> int:
    from engine.benchmarks.harness import BenchmarkError, BenchPlan, render_table, run_benchmark
    from engine.data.registry import DataError

    tasks = [name.strip() for group in args.tasks for name in group.split(",") if name.strip()]
    plan = BenchPlan(args.target, tasks, args.limit, args.num_fewshot, args.batch_size, not args.no_base)
    try:
        results = run_benchmark(plan)
    except (BenchmarkError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(render_table(results))
    return 0


def command_judge(args) -> int:
    from engine.benchmarks.judge import (
        Endpoint, JudgeError, JudgePlan, check_plan, estimate_cost, judge_rows, read_api_key, record_verdicts,
        summarize,
    )
    from engine.messages import say

    prompt = Path(args.prompt_file).read_text(encoding="utf-8") if args.prompt_file else ""
    plan = JudgePlan(args.mode, prompt, args.rows, args.max_tokens)
    endpoint = Endpoint(args.judge, args.judge_model, read_api_key(args.key_file))
    try:
        check_plan(plan)
        rows, label_a, label_b = replies_of(args.a, args.b, args.data, args.rows, args.max_new_tokens)
        print(say("judge.cost", **estimate_cost(plan, rows)))
        verdicts = []
        for verdict in judge_rows(endpoint, plan, rows):
            verdicts.append(verdict)
            print(f"[{len(verdicts)}] {verdict.verdict:5} {verdict.orders}  {verdict.prompt[:60]}")
    except JudgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = summarize(verdicts, plan.mode)
    won = summary.get("win_rate") or summary.get("mean_scores") or say("judge.no_judged")
    print(say("judge.result", judge=endpoint.model, rows=summary["rows"], won=str(won),
              no_verdict=summary["no_verdict"]))
    if (Path(args.a) / CONFIG_FILE).exists():
        print(record_verdicts(Path(args.a), verdicts, rows, label_a, label_b, plan, endpoint))
    return 0


def replies_of(a: str, b: str, dataset: str, rows: int, max_new_tokens: int) -> tuple[list[dict], str, str]:
    """Both models' greedy replies to the dataset's first `rows` prompts."""
    from engine.use.evaluate import load_source
    from engine.use.predict import prediction_tasks, stream_comparison

    chat_a, chat_b = load_source(a), load_source(b)
    comparison = None
    for comparison in stream_comparison(chat_a, chat_b, prediction_tasks([dataset], rows), max_new_tokens):
        pass
    paired = [{"prompt": row["prompt"], "reply_a": row["prediction_a"], "reply_b": row["prediction_b"]}
              for row in comparison.rows] if comparison else []
    return paired, chat_a.label, chat_b.label
