"""Experiments: comparing real runs of the built-in model, early stopping, resource events, TensorBoard files.

The runs train in this process through the worker's own entry (train_in_this_process): the same files a
queued run leaves, without a process to clean up.
"""
import json

import pytest
from safetensors.torch import load_file

from engine.cli import main
from engine.train.rules import validate
from engine.runs.compare import compare_runs, smooth
from engine.runs.events import peak_memory_mb, read_events
from engine.runs.files import TENSORBOARD_DIR
from engine.runs.store import create_run, summarize_run
from engine.runs.worker import train_in_this_process
from tests.conftest import short_run_config

LEARNING_RATES = (2e-3, 2e-4)


def experiment_config(learning_rate: float, max_steps: int, **evaluation):
    config = short_run_config(max_steps)
    config.data.cutoff_len = 64
    config.data.val_size = 0.25
    config.train.learning_rate = learning_rate
    config.eval.eval_steps = 2
    config.eval.per_device_eval_batch_size = 8
    for name, value in evaluation.items():
        setattr(config.eval, name, value)
    return config


def trained_run(config):
    run_dir = create_run(config)
    assert train_in_this_process(run_dir) == 0, f"the run failed: {read_events(run_dir)[-1]}"
    return run_dir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real runs that differ in their learning rate only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_SAVES_DIR", str(tmp_path_factory.mktemp("saves")))
        yield [trained_run(experiment_config(rate, max_steps=6)) for rate in LEARNING_RATES]


def test_compare_holds_both_curves_and_exactly_the_differing_fields(two_runs, capsys):
    comparison = compare_runs(two_runs)
    assert comparison.diff == {"train.learning_rate": list(LEARNING_RATES)}
    for run in comparison.runs:
        train = [p for p in comparison.curves if p.run == run and p.series == "train"]
        evals = [p for p in comparison.curves if p.run == run and p.series == "eval"]
        assert [p.x for p in train] == list(range(1, 7)) and [p.x for p in evals] == [2, 4, 6]
    metrics = comparison.metrics
    assert all(value is not None for key in ("train_loss", "eval_loss", "perplexity", "tokens_per_s",
                                             "peak_memory_mb", "wall_time_s", "trainable_params")
               for value in metrics[key])
    assert metrics["eval_loss"][0] < metrics["eval_loss"][1]  # the higher rate learned more in 6 steps
    by_tokens = compare_runs(two_runs, x="tokens").curves
    assert by_tokens and all(p.x > 0 for p in by_tokens)

    assert main(["compare", *map(str, two_runs), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["diff"] == {"train.learning_rate": list(LEARNING_RATES)}
    assert {(p["run"], p["series"]) for p in printed["curves"]} == {
        (run.name, series) for run in two_runs for series in ("train", "eval")}
    assert main(["compare", *map(str, two_runs)]) == 0
    assert "train.learning_rate" in capsys.readouterr().out


def test_resource_events_are_written_on_cpu(two_runs):
    events = read_events(two_runs[0])
    samples = [e for e in events if e["event"] == "resources"]
    assert len(samples) >= 6 and all(e["cpu_rss_mb"] > 0 and e["gpus"] == [] for e in samples)
    assert peak_memory_mb(events) >= max(e["cpu_rss_mb"] for e in samples)
    assert summarize_run(two_runs[0]).peak_memory_mb == peak_memory_mb(events)
    from webui.run_view import resource_curves

    memory, use = resource_curves(events, "zh")  # what the run view plots
    assert set(memory.series) == {"CPU 常驻内存"}
    assert list(memory.step) == list(dict.fromkeys(e["step"] for e in samples))  # a step's newest sample
    assert (memory.value > 0).all() and set(use.series) == {"CPU 使用率"}


def test_the_run_view_plots_memory_and_use_per_gpu():
    from webui.run_view import resource_curves
    from webui.tabs.train import _resources_update

    gpu = {"device": 0, "allocated_mb": 100.0, "reserved_mb": 150.0, "peak_mb": 120.0, "utilization": None}
    events = [{"event": "resources", "step": step, "cpu_rss_mb": 500.0, "cpu_percent": 90.0,
               "gpus": [gpu, {**gpu, "device": 1, "utilization": 75}]} for step in (1, 2)]
    memory, use = resource_curves(events, "en")
    assert len(memory) == 2 * 7 and set(memory[memory.step == 2].series) == {
        "CPU resident memory", "GPU0 allocated", "GPU0 reserved", "GPU0 peak", "GPU1 allocated", "GPU1 reserved",
        "GPU1 peak"}
    assert set(use.series) == {"CPU use", "GPU1 use"}  # GPU0's utilisation was not reported: no line for it
    shown = _resources_update(events, "en")
    assert shown["memory"]["visible"] and shown["use"]["visible"]
    assert not _resources_update([], "en")["memory"]["visible"]


def test_tensorboard_files_are_readable(two_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(two_runs[0] / TENSORBOARD_DIR))
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert "train/loss" in tags and "eval/loss" in tags
    assert [event.step for event in accumulator.Scalars("train/loss")] == list(range(1, 7))


def test_smoothing_is_an_unbiased_moving_average():
    assert smooth([4.0, 4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0, 4.0])
    assert smooth([1.0, 3.0], 0.0) == [1.0, 3.0]
    assert smooth([0.0, 10.0], 0.5) == pytest.approx([0.0, 10 * 0.5 / 0.75])


def test_keeping_the_best_needs_a_validation_split():
    config = experiment_config(2e-3, max_steps=4, early_stopping_patience=2)
    config.data.val_size = 0.0
    assert any("data.val_size" in problem for problem in validate(config))


def test_early_stopping_stops_a_diverging_run_and_keeps_the_best(studio_dirs):
    config = experiment_config(0.5, max_steps=40, early_stopping_patience=2)
    config.train.lr_scheduler_type = "constant"
    config.train.warmup_ratio = 0.0
    run_dir = trained_run(config)
    events = read_events(run_dir)
    final = events[-1]
    assert final["status"] == "completed" and final["early_stop_step"] < 40
    best = final["best_step"]
    evals = {e["step"]: e["eval_loss"] for e in events if e["event"] == "eval"}
    assert min(evals, key=evals.get) == best
    assert final["note"] == f"early stop at step {final['early_stop_step']}, best step {best}"
    kept = load_file(run_dir / f"checkpoint-{best}" / "adapter_model.safetensors")
    final_weights = load_file(run_dir / "final" / "adapter_model.safetensors")
    assert kept.keys() == final_weights.keys()
    assert all((kept[name] == final_weights[name]).all() for name in kept)


def test_compare_panel_draws_named_curves_and_the_diff(two_runs):
    import gradio as gr

    from webui.compare_panel import compare_view, redraw_in_language

    message, notes, figure, diff, metrics = compare_view([str(run) for run in two_runs], "step", 0.6, True, "zh")
    assert message == "" and notes == ""
    axes = figure.axes[0]
    assert axes.get_yscale() == "log"
    legend = [entry.get_text() for entry in axes.get_legend().get_texts()]
    assert legend == [f"{run.name} · {series}" for run in two_runs for series in ("训练", "验证")]
    assert diff.values.tolist() == [["train.learning_rate", "0.002", "0.0002"]]
    assert list(metrics.columns) == ["指标", *(run.name for run in two_runs)]
    assert compare_view([str(two_runs[0])], "step", 0.6, False, "en")[1:] == ("", None, None, None)
    # Switching the page to English redraws a shown comparison in English and leaves an empty panel alone.
    english = redraw_in_language([str(run) for run in two_runs], "step", 0.6, True, "en")
    assert list(english[4].columns) == ["metric", *(run.name for run in two_runs)]
    assert redraw_in_language([], "step", 0.6, True, "en") == (gr.skip(),) * 5


def test_a_tracker_that_is_not_installed_is_refused_plainly():
    import importlib.util

    from engine.runs.preflight import environment_problems

    config = experiment_config(2e-3, max_steps=4)
    missing = [name for name in ("wandb", "mlflow", "swanlab") if importlib.util.find_spec(name) is None]
    if not missing:
        pytest.skip("every tracker is installed here")
    config.train.report_to = missing[:1]
    problems = environment_problems(config)
    assert [problem.code for problem in problems] == ["train.tracker_missing"]
    assert f"pip install {missing[0]}" in problems[0]


def test_the_model_card_quotes_the_peak_memory(two_runs):
    from engine.export.model_card import render_model_card

    card = render_model_card(two_runs[0], "LoRA adapter", ["adapter_model.safetensors"])
    assert f"| peak memory (MB) | {peak_memory_mb(read_events(two_runs[0])):.4f} |" in card


def test_win_rate_and_its_interval_on_a_hand_made_file(tmp_path):
    from engine.use.judging import JUDGEMENTS_FILE, blind_pairs, read_judgements, record_judgement, win_rate

    verdicts = ["a"] * 6 + ["b"] * 2 + ["tie"] * 2
    lines = [json.dumps({"prompt": f"p{i}", "verdict": v}) for i, v in enumerate(verdicts)]
    (tmp_path / JUDGEMENTS_FILE).write_text("\n".join([*lines, '{"prompt": "cut'] ) + "\n", encoding="utf-8")
    result = win_rate(read_judgements(tmp_path))
    assert (result.wins, result.losses, result.ties, result.rate) == (6, 2, 2, 0.7)
    # Wilson 95% for 7 of 10: 0.3968 .. 0.8922
    assert (result.low, result.high) == (pytest.approx(0.3968, abs=1e-4), pytest.approx(0.8922, abs=1e-4))
    assert str(result) == "70% [40%–89%] (6 wins, 2 losses, 2 ties)"
    assert win_rate([]) is None

    rows = [{"prompt": f"q{i}", "prediction_a": f"A{i}", "prediction_b": f"B{i}"} for i in range(20)]
    pairs = blind_pairs(rows, seed=1)
    assert {pair.shown_first for pair in pairs} == {"a", "b"}  # the order really varies
    folder = tmp_path / "judged"
    folder.mkdir()
    for pair in pairs:  # the judge always picks the reply shown first
        record_judgement(folder, pair, "first", "tuned", "base")
    saved = read_judgements(folder)
    assert all(record["verdict"] == record["shown_first"] for record in saved)
    assert all(record["reply_a"].startswith("A") for record in saved)


def test_blind_judging_in_the_page_hides_the_order_and_ends_with_the_win_rate(two_runs):
    import pandas as pd

    from engine.use.judging import read_judgements
    from webui.judging_panel import judge, start_judging

    run = str(two_runs[0])
    table = pd.DataFrame([[f"prompt {i}", "label", f"base {i}", f"tuned {i}"] for i in range(3)],
                         columns=["prompt", "label", "a", "b"])
    state, *view = start_judging(table, "base", run, "en")  # the run is side B here: it is still the judged one
    for _ in range(3):
        shown_first = state["pairs"][state["index"]]["first"]
        state, *view = judge(state, "first" if shown_first.startswith("tuned") else "second", "en")
    assert view[0].startswith(f"**{two_runs[0].name}** against **base**: win rate 100%")
    saved = read_judgements(two_runs[0])
    assert [record["verdict"] for record in saved] == ["a", "a", "a"]
    assert all(record["reply_a"].startswith("tuned") for record in saved)
    assert compare_runs(two_runs).metrics["blind_win_rate"][0].startswith("100%")


def test_the_live_curve_marks_eval_points_in_both_languages(two_runs):
    from webui.run_view import curve_figure

    events = read_events(two_runs[0])
    evals = {e["step"]: e["eval_loss"] for e in events if e["event"] == "eval"}
    for lang, name, legend in (("en", "eval loss", "curve"), ("zh", "验证损失", "曲线")):
        axes = curve_figure(events, smoothing=0.6, lang=lang).axes[0]
        lines = {line.get_label(): line for line in axes.get_lines()}
        assert lines[name].get_marker() == "o" and list(lines[name].get_xdata()) == [2, 4, 6]
        assert list(lines[name].get_ydata()) == pytest.approx([evals[step] for step in (2, 4, 6)])
        assert len(lines) == 3 and axes.get_legend().get_title().get_text() == legend
        assert all(line.get_marker() in ("None", "", None) for label, line in lines.items() if label != name)
    first = [e for e in events if not (e["event"] in ("log", "eval") and e.get("step", 0) > 2)]
    one_point = {line.get_label(): line for line in curve_figure(first).axes[0].get_lines()}["eval loss"]
    assert list(one_point.get_xdata()) == [2] and one_point.get_marker() == "o"  # visible before a second eval
