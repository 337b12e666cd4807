"""Training stages as a table: one `StageSpec` per stage; everything that depends on the stage reads it.

A stage's training is a function `run_x(context) -> "completed" | "stopped"` in engine/train/stages/; the
table names it ("<module>.<function>") rather than importing it, so the table can be read (by validation, the memory
estimate, the preflight, the UI) without loading every trainer, and the stage modules can use the shared
set-up in engine/train/trainer.py, which reads this table too (trainer.run_training dispatches).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from engine.config.schema import MethodConfig, RunConfig
from engine.messages import say


def _never(method: MethodConfig) -> bool:
    return False


def _one(config: RunConfig) -> int:
    return 1


def _no_rules(config: RunConfig) -> list[str]:
    return []


@dataclass(frozen=True)
class StageSpec:
    runner: str  # "<module>.<function>" in engine/train/stages/: the function that trains the stage
    data_kinds: tuple[str, ...]  # kinds of dataset it learns from (engine.data.formats FormatSpec.kind)
    reward_head: bool = False  # a one-score head on the body instead of the language-model head
    # Whether TRL compares against a frozen reference model: a second copy of the weights unless PEFT can
    # switch the adapter off instead.
    reference: Callable[[MethodConfig], bool] = _never
    # Training samples per dataset example (GRPO answers each prompt several times): the step count scales.
    samples_per_example: Callable[[RunConfig], int] = _one
    generates: bool = False  # writes answers while it trains: a key/value cache in the memory estimate
    fields: tuple[str, ...] = ()  # method.* fields it reads: shown in the Method tab
    rules: Callable[[RunConfig], list[str]] = _no_rules  # its own checks of a config, pure
    packing: bool = False  # several examples per row, isolated (engine/train/packing.py): speed.packing applies
    liger: bool = False  # a plain causal-LM loss that Liger's kernels may replace (speed.liger applies)


# ---------------------------------------------------------------------------------------------------------
# Stage rules (pure: no files, packages or devices; those are the preflight's, engine/runs/preflight.py)


def grpo_rules(config: RunConfig) -> list[str]:
    method, train, problems = config.method, config.train, []
    if not method.grpo_rewards:
        problems.append("method.grpo_rewards is empty; pick at least one reward, e.g. reference_rouge")
    # TRL scores each prompt's answers as one group, so every batch must hold whole groups.
    per_step = train.per_device_train_batch_size * train.gradient_accumulation_steps
    if per_step % method.grpo_num_generations:
        problems.append(
            f"train.per_device_train_batch_size × train.gradient_accumulation_steps ({per_step}) must be a multiple "
            f"of method.grpo_num_generations ({method.grpo_num_generations}): each prompt's answers are scored "
            "together in one batch"
        )
    if config.data.val_size and config.eval.per_device_eval_batch_size % method.grpo_num_generations:
        problems.append(
            f"eval.per_device_eval_batch_size ({config.eval.per_device_eval_batch_size}) must be a multiple of "
            f"method.grpo_num_generations ({method.grpo_num_generations}) when a validation split is held out"
        )
    if "format" in method.grpo_rewards:
        problems += _regex_problems(method.grpo_format_regex)
    return problems


def kto_rules(config: RunConfig) -> list[str]:
    # TRL's KTO estimates its KL term from each answer paired with another one of the same batch.
    return [say("stage.kto_batch")] if config.train.per_device_train_batch_size < 2 else []


def _regex_problems(pattern: str) -> list[str]:
    if not pattern:
        return ["method.grpo_format_regex is empty; the format reward needs the pattern a good answer matches"]
    try:
        re.compile(pattern)
    except re.error as err:
        return [f"method.grpo_format_regex is not a valid regular expression: {err}"]
    return []


# ---------------------------------------------------------------------------------------------------------
# The table

VISION_FIELDS = ("freeze_vision_tower", "freeze_projector")  # read only when the model reads images
PREFERENCE_FIELDS = ("pref_beta",)
GRPO_FIELDS = ("grpo_rewards", "grpo_num_generations", "grpo_max_new_tokens", "grpo_temperature", "grpo_kl_beta",
               "grpo_format_regex", "grpo_reward_run")

STAGES: dict[str, StageSpec] = {
    "sft": StageSpec(
        "sft.run_sft", data_kinds=("conversation", "vision"), fields=VISION_FIELDS, packing=True, liger=True
    ),
    "pt": StageSpec("pretrain.run_pretrain", data_kinds=("text",), liger=True),  # its blocks are full already
    "rm": StageSpec("preference.run_reward", data_kinds=("preference",), reward_head=True),
    "dpo": StageSpec(
        "preference.run_dpo",
        data_kinds=("preference",),
        fields=(*PREFERENCE_FIELDS, "pref_loss", "simpo_gamma"),
        reference=lambda method: method.pref_loss != "simpo",  # SimPO is reference-free
    ),
    "orpo": StageSpec("preference.run_orpo", data_kinds=("preference",), fields=PREFERENCE_FIELDS),
    "kto": StageSpec(
        "preference.run_kto", data_kinds=("kto", "preference"), fields=PREFERENCE_FIELDS, rules=kto_rules,
        reference=lambda method: True,
    ),
    "grpo": StageSpec(
        "grpo.run_grpo",
        data_kinds=("conversation",),
        fields=GRPO_FIELDS,
        generates=True,
        rules=grpo_rules,
        reference=lambda method: method.grpo_kl_beta > 0,
        # TRL's sampler repeats each prompt once per answer, and each generation batch once per accumulation step.
        samples_per_example=lambda config: (
            config.method.grpo_num_generations * config.train.gradient_accumulation_steps
        ),
    ),
}


def stage_of(config: RunConfig) -> StageSpec:
    return STAGES[config.method.stage]
