"""Scored generation: files that grow while it runs, the CLI, and base-vs-tuned comparison on the same prompts."""
import json
import threading

import pytest

from engine.config.schema import RunConfig


def test_tasks_prompt_is_everything_before_the_last_reply(studio_dirs):
    from engine.use.predict import prediction_tasks

    tasks = prediction_tasks(["demo_sharegpt"], max_samples=3)
    assert len(tasks) == 3
    for task in tasks:
        assert task["messages"][-1]["role"] == "user"
        assert task["prompt"] == task["messages"][-1]["content"]
        assert task["label"]
    with pytest.raises(ValueError, match="held nothing out"):
        prediction_tasks(["demo_alpaca_en"], split="validation", val_size=0.0)
    held_out = prediction_tasks(["demo_alpaca_en"], split="validation", val_size=0.25)
    assert 0 < len(held_out) < len(prediction_tasks(["demo_alpaca_en"]))


def test_evaluation_streams_rows_and_metrics_into_the_run_dir(trained_run):
    from engine.use.evaluate import EvalPlan, stream_evaluation
    from engine.use.predict import METRICS_FILE, PREDICTIONS_FILE, read_predictions

    plan = EvalPlan(str(trained_run), max_samples=6, batch_size=2, max_new_tokens=12)
    seen = []
    for progress in stream_evaluation(plan):
        on_disk = json.loads((trained_run / METRICS_FILE).read_text())
        seen.append((progress.done, on_disk["done"], on_disk["complete"], len(read_predictions(trained_run))))
    # Loss first (0 rows), then every batch of 2, then the closing "complete" record.
    assert seen == [(0, 0, False, 0), (2, 2, False, 2), (4, 4, False, 4), (6, 6, False, 6), (6, 6, True, 6)]
    metrics = json.loads((trained_run / METRICS_FILE).read_text())
    assert metrics["datasets"] == ["demo_alpaca_en"] and metrics["total"] == 6
    assert metrics["eval_loss"] > 0 and metrics["perplexity"] > 1
    assert all(0 <= metrics[key] <= 100 for key in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"))
    rows = [json.loads(line) for line in (trained_run / PREDICTIONS_FILE).read_text().splitlines()]
    assert [sorted(row) for row in rows] == [["label", "prediction", "prompt", "scores"]] * 6


def test_stop_keeps_what_was_done(trained_run):
    from engine.use.evaluate import EvalPlan, stream_evaluation

    stop = threading.Event()
    progress = None
    for progress in stream_evaluation(EvalPlan(str(trained_run), max_samples=6, batch_size=2, max_new_tokens=4), stop):
        if progress.done == 2:
            stop.set()
    assert progress.done == 2 and not progress.complete
    assert json.loads((trained_run / "metrics.json").read_text())["complete"] is False


def test_cli_eval_loss_only_and_generate(trained_run, tmp_path, capsys):
    from engine.cli import main

    assert main(["eval", str(trained_run), "--max-samples", "3"]) == 0
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert "eval_loss" in metrics and "bleu-4" not in metrics and metrics["complete"]
    out = tmp_path / "base-eval"
    config = "examples/sft_lora_demo.yaml"  # a plain config: its base model is evaluated
    assert (
        main(["eval", config, "--max-samples", "3", "--generate", "--max-new-tokens", "4", "--output-dir", str(out)])
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "builtin:tiny-demo" and "rouge-l" in metrics and metrics["done"] == 3
    assert len((out / "generated_predictions.jsonl").read_text().splitlines()) == 3


def test_compare_base_and_tuned_on_the_same_prompts(trained_run):
    from engine.use.chat import load_base_for_chat, load_run_for_chat
    from engine.use.predict import prediction_tasks, stream_comparison

    tasks = prediction_tasks(["demo_alpaca_en"], max_samples=4)
    base = load_base_for_chat(RunConfig.load(trained_run / "config.yaml").model)
    tuned = load_run_for_chat(trained_run)
    steps = list(stream_comparison(base, tuned, tasks, max_new_tokens=12, batch_size=2))
    assert [step.done for step in steps] == [2, 4]
    final = steps[-1]
    assert [row["prompt"] for row in final.rows] == [task["prompt"] for task in tasks]
    assert len(final.table()[0]) == len(final.table_headers()) == 8
    for metric, delta in final.deltas.items():
        assert delta == pytest.approx(final.metrics_b[metric] - final.metrics_a[metric], abs=1e-3)
    # Greedy decoding: the same model twice gives the same replies and zero deltas.
    same = list(stream_comparison(tuned, tuned, tasks[:2], max_new_tokens=8))[-1]
    assert all(row["prediction_a"] == row["prediction_b"] for row in same.rows)
    assert set(same.deltas.values()) == {0.0}
