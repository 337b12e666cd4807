"""The commands that are a training process themselves: worker and standby (the queue starts them), rank (torchrun)."""
from __future__ import annotations

from pathlib import Path


def add_parsers(commands) -> None:
    worker = commands.add_parser("worker", help="train a run folder in this process (the queue starts this)")
    worker.add_argument("run_dir")
    commands.add_parser("standby", help="a worker started ahead of a run (the web UI keeps one): imports, then "
                                        "trains the run folder named on its stdin")
    rank = commands.add_parser("rank", help="one rank of a run started by torchrun (each node of a cluster)")
    rank.add_argument("run_dir")
    rank.add_argument("--resume-from", default=None, help="a checkpoint folder of the run to continue from")


def command_worker(args) -> int:
    from engine.runs.worker import train_in_this_process

    return train_in_this_process(Path(args.run_dir))


def command_standby(args) -> int:
    from engine.runs.worker import train_when_handed_a_run

    return train_when_handed_a_run()


def command_rank(args) -> int:
    from engine.runs.launch import train_rank

    train_rank(args.run_dir, args.resume_from, True)
    return 0
