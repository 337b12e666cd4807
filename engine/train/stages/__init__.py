"""Training stages as a table: each entry takes a RunContext and returns "completed" or "stopped"."""
from __future__ import annotations

from engine.config.schema import ConfigError, validate
from engine.train.trainer import RunContext
from engine.train.stages.grpo import run_grpo
from engine.train.stages.preference import run_dpo, run_kto, run_orpo, run_reward
from engine.train.stages.pretrain import run_pretrain
from engine.train.stages.sft import run_sft

STAGES = {
    "sft": run_sft,
    "pt": run_pretrain,
    "rm": run_reward,
    "dpo": run_dpo,
    "orpo": run_orpo,
    "kto": run_kto,
    "grpo": run_grpo,
}


def run_training(context: RunContext) -> str:
    problems = validate(context.config)
    if problems:
        raise ConfigError(problems)
    return STAGES[context.config.method.stage](context)
