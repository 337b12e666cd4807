"""`train.extra_args`: more Hugging Face TrainingArguments than the form has fields for (LlamaBoard's "extra
arguments" box), as a JSON or YAML mapping.

An allow-list (ALLOWED): options that only tune how this run trains, each with the values it may take. Every
other key is refused before Start with the reason: one the studio sets from its own fields (that field is
named), or for itself (the run folder, the CPU switch, the logging the run view reads), one that would reach
outside the run (the Hub, files named by path), or one not offered here. The values are then tried on a
TrainingArguments, so a wrong combination is refused in its words before the run is queued rather than after
the model has loaded. The text is read by the studio's one bounded YAML reader.
"""
from __future__ import annotations

import dataclasses
import difflib
from functools import lru_cache

from engine.config.parsing import ConfigError, excerpt, load_yaml, shortened
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
    "torch_compile": "speed.torch_compile", "torch_compile_backend": "speed.torch_compile",
    "torch_compile_mode": "speed.torch_compile", "use_liger_kernel": "speed.liger",
    "deepspeed": "distributed.strategy", "fsdp": "distributed.strategy", "fsdp_config": "distributed.strategy",
}
# Options the studio sets for itself: where the run lives and what the run view and the worker rely on.
STUDIO_ONLY = (
    "output_dir", "logging_dir", "use_cpu", "disable_tqdm", "logging_first_step", "logging_nan_inf_filter",
    "remove_unused_columns", "include_num_input_tokens_seen", "eval_strategy", "save_strategy",
    "metric_for_best_model", "greater_is_better", "resume_from_checkpoint", "overwrite_output_dir",
    "logging_strategy", "eval_on_start", "run_name",
)
# Options that would reach outside the run: the Hub (an upload, a token), files named by path.
OUTSIDE = ("push_to_hub", "hub_model_id", "hub_strategy", "hub_token", "hub_private_repo", "hub_always_push",
           "hub_revision", "accelerator_config", "debug")


@dataclasses.dataclass(frozen=True)
class Rule:
    """What values an option takes: `kind` is yes_no, whole, number, text or numbers (a small mapping of names to
    numbers); whole and number lie in [low, high]."""

    kind: str
    low: float = 0
    high: float = 0

    def refuses(self, value) -> bool:
        if self.kind == "yes_no":
            return not isinstance(value, bool)
        if self.kind == "text":
            return not isinstance(value, str) or len(value) > 200
        if self.kind == "numbers":
            return not (isinstance(value, dict) and len(value) <= 8 and all(
                isinstance(key, str) and _is_number(number) for key, number in value.items()))
        whole = self.kind == "whole"
        return not (_is_number(value) and (not whole or float(value).is_integer()) and self.low <= value <= self.high)

    def describe(self) -> Message:
        return say(f"extra_args.rule.{self.kind}", low=self.low, high=self.high)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


YES_NO, TEXT = Rule("yes_no"), Rule("text")
# Options that change only how this run trains, and are not fields of the form.
ALLOWED = {
    "optim": TEXT, "optim_args": TEXT,  # TrainingArguments checks the optimizer's name
    "adam_beta1": Rule("number", 0, 0.9999), "adam_beta2": Rule("number", 0, 0.9999),
    "adam_epsilon": Rule("number", 1e-12, 1e-3), "lr_scheduler_kwargs": Rule("numbers"),
    "label_smoothing_factor": Rule("number", 0, 0.5),
    "dataloader_num_workers": Rule("whole", 0, 16), "dataloader_prefetch_factor": Rule("whole", 1, 16),
    "dataloader_pin_memory": YES_NO, "dataloader_drop_last": YES_NO, "dataloader_persistent_workers": YES_NO,
    "tf32": YES_NO, "torch_empty_cache_steps": Rule("whole", 1, 1_000_000), "full_determinism": YES_NO,
    "average_tokens_across_devices": YES_NO, "ddp_find_unused_parameters": YES_NO,
    "ddp_bucket_cap_mb": Rule("whole", 1, 4096), "ddp_timeout": Rule("whole", 60, 86_400),
    "eval_accumulation_steps": Rule("whole", 1, 1_000_000), "data_seed": Rule("whole", 0, 2**32 - 1),
    "save_only_model": YES_NO, "ignore_data_skip": YES_NO, "skip_memory_metrics": YES_NO,
    "prediction_loss_only": YES_NO,
}


def parse_extra_args(text: str) -> dict:
    """The mapping in `text` ({} when empty); a ValueError with the problem when it is not one."""
    if not (text or "").strip():
        return {}
    try:
        value = load_yaml(text, max_chars=MAX_CHARS)  # JSON is YAML too
    except ConfigError as err:
        raise ValueError(say("extra_args.not_mapping", value=err.problems[0])) from None
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(say("extra_args.not_mapping", value=excerpt(value)))
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
    problems = [_key_problem(key, value) for key, value in extra.items()]
    return tuple(p for p in problems if p) or _value_problems(extra)


def _key_problem(key: str, value) -> Message | None:
    """Why this one option cannot be given here; None when it can."""
    if key in FIELD_OF:
        return say("extra_args.owned", key=key, field=FIELD_OF[key])
    if key in STUDIO_ONLY:
        return say("extra_args.studio_only", key=key)
    if key in OUTSIDE:
        return say("extra_args.outside", key=key)
    if key in ALLOWED:
        rule = ALLOWED[key]
        return say("extra_args.bad_option", key=key, rule=rule.describe(), value=excerpt(value)) \
            if rule.refuses(value) else None
    if key in _option_names():
        return say("extra_args.not_offered", key=key, allowed=", ".join(sorted(ALLOWED)))
    close = difflib.get_close_matches(key, _option_names(), n=3, cutoff=0.6)
    return say("extra_args.unknown", key=shortened(key, 60), close=", ".join(close) or "—")


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
