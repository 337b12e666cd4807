"""Whether a run config can train: every rule in one place, pure (no files, packages or devices: those are
the preflight's, engine/runs/preflight.py). The UI's Start, the CLI, the queue and the worker all call
`validate`, so a config is judged the same wherever it comes from.

The rules are the config's own field rules, the combination rules of the chosen fine-tuning type (its
MethodSpec), and the chosen stage's rules (its StageSpec).
"""
from __future__ import annotations

from engine.config.schema import RunConfig, field_problems
from engine.messages import say
from engine.models.methods import METHODS
from engine.train import distributed
from engine.train.extra_args import extra_args_problems
from engine.train.speed import speed_problems
from engine.train.stages import STAGES


def validate(config: RunConfig) -> list[str]:
    """Every problem with `config` as a plain sentence naming the field and the fix; empty when usable."""
    problems = field_problems(config)
    if config.method.stage not in STAGES or config.method.finetuning_type not in METHODS:
        return problems  # the field rules named the unknown choice; the tables have nothing to say about it
    return (problems + method_problems(config) + eval_problems(config) + speed_problems(config)
            + STAGES[config.method.stage].rules(config)
            + distributed.config_problems(config) + extra_args_problems(config.train.extra_args))


def method_problems(config: RunConfig) -> list[str]:
    """Combinations of fine-tuning type, quantisation and stage that cannot work, said before the run starts
    rather than as a stack trace after."""
    method, model, problems = config.method, config.model, []
    spec, stage = METHODS[method.finetuning_type], STAGES[method.stage]
    if model.quantization != "none" and not spec.peft:
        problems.append(say("config.quantized_full", quantization=model.quantization,
                            finetuning_type=method.finetuning_type))
    if method.pissa_init and model.quantization != "none":
        problems.append(say("config.pissa_quantized"))
    if method.adapter_run and method.finetuning_type != "lora":
        problems.append(say("adapter.needs_lora"))
    if stage.reward_head and not spec.trains_head:
        heads = ", ".join(name for name, other in METHODS.items() if other.trains_head)
        problems.append(say("config.needs_head", stage=method.stage, methods=heads))
    return problems


def eval_problems(config: RunConfig) -> list[str]:
    """Keeping the best checkpoint (and early stopping) needs evaluations to judge checkpoints by."""
    evaluation = config.eval
    if (evaluation.early_stopping_patience or evaluation.load_best_model_at_end) and not config.data.val_size:
        return [say("config.best_needs_validation")]
    return []
