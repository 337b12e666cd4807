"""`train.extra_args`: more Hugging Face TrainingArguments than the form has fields for (LlamaBoard's "extra
arguments" box), as a JSON or YAML mapping.

Every key is checked before Start: it must be a TrainingArguments option, and not one the studio sets from
its own fields (that field is named instead) or for itself (the run folder, the CPU switch, the logging the
run view reads). The values are then tried on a TrainingArguments, so a wrong one is refused in its words
before the run is queued rather than after the model has loaded.
"""
from __future__ import annotations

import dataclasses
import difflib
from functools import lru_cache

import yaml

from engine.messages import Message, say

MAX_CHARS = 20_000  # a handful of options; anything far longer is not what this box is for

# TrainingArguments options that one of the studio's fields sets.
FIELD_OF = {
    "num_train_epochs": "train.num_train_epochs", "max_steps": "train.max_steps",
    "learning_rate": "train.learning_rate", "per_device_train_batch_size": "train.per_device_train_batch_size",
    "gradient_accumulation_steps": "train.gradient_accumulation_steps",
    "lr_scheduler_type": "train.lr_scheduler_type", "warmup_steps": "train.warmup_ratio",
    "warmup_ratio": "train.warmup_ratio", "weight_decay": "train.weight_decay",
    "max_grad_norm": "train.max_grad_norm", "logging_steps": "train.logging_steps",
    "save_steps": "train.save_steps", "save_total_limit": "train.save_total_limit", "seed": "train.seed",
    "gradient_checkpointing": "train.gradient_checkpointing",
    "activation_checkpointing": "train.gradient_checkpointing",
    "report_to": "train.report_to", "neftune_noise_alpha": "train.neftune_noise_alpha",
    "eval_steps": "eval.eval_steps", "per_device_eval_batch_size": "eval.per_device_eval_batch_size",
    "load_best_model_at_end": "eval.load_best_model_at_end", "bf16": "model.dtype", "fp16": "model.dtype",
    "torch_compile": "speed.torch_compile", "use_liger_kernel": "speed.liger",
    "deepspeed": "distributed.strategy", "fsdp": "distributed.strategy", "fsdp_config": "distributed.strategy",
}
# Options the studio sets for itself: where the run lives and what the run view and the worker rely on.
STUDIO_ONLY = (
    "output_dir", "logging_dir", "use_cpu", "disable_tqdm", "logging_first_step", "logging_nan_inf_filter",
    "remove_unused_columns", "include_num_input_tokens_seen", "eval_strategy", "save_strategy",
    "metric_for_best_model", "greater_is_better", "resume_from_checkpoint", "overwrite_output_dir",
)


def parse_extra_args(text: str) -> dict:
    """The mapping in `text` ({} when empty); a ValueError with the problem when it is not one."""
    if not (text or "").strip():
        return {}
    if len(text) > MAX_CHARS:
        raise ValueError(say("extra_args.not_mapping", value=f"{len(text):,} characters"))
    try:
        value = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError:
        value = text.strip()[:80]
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(say("extra_args.not_mapping", value=repr(value)[:80]))
    return value


def extra_args_problems(text: str) -> list[Message]:
    """Why `text` cannot be passed to TrainingArguments; [] when it can (or is empty)."""
    return list(_problems(text or ""))


@lru_cache(maxsize=32)  # validate() runs on every form change; the same text gives the same answer
def _problems(text: str) -> tuple[Message, ...]:
    try:
        extra = parse_extra_args(text)
    except ValueError as err:
        return (err.args[0],)
    if not extra:  # the usual case: no need to import TrainingArguments (seconds) to know nothing is wrong
        return ()
    known = _option_names()
    problems = []
    for key in extra:
        if key in FIELD_OF:
            problems.append(say("extra_args.owned", key=key, field=FIELD_OF[key]))
        elif key in STUDIO_ONLY:
            problems.append(say("extra_args.studio_only", key=key))
        elif key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            problems.append(say("extra_args.unknown", key=key, close=", ".join(close) or "—"))
    return tuple(problems) or _value_problems(extra)


def _value_problems(extra: dict) -> tuple[Message, ...]:
    """TrainingArguments' own verdict on the values (its __post_init__ checks choices and combinations)."""
    import tempfile

    from transformers import TrainingArguments

    try:
        with tempfile.TemporaryDirectory() as folder:
            TrainingArguments(output_dir=folder, use_cpu=True, report_to="none", **extra)
    except (TypeError, ValueError) as err:
        return (say("extra_args.bad_value", error=str(err)[:300]),)
    return ()


@lru_cache(maxsize=1)
def _option_names() -> tuple[str, ...]:
    from transformers import TrainingArguments

    return tuple(field.name for field in dataclasses.fields(TrainingArguments) if field.init)
