"""Command line: the same runs as the web UI, without it.

  python -m engine train CONFIG.yaml [key=value ...] [--detach]
                                                  queue a run (it starts when the machine is free) and follow it;
                                                  a LLaMA-Factory YAML is converted first (a merge YAML exports)
  python -m engine train CONFIG.yaml --plan       several machines: create the run folder, print each node's
                                                  torchrun command and write a Slurm script; start nothing
  python -m engine convert LF.yaml                write a LLaMA-Factory YAML's studio config beside it, no run
  python -m engine resume RUN_DIR [--detach]      continue a stopped or failed run from its last checkpoint
  python -m engine stop RUN_DIR [--grace S]       stop a run (cancel it if queued) and wait until it has ended
  python -m engine runs [--tag T] [--search S] [--all]
                                                  list runs (archived ones with --all)
  python -m engine runs note RUN "TEXT"           the run's note ("" clears it)
  python -m engine runs tag RUN "a, b"            set the run's tags ("" clears them)
  python -m engine runs archive|unarchive RUN     hide a run from the list (files kept), or show it again
  python -m engine runs delete RUN [--yes]        delete a run that is not queued or training (asks first)
  python -m engine compare RUN RUN [RUN...] [--x tokens] [--json]
                                                  curves, differing config fields and final metrics of 2–6 runs
  python -m engine worker RUN_DIR                 the training process itself (the queue starts it)
  python -m engine standby                        a worker that imports first and reads its run folder from stdin
  python -m engine rank RUN_DIR [--resume-from C] one rank of a multi-process run (torchrun starts it on each node)
  python -m engine chat RUN_DIR|MODEL             chat in the terminal
  python -m engine export RUN_DIR [--name NAME] [--gguf f16,q4_k_m] [--adapter-only]
                                                  merge and save a standalone model (or the adapter)
  python -m engine eval|evaluate CONFIG|RUN_DIR [--dataset NAME] [--max-samples N] [--generate]
                                                  loss, perplexity; with --generate BLEU-4 / ROUGE
  python -m engine serve TARGET... [--host H] [--port P] [--api-key-file FILE] [--backend B]
                                                  an OpenAI-compatible API for run folders (adapters of one
                                                  base, each a model id), an export, a .gguf file or a model;
                                                  off loopback a key (FILE or STUDIO_API_KEY) is required
  python -m engine data check PATH|NAME [--format F] [--cutoff-len N]
                                                  check a dataset file (or a registered dataset)
  python -m engine data fill NAME --set K=V --as NEW
                                                  register a copy of a dataset with its {{name}} placeholders filled in
  python -m engine bench TARGET --tasks T[,T...] [--limit N] [--num-fewshot K]
                                                  lm-evaluation-harness tasks on a run's result and its base
  python -m engine judge A B --data NAME --judge URL [--mode pairwise|rubric]
                                                  an OpenAI-compatible model judges A's and B's replies
  python -m engine env | version                  library versions and devices (for a bug report) | the studio's
  python -m engine webui | webchat | api          llamafactory-cli's commands: say what to use here

A LLaMA-Factory YAML works wherever a config does (train, chat, export, eval), with key=value overrides after it:
  python -m engine train qwen3_lora_sft.yaml learning_rate=1e-4 train.max_steps=50
"""
from __future__ import annotations

import argparse
import os
import sys

from engine.cli import about, benchmarks, data, processes, runs, serve, training, use


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Finetune Studio engine")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (training, runs, processes, use, serve, data, benchmarks, about):  # in this order in --help
        group.add_parsers(commands)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # `python -m engine data check x | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


COMMANDS = {
    "train": training.command_train,
    "convert": training.command_convert,
    "resume": training.command_resume,
    "stop": training.command_stop,
    "worker": processes.command_worker,
    "standby": processes.command_standby,
    "rank": processes.command_rank,
    "runs": runs.command_runs,
    "compare": runs.command_compare,
    "chat": use.command_chat,
    "export": use.command_export,
    "eval": use.command_eval,
    "evaluate": use.command_eval,
    "serve": serve.command_serve,
    "data": data.command_data,
    "bench": benchmarks.command_bench,
    "judge": benchmarks.command_judge,
    "env": about.command_env,
    "version": about.command_version,
    **{name: about.command_pointer for name in about.POINTERS},
}
