"""The Train tab's devices group and the run view's ranks, as plain functions (no browser, no training)."""
import json

from engine.config.schema import RunConfig
from engine.runs.launch import RANKS_DIR, write_rank_record
from engine.runs.store import create_run
from webui.devices_panel import devices_markdown, ranks_html
from webui.memory_panel import estimate_markdown
from webui.run_view import command_for, progress_html


def test_the_devices_line_says_what_this_cpu_machine_has_and_what_the_choice_means():
    line = devices_markdown({"distributed.processes_per_node": 2}, "en")
    assert "no GPU" in line and "world size 2; strategy **ddp**" in line
    refused = devices_markdown({"distributed.strategy": "zero3"}, "zh")
    assert "没有 GPU" in refused and "DeepSpeed，它只能在 GPU 上训练" in refused  # the refusal, in Chinese
    assert "--plan" in devices_markdown({"distributed.nodes": 2}, "en")


def test_the_run_view_shows_each_ranks_state(studio_dirs):
    run_dir = create_run(RunConfig())
    assert ranks_html(run_dir, "en") == ""  # one process: nothing to show
    write_rank_record(run_dir, 0, "completed")
    write_rank_record(run_dir, 1, "running")  # this test's own process: alive
    (run_dir / RANKS_DIR / "rank-2.json").write_text(json.dumps(
        {"rank": 2, "pid": 2**22 + 7, "host": __import__("os").uname().nodename, "status": "running"}))
    shown = ranks_html(run_dir, "en")
    assert "world size 3 · rank 0: completed · rank 1: running · rank 2: ended" in shown
    assert "world size 3" in progress_html(str(run_dir), "en")


def test_a_multi_node_run_shows_the_command_for_every_node(studio_dirs):
    single = create_run(RunConfig())
    assert command_for(str(single)) == f"python -m engine train {single / 'config.yaml'}"
    cluster = create_run(RunConfig().replace({"distributed.nodes": 2, "distributed.master_address": "10.0.0.9"}))
    lines = command_for(str(cluster)).splitlines()
    assert lines[0] == "# node 0" and "--node-rank=0" in lines[1] and "--master-addr=10.0.0.9" in lines[1]
    assert lines[2] == "# node 1" and "--node-rank=1" in lines[3]


def test_the_memory_panel_names_the_strategy_that_makes_a_big_run_fit():
    values = {"model.name_or_path": "Qwen/Qwen2.5-7B-Instruct", "model.dtype": "bfloat16",
              "method.finetuning_type": "full", "distributed.processes_per_node": 64,
              "train.per_device_train_batch_size": 1}
    shown = estimate_markdown(values, "en")
    assert "Spread over 64 processes it fits with strategy **" in shown
