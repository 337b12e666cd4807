"""Two training processes on this CPU, for real: DDP over gloo through torch.distributed's elastic launcher
(torchrun's engine), started by the worker like any run. Each test ends every process it started.

Two ranks on two shared cores start slowly (each imports torch and transformers and loads the model): these
are marked slow, and each keeps to a few steps of 32 short examples."""
import os
import signal

import psutil
import pytest

from conftest import PROJECT, short_run_config, wait_for
from engine.config.schema import RunConfig
from engine.runs.events import EventLog, read_events
from engine.runs.launch import rank_records
from engine.runs.process import launch_record, process_group_members, reap_children
from engine.runs.scheduler import resume_run, start_run, stop_and_wait, submit
from engine.runs.store import create_run, newest_checkpoint
from engine.train.trainer import RunContext, run_training

pytestmark = pytest.mark.slow

# Losses agree to this relative tolerance between 1 process × batch 4 and 2 × batch 2: the same examples,
# float32 sums taken in another order (measured: within 2e-7 over the first 6 steps).
LOSSES_RTOL = 1e-5


def two_process_config(max_steps: int, save_steps: int = 1000, finetuning_type: str = "lora") -> RunConfig:
    config = short_run_config(max_steps, save_steps)
    config.method.finetuning_type = finetuning_type
    config.distributed.processes_per_node = 2
    return config


def logs(run_dir) -> list[dict]:
    return [e for e in read_events(run_dir) if e["event"] == "log"]


def rank_pids(run_dir) -> list[int]:
    return [record["pid"] for record in rank_records(run_dir)]


def no_process_left(run_dir, pids) -> bool:
    """Nothing in the worker's process group and no rank alive (the worker, our child, reaped first: it may
    still be on its way out when its run's final status is already readable)."""
    reap_children()
    return process_group_members(launch_record(run_dir)) == [] and not any(psutil.pid_exists(p) for p in pids)


# ---------------------------------------------------------------------------------------------------------


def test_two_processes_train_like_one_with_the_same_global_batch(started):
    """The shipped example on 2 processes (batch 2 each) against 1 process with batch 4, in this process: the
    global batch holds the same examples (accelerate hands out the sampler's batches in turn), and the loss
    is averaged over the tokens of both ranks, so every step's loss is the same."""
    config = RunConfig.load(PROJECT / "examples" / "sft_lora_ddp_cpu.yaml")
    config.data.val_size, config.data.max_samples, config.data.cutoff_len = 0.0, 32, 128
    config.train.max_steps, config.train.logging_steps, config.train.warmup_ratio = 6, 1, 0.0
    config.train.per_device_train_batch_size = 2
    config.speed.packing = "off"  # the same examples per step on both sides; packed rows would differ per rank
    handle = start_run(config)
    started.append(handle)
    assert handle.wait(timeout=900) == "completed"

    events = read_events(handle.run_dir)
    (start,) = [e for e in events if e["event"] == "start"]
    assert start["world_size"] == 2 and start["strategy"] == "ddp"
    two = [e["loss"] for e in logs(handle.run_dir)]
    assert [e["step"] for e in logs(handle.run_dir)] == [1, 2, 3, 4, 5, 6]  # one writer: no step twice
    assert min(two[-2:]) < two[0]
    assert [r["status"] for r in rank_records(handle.run_dir)] == ["completed", "completed"]
    assert (handle.run_dir / "final" / "adapter_model.safetensors").exists()
    assert (handle.run_dir / "final" / "tokenizer_config.json").exists()

    single = RunConfig.from_dict({**config.to_dict(), "distributed": {}})
    single.train.per_device_train_batch_size = 4
    single.train.run_name = "one-process"
    run_dir = create_run(single)
    assert run_training(RunContext(single, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    one = [e["loss"] for e in logs(run_dir)]
    print("2 processes:", two, "\n1 process:  ", one)
    assert two == pytest.approx(one, rel=LOSSES_RTOL)


def test_a_full_fine_tune_on_two_processes_completes(started):
    handle = submit(two_process_config(4, finetuning_type="full"))
    started.append(handle)
    assert handle.wait(timeout=900) == "completed"
    losses = [e["loss"] for e in logs(handle.run_dir)]
    assert len(losses) == 4 and min(losses[1:]) < losses[0]
    assert (handle.run_dir / "final" / "model.safetensors").exists()


def test_stop_ends_both_ranks_and_resume_finishes_the_run(started):
    handle = submit(two_process_config(60, save_steps=1000))
    started.append(handle)
    wait_for(lambda: len(logs(handle.run_dir)) >= 2, timeout=900, poll=0.2)
    pids = rank_pids(handle.run_dir)
    assert len(pids) == 2
    assert stop_and_wait(handle.run_dir) == "stopped"
    wait_for(lambda: no_process_left(handle.run_dir, pids), timeout=30)
    assert [r["status"] for r in rank_records(handle.run_dir)] == ["stopped", "stopped"]
    checkpoint = newest_checkpoint(handle.run_dir)
    stopped_at = logs(handle.run_dir)[-1]["step"]
    assert checkpoint is not None and checkpoint.name == f"checkpoint-{stopped_at}" and stopped_at < 60

    resumed = resume_run(handle.run_dir)
    started.append(resumed)
    assert resumed.wait(timeout=900) == "completed"
    after = read_events(handle.run_dir)
    resume_at = max(i for i, e in enumerate(after) if e.get("status") == "resumed")
    steps = [e["step"] for e in after[resume_at:] if e["event"] == "log"]
    assert after[resume_at]["from_step"] == stopped_at and steps[0] == stopped_at + 1 and steps[-1] == 60
    assert (handle.run_dir / "final" / "adapter_model.safetensors").exists()


def test_a_killed_rank_fails_the_run_naming_it_and_leaves_nothing_behind(started):
    handle = submit(two_process_config(400))
    started.append(handle)
    wait_for(lambda: len(logs(handle.run_dir)) >= 2, timeout=900, poll=0.2)
    pids = rank_pids(handle.run_dir)
    victim = next(r for r in rank_records(handle.run_dir) if r["rank"] == 1)
    os.kill(victim["pid"], signal.SIGKILL)
    assert handle.wait(timeout=120) == "failed (killed)"
    wait_for(lambda: no_process_left(handle.run_dir, pids), timeout=30)
    status = read_events(handle.run_dir)[-1]
    assert status["status"] == "failed" and status["rank"] == 1
    assert status["error"].startswith("rank 1 of 2 failed") and "SIGKILL" in status["error"]
    assert "Resume continues from the last checkpoint" in status["advice"]
    assert {r["rank"]: r["status"] for r in rank_records(handle.run_dir)}[1] == "failed"


def test_an_error_in_the_ranks_fails_the_run_with_that_error(started, tiny_model, tmp_path):
    """Weights that only the ranks read (the preflight checks the config, data and disk, not the weights)."""
    import re
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").write_bytes(b"these are not weights")
    config = two_process_config(4)
    config.model.name_or_path = str(broken)
    handle = submit(config)
    started.append(handle)
    assert handle.wait(timeout=900) == "failed"
    status = read_events(handle.run_dir)[-1]
    assert re.match(r"rank [01] of 2 failed, so the run was stopped on every rank: \w+", status["error"]), status
    assert "train.log" in status["advice"]
    assert "failed" in [r["status"] for r in rank_records(handle.run_dir)]


def test_the_printed_node_command_trains_as_printed(studio_dirs, tiny_model):
    """What a cluster node runs (`torchrun ... -m engine rank RUN`), here as a cluster of one node with two
    processes: global rank 0 writes the statuses itself, as there is no worker."""
    import socket
    import subprocess

    from engine.runs.cluster import node_commands

    config = two_process_config(3)
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        config.distributed.master_port = probe.getsockname()[1]
    run_dir = create_run(config)
    (command,) = node_commands(config, run_dir)
    node = subprocess.Popen(["bash", "-c", command], start_new_session=True)
    try:
        assert node.wait(timeout=900) == 0
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
    statuses = [e["status"] for e in read_events(run_dir) if e["event"] == "status"]
    assert statuses == ["running", "completed"]
    assert [e["step"] for e in logs(run_dir)] == [1, 2, 3]
    assert (run_dir / "final" / "adapter_model.safetensors").exists()
