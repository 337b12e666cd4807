"""Training stages as a table: each entry takes a RunContext and returns "completed" or "stopped"."""
from __future__ import annotations

from ..config import ConfigError, validate
from ..training import RunContext
from .sft import run_sft

STAGES = {"sft": run_sft}


def run_training(context: RunContext) -> str:
    problems = validate(context.config)
    if problems:
        raise ConfigError(problems)
    return STAGES[context.config.method.stage](context)
