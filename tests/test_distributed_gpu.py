"""DeepSpeed ZeRO-2/3 (with and without offload) and FSDP on one GPU: each trains, is killed after a
checkpoint, resumes to the end, and reports its peak memory next to the estimate. Skipped without CUDA, and
the DeepSpeed cases without DeepSpeed.

Not yet run: no GPU machine was available while this was written (see README, "Training on several GPUs and
machines"). Run on a GPU machine with `python -m pytest -q -s tests/test_distributed_gpu.py`."""
import importlib.util
import os
import signal

import pytest
import torch

from conftest import short_run_config, wait_for
from engine.runs.events import read_events
from engine.runs.launch import rank_records
from engine.runs.scheduler import resume_run, submit
from engine.runs.process import launch_record
from engine.runs.store import newest_checkpoint
from engine.train.memory import estimate_memory

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
needs_deepspeed = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                                     reason="DeepSpeed is not installed")

CASES = [
    pytest.param("zero2", False, False, marks=needs_deepspeed, id="zero2"),
    pytest.param("zero2", True, False, marks=needs_deepspeed, id="zero2-offload"),
    pytest.param("zero3", False, False, marks=needs_deepspeed, id="zero3"),
    pytest.param("zero3", True, True, marks=needs_deepspeed, id="zero3-offload"),
    pytest.param("fsdp", False, False, id="fsdp"),
    pytest.param("fsdp", False, True, id="fsdp-offload"),
]


@pytest.mark.parametrize("strategy, offload_optimizer, offload_parameters", CASES)
def test_one_gpu_trains_and_resumes_with(started, strategy, offload_optimizer, offload_parameters):
    config = short_run_config(max_steps=60, save_steps=2)  # enough steps to be killed before the end
    config.model.dtype = "bfloat16"
    config.method.finetuning_type = "full"
    config.distributed.processes_per_node = 1
    config.distributed.strategy = strategy
    config.distributed.offload_optimizer = offload_optimizer
    config.distributed.offload_parameters = offload_parameters
    handle = submit(config)
    started.append(handle)
    wait_for(lambda: newest_checkpoint(handle.run_dir) is not None, timeout=600, poll=0.2)
    os.killpg(launch_record(handle.run_dir)["pgid"], signal.SIGKILL)
    wait_for(lambda: handle.status().startswith("failed"), timeout=60)
    from_step = int(newest_checkpoint(handle.run_dir).name.split("-")[1])

    resumed = resume_run(handle.run_dir)
    started.append(resumed)
    assert resumed.wait(timeout=600) == "completed"
    events = read_events(handle.run_dir)
    assert [e["from_step"] for e in events if e.get("status") == "resumed"] == [from_step]
    assert [e for e in events if e["event"] == "log"][-1]["step"] == 60
    assert [e["strategy"] for e in events if e["event"] == "start"][-1] == strategy
    (rank,) = rank_records(handle.run_dir)
    estimate = estimate_memory(config)
    print(f"{strategy} offload optimizer={offload_optimizer} parameters={offload_parameters}: "
          f"peak {rank['peak_memory_bytes'] / 2**20:.1f} MiB, estimate {estimate.total / 2**20:.1f} MiB "
          f"(+{estimate.offloaded / 2**20:.1f} MiB offloaded)")
