"""Several processes and machines, without training: the config's rules, what this machine refuses, the
DeepSpeed and FSDP configs, the memory each strategy leaves per device, and the commands for a cluster."""
import json
import shlex
import subprocess
import sys

import pytest

from conftest import PROJECT
from engine.config.schema import RunConfig
from engine.runs.cluster import node_commands, slurm_script
from engine.runs.failures import Failure
from engine.runs.launch import root_cause
from engine.runs.preflight import distributed_problems
from engine.train import distributed
from engine.train.memory import GIB, estimate_memory, shard_memory, strategy_that_fits
from engine.train.rules import validate


def config_with(**values) -> RunConfig:
    return RunConfig().replace(values)


# ---------------------------------------------------------------------------------------------------------
# The config


def test_the_distributed_section_defaults_to_one_plain_process_on_this_cpu():
    config = RunConfig()
    assert config.distributed.processes_per_node == 0 and config.distributed.strategy == "auto"
    assert distributed.processes_per_node(config) == 1  # no GPU here
    assert distributed.strategy(config) == "single" and not distributed.needs_launcher(config)
    two = config_with(**{"distributed.processes_per_node": 2})
    assert distributed.world_size(two) == 2 and distributed.strategy(two) == "ddp" and distributed.needs_launcher(two)
    # a sharding engine needs a process group even for one process
    assert distributed.needs_launcher(config_with(**{"distributed.strategy": "zero3"}))


def test_a_config_without_the_section_reads_as_one_process():
    raw = RunConfig().to_dict()
    del raw["distributed"]
    assert RunConfig.from_dict(raw).distributed.processes_per_node == 0


@pytest.mark.parametrize("values, expected", [
    ({"distributed.nodes": 2, "distributed.node_rank": 2},
     "distributed.node_rank (2) must be below distributed.nodes (2)"),
    ({"distributed.nodes": 2, "distributed.master_address": " "}, "distributed.master_address is empty"),
    ({"distributed.strategy": "zero2", "distributed.offload_parameters": True}, "pick strategy zero3 or fsdp"),
    ({"distributed.strategy": "fsdp", "distributed.offload_optimizer": True}, "pick strategy zero2 or zero3"),
    ({"distributed.strategy": "zero3", "model.quantization": "4bit"}, "the quantised weights cannot be sharded"),
    ({"distributed.strategy": "mirrored"}, "distributed.strategy must be one of auto, ddp, fsdp, zero2, zero3"),
    ({"distributed.master_port": 80}, "distributed.master_port must be ≥ 1024"),
])
def test_impossible_combinations_are_refused_with_the_field_and_the_fix(values, expected):
    problems = validate(config_with(**values))
    assert any(expected in problem for problem in problems), problems


def test_possible_combinations_pass():
    for values in ({"distributed.strategy": "zero3", "distributed.offload_parameters": True,
                    "distributed.offload_optimizer": True},
                   {"distributed.strategy": "zero2", "model.quantization": "4bit"},
                   {"distributed.nodes": 4, "distributed.node_rank": 3, "distributed.master_address": "10.0.0.1"}):
        assert validate(config_with(**values)) == []


def test_this_cpu_machine_says_what_it_cannot_run():
    """DDP over gloo runs on CPUs (a process per core); DeepSpeed and (through accelerate) FSDP need GPUs."""
    assert distributed_problems(config_with(**{"distributed.processes_per_node": 2})) == []
    (problem,) = distributed_problems(config_with(**{"distributed.processes_per_node": 64}))
    assert "64 processes asked on a machine without a GPU" in problem
    (problem,) = distributed_problems(config_with(**{"distributed.strategy": "zero2"}))
    assert problem.code == "distributed.deepspeed_needs_gpu" and "pick ddp" in problem
    # accelerate turns FSDP on for accelerators only: on a CPU it would quietly be DDP
    (problem,) = distributed_problems(config_with(**{"distributed.strategy": "fsdp"}))
    assert problem.code == "distributed.fsdp_needs_gpu"


# ---------------------------------------------------------------------------------------------------------
# Engine configs


def test_deepspeed_config_follows_the_run_config():
    zero2 = distributed.deepspeed_config(config_with(**{"distributed.strategy": "zero2",
                                                        "distributed.offload_optimizer": True}), "bf16")
    assert zero2["zero_optimization"]["stage"] == 2
    assert zero2["zero_optimization"]["offload_optimizer"] == {"device": "cpu", "pin_memory": True}
    assert "offload_param" not in zero2["zero_optimization"]
    assert zero2["bf16"] == {"enabled": True} and zero2["fp16"] == {"enabled": False}
    assert zero2["train_micro_batch_size_per_gpu"] == "auto"  # the Trainer fills it from the same config

    zero3 = distributed.deepspeed_config(config_with(**{"distributed.strategy": "zero3",
                                                        "distributed.offload_parameters": True}), None)
    section = zero3["zero_optimization"]
    assert section["stage"] == 3 and section["offload_param"]["device"] == "cpu"
    assert "offload_optimizer" not in section and section["stage3_gather_16bit_weights_on_model_save"] is True
    assert zero3["bf16"] == {"enabled": False}


def test_deepspeed_config_is_written_into_the_run_folder(tmp_path):
    config = config_with(**{"distributed.strategy": "zero3"})
    options = distributed.training_options(config, tmp_path)
    assert options == {"deepspeed": str(tmp_path / distributed.DEEPSPEED_FILE)}
    written = json.loads((tmp_path / distributed.DEEPSPEED_FILE).read_text())
    assert written == distributed.deepspeed_config(config, distributed.mixed_precision(config))


def test_fsdp_wraps_the_models_decoder_layer(tmp_path, tiny_model):
    config = config_with(**{"distributed.strategy": "fsdp", "distributed.offload_parameters": True})
    options = distributed.training_options(config, tmp_path)
    assert options["fsdp"] is True
    assert options["fsdp_config"]["transformer_layer_cls_to_wrap"] == ["LlamaDecoderLayer"]
    assert options["fsdp_config"]["cpu_offload"] is True
    assert json.loads((tmp_path / distributed.FSDP_FILE).read_text()) == options["fsdp_config"]


def test_ddp_on_the_cpu_talks_over_gloo(tmp_path):
    assert distributed.training_options(config_with(**{"distributed.processes_per_node": 2}), tmp_path) == {
        "ddp_backend": "gloo"}


# ---------------------------------------------------------------------------------------------------------
# Memory per device


def seven_b_full(**values) -> RunConfig:
    return config_with(**{"model.name_or_path": "Qwen/Qwen2.5-7B-Instruct", "model.dtype": "bfloat16",
                          "method.finetuning_type": "full", **values})


def test_zero3_on_four_devices_divides_weights_gradients_and_optimizer_by_four():
    one = estimate_memory(seven_b_full())
    four = estimate_memory(seven_b_full(**{"distributed.processes_per_node": 4, "distributed.strategy": "zero3"}))
    for part in ("weights", "gradients", "optimizer"):
        assert getattr(four, part) == pytest.approx(getattr(one, part) / 4)
    assert four.activations == one.activations  # each device still runs its own batch
    fsdp = estimate_memory(seven_b_full(**{"distributed.processes_per_node": 4, "distributed.strategy": "fsdp"}))
    assert fsdp.total == pytest.approx(four.total)


def test_ddp_keeps_everything_and_zero2_shards_gradients_and_optimizer_only():
    one = estimate_memory(seven_b_full())
    ddp = estimate_memory(seven_b_full(**{"distributed.processes_per_node": 2}))
    assert ddp.total == pytest.approx(one.total)
    zero2 = estimate_memory(seven_b_full(**{"distributed.processes_per_node": 2, "distributed.strategy": "zero2"}))
    assert zero2.weights == one.weights
    assert zero2.gradients == pytest.approx(one.gradients / 2) and zero2.optimizer == pytest.approx(one.optimizer / 2)


def test_offload_moves_parts_into_the_machines_memory():
    one = estimate_memory(seven_b_full())
    zero3 = shard_memory(one, "zero3", 4, offload_optimizer=True, offload_parameters=True)
    assert zero3.weights == 0 and zero3.optimizer == 0 and zero3.gradients == pytest.approx(one.gradients / 4)
    assert zero3.offloaded == pytest.approx((one.weights + one.optimizer) / 4)
    assert ("offloaded", zero3.offloaded / GIB) in zero3.table()
    fsdp = shard_memory(one, "fsdp", 2, offload_parameters=True)
    assert fsdp.weights == fsdp.gradients == fsdp.optimizer == 0
    assert fsdp.total == pytest.approx(one.activations)


def test_the_fastest_strategy_that_fits_is_named():
    """A full 7B fine-tune (14 GiB of bf16 weights, 64 GiB in all) on 8 devices of 48 GiB, then of 24 GiB."""
    eight = seven_b_full(**{"distributed.processes_per_node": 8, "train.per_device_train_batch_size": 1,
                            "data.cutoff_len": 1024})
    assert estimate_memory(eight).total > 48 * GIB * 0.85  # DDP does not fit
    assert strategy_that_fits(eight, 48 * GIB) == ("zero2", False, False)
    assert strategy_that_fits(eight, 24 * GIB)[0] == "zero3"
    assert strategy_that_fits(eight, 1 * GIB) is None


# ---------------------------------------------------------------------------------------------------------
# Several machines


def cluster_config() -> RunConfig:
    return config_with(**{"distributed.nodes": 2, "distributed.processes_per_node": 8,
                          "distributed.master_address": "10.1.2.3", "distributed.master_port": 29511})


def test_each_node_gets_its_torchrun_command(tmp_path):
    commands = node_commands(cluster_config(), tmp_path / "run")
    assert len(commands) == 2
    for node, command in enumerate(commands):
        cd, torchrun = command.split(" && ")
        assert cd == f"cd {shlex.quote(str(PROJECT))}"
        assert shlex.split(torchrun) == [
            "torchrun", "--nnodes=2", "--nproc-per-node=8", "--master-addr=10.1.2.3", "--master-port=29511",
            f"--node-rank={node}", "-m", "engine", "rank", str(tmp_path / "run")]


def test_the_slurm_script_runs_torchrun_once_per_node(tmp_path):
    script = slurm_script(cluster_config(), tmp_path / "run")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    for directive in ("--job-name=run", "--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=8"):
        assert f"#SBATCH {directive}" in lines
    (srun,) = [line for line in lines if line.startswith("srun ")]
    assert shlex.split(srun) == [
        "srun", "torchrun", "--nnodes=2", "--nproc-per-node=8", "--rdzv-backend=c10d",
        "--rdzv-endpoint=$MASTER_ADDR:29511", "--rdzv-id=$SLURM_JOB_ID", "-m", "engine", "rank",
        str(tmp_path / "run")]
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0  # valid shell


def test_train_plan_prints_the_node_commands_and_writes_the_slurm_script(data_dirs):
    path = data_dirs / "cluster.yaml"
    cluster_config().save(path)
    result = subprocess.run([sys.executable, "-m", "engine", "train", str(path), "--plan"], cwd=PROJECT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    run_dir = next((data_dirs / "saves").glob("*/*/*/config.yaml")).parent
    assert f"run folder: {run_dir}" in result.stdout
    assert "--node-rank=0" in result.stdout and "--node-rank=1" in result.stdout
    assert f"sbatch {run_dir / 'slurm.sbatch'}" in result.stdout
    assert (run_dir / "slurm.sbatch").read_text() == slurm_script(cluster_config(), run_dir)
    assert not (run_dir / "events.jsonl").exists()  # nothing started


# ---------------------------------------------------------------------------------------------------------
# Which rank brought a run down


def test_the_rank_killed_from_outside_is_named_over_the_ranks_that_lost_it():
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    killed = ProcessFailure(local_rank=1, pid=11, exitcode=-9, error_file="")
    lost_peer = ProcessFailure(local_rank=0, pid=10, exitcode=1, error_file="")
    lost_peer.message = "RuntimeError: [gloo] Connection closed by peer"
    rank, failure = root_cause({0: lost_peer, 1: killed})
    assert rank == 1 and failure.reason == "killed" and "SIGKILL" in failure.message
    # the launcher reads an error file as {"message": text, "extraInfo": ...}
    own_error = ProcessFailure(local_rank=1, pid=11, exitcode=1, error_file="")
    own_error.message = {"message": "DataError: dataset 'x' is not in dataset_info.json", "extraInfo": {}}
    assert root_cause({0: lost_peer, 1: own_error}) == (1, Failure(None, own_error.message["message"]))
