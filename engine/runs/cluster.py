"""Several machines: the command each node runs, and a Slurm batch script, generated from the run config.

The studio's queue and worker live on one machine. On several, every node runs torchrun with the same run
folder (on a shared filesystem, or config.yaml copied to the same path on each), and torchrun starts that
node's ranks as `python -m engine rank RUN_DIR`; global rank 0 writes the events and the final save, as on one
machine. Node 0 may also be the studio itself: Start runs its part and waits for the others to join.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from engine.config.schema import RunConfig
from engine.paths import PROJECT_DIR
from engine.train import distributed

SLURM_FILE = "slurm.sbatch"


def torchrun_arguments(config: RunConfig) -> list[str]:
    """torchrun's options for this run, with the node rank left to the caller."""
    spread = config.distributed
    return [f"--nnodes={spread.nodes}", f"--nproc-per-node={distributed.processes_per_node(config)}",
            f"--master-addr={spread.master_address}", f"--master-port={spread.master_port}"]


def node_commands(config: RunConfig, run_dir: Path) -> list[str]:
    """The exact shell command for each node, node 0 first (torchrun's static rendezvous at node 0)."""
    entry = ["-m", "engine", "rank", str(run_dir)]
    return [
        f"cd {shlex.quote(str(PROJECT_DIR))} && "
        + shlex.join(["torchrun", *torchrun_arguments(config), f"--node-rank={node}", *entry])
        for node in range(config.distributed.nodes)
    ]


def slurm_script(config: RunConfig, run_dir: Path) -> str:
    """A batch script for `sbatch`: one task per node, each running torchrun; the nodes meet at the first
    node of the allocation (c10d rendezvous), which numbers them, so no task needs its own node rank."""
    spread, processes = config.distributed, distributed.processes_per_node(config)
    torchrun = shlex.join(["torchrun", f"--nnodes={spread.nodes}", f"--nproc-per-node={processes}",
                           "--rdzv-backend=c10d"])
    entry = shlex.join(["-m", "engine", "rank", str(run_dir)])
    return "\n".join([
        "#!/bin/bash",
        f"#SBATCH --job-name={run_dir.name}",
        f"#SBATCH --nodes={spread.nodes}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --gpus-per-node={processes}",
        f"#SBATCH --output={run_dir}/slurm-%j.log",
        "set -euo pipefail",
        f"cd {shlex.quote(str(PROJECT_DIR))}",
        "# Node 0 of the allocation coordinates; every node reaches it at this address.",
        'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
        f'srun {torchrun} --rdzv-endpoint="$MASTER_ADDR:{spread.master_port}" --rdzv-id="$SLURM_JOB_ID" {entry}',
        "",
    ])


def write_slurm_script(config: RunConfig, run_dir: Path) -> Path:
    path = Path(run_dir) / SLURM_FILE
    path.write_text(slurm_script(config, run_dir))
    return path
