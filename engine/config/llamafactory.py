"""Reading a LLaMA-Factory YAML (`llamafactory-cli train x.yaml` / `export x.yaml`) as a studio run.

LLaMA-Factory keeps every option at the top level (`model_name_or_path`, `stage`, `dataset`, ...); the studio
groups them into sections. `KEYS` says where each of its keys goes; `AUTOMATIC` lists the keys the studio
handles by itself (nothing to set); every other key is reported as having no equivalent and ignored, so a user
sees exactly what did not carry over. A merge YAML (`export_dir` without a stage) becomes a `MergePlan`.

Pure: no files are read here. Whether a model ships its own chat template is asked through a function the
caller passes (engine.models.loading.ships_chat_template), since this layer cannot load models.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from engine.config.parsing import load_yaml_file
from engine.config.schema import ConfigError, RunConfig
from engine.messages import Message, say

# Keys only a LLaMA-Factory YAML has at its top level: one of them makes a file LLaMA-Factory's.
MARKERS = ("model_name_or_path", "stage", "finetuning_type", "dataset", "export_dir", "adapter_name_or_path")


def _same(value):
    return value


def _names(value) -> list[str]:
    """`dataset: a,b` or a YAML list."""
    parts = value if isinstance(value, list) else str(value).split(",")
    return [str(part).strip() for part in parts if str(part).strip()]


def _lora_target(value) -> str:
    names = _names(value)
    return "all-linear" if names in (["all"], ["all-linear"]) else ",".join(names)


def _quantization(value) -> str:
    return {4: "4bit", 8: "8bit"}.get(int(value), f"{value}bit")


def _run_name(value) -> str:
    """output_dir saves/llama3-8b/lora/sft -> run name "sft": the studio files runs under saves/<model>/<type>/."""
    return PurePosixPath(str(value).replace("\\", "/")).name


def _shard_size(value) -> str:
    return f"{value}GB"


# LLaMA-Factory key -> (studio field, how its value reads). Keys that need a decision (stage, pref_loss,
# template, bf16/fp16) are handled by the functions below the table.
KEYS: dict[str, tuple[str, Callable]] = {
    "model_name_or_path": ("model.name_or_path", _same),
    "trust_remote_code": ("model.trust_remote_code", _same),
    "quantization_bit": ("model.quantization", _quantization),
    "quantization_type": ("model.quant_type", _same),
    "double_quantization": ("model.double_quant", _same),
    "dataset": ("data.datasets", _names),
    "cutoff_len": ("data.cutoff_len", _same),
    "train_on_prompt": ("data.train_on_prompt", _same),
    "val_size": ("data.val_size", _same),
    "max_samples": ("data.max_samples", _same),
    "finetuning_type": ("method.finetuning_type", _same),
    "lora_rank": ("method.lora_rank", _same),
    "lora_alpha": ("method.lora_alpha", _same),
    "lora_dropout": ("method.lora_dropout", _same),
    "lora_target": ("method.lora_target", _lora_target),
    "additional_target": ("method.modules_to_save", lambda value: ",".join(_names(value))),
    "use_rslora": ("method.use_rslora", _same),
    "use_dora": ("method.use_dora", _same),
    "pissa_init": ("method.pissa_init", _same),
    "loraplus_lr_ratio": ("method.loraplus_lr_ratio", _same),
    "freeze_trainable_layers": ("method.freeze_trainable_layers", _same),
    "pref_beta": ("method.pref_beta", _same),
    "simpo_gamma": ("method.simpo_gamma", _same),
    "output_dir": ("train.run_name", _run_name),
    "num_train_epochs": ("train.num_train_epochs", _same),
    "max_steps": ("train.max_steps", _same),
    "learning_rate": ("train.learning_rate", _same),
    "per_device_train_batch_size": ("train.per_device_train_batch_size", _same),
    "gradient_accumulation_steps": ("train.gradient_accumulation_steps", _same),
    "lr_scheduler_type": ("train.lr_scheduler_type", _same),
    "warmup_ratio": ("train.warmup_ratio", _same),
    "weight_decay": ("train.weight_decay", _same),
    "max_grad_norm": ("train.max_grad_norm", _same),
    "logging_steps": ("train.logging_steps", _same),
    "save_steps": ("train.save_steps", _same),
    "save_total_limit": ("train.save_total_limit", _same),
    "seed": ("train.seed", _same),
    "gradient_checkpointing": ("train.gradient_checkpointing", _same),
    "per_device_eval_batch_size": ("eval.per_device_eval_batch_size", _same),
    "eval_steps": ("eval.eval_steps", _same),
    "export_dir": ("export.export_dir", _run_name),
    "dataset_dir": ("data.dataset_dir", lambda value: os.path.abspath(os.path.expanduser(str(value)))),
    "mask_history": ("data.mask_history", _same),
    "neftune_noise_alpha": ("train.neftune_noise_alpha", _same),
    "enable_thinking": ("model.enable_thinking", _same),
    "adapter_name_or_path": ("method.adapter_run", _run_name),
    "export_size": ("export.max_shard_size", _shard_size),
    "fp16": ("model.dtype", lambda value: "float16" if value else "auto"),
}

# Keys the studio takes care of by itself: caching, worker counts, loss plots, logging to files.
AUTOMATIC = (
    "do_train", "do_eval", "plot_loss", "overwrite_output_dir", "overwrite_cache", "preprocessing_num_workers",
    "dataloader_num_workers", "ddp_timeout", "report_to", "eval_strategy", "evaluation_strategy", "save_strategy",
    "logging_dir", "export_device", "export_legacy_format", "resume_from_checkpoint",
    "bf16", "pure_bf16",  # model.dtype auto trains in bfloat16 on every GPU that supports it
)
DECIDED = ("stage", "pref_loss", "template")

# What LLaMA-Factory (with Hugging Face's TrainingArguments) uses when a key is left out, where the studio's
# default differs: a converted file then trains like the original did.
DEFAULTS = {
    "finetuning_type": "lora", "lora_target": "all", "cutoff_len": 2048, "learning_rate": 5e-5,
    "per_device_train_batch_size": 8, "lr_scheduler_type": "linear", "logging_steps": 500, "save_steps": 500,
    "save_total_limit": 0,
}

# LLaMA-Factory's stages: same name here, except ppo (TRL 1.16 has none; GRPO replaces it).
STAGES = ("sft", "pt", "rm", "dpo", "kto")
PREF_LOSSES = {"sigmoid": "sigmoid", "ipo": "ipo", "hinge": "hinge", "simpo": "simpo"}

# LLaMA-Factory template names that are one of templates/*.jinja in all but name. Others become `auto`
# (the model's own chat template) when the model ships one.
TEMPLATES = {
    "alpaca": "alpaca", "chatml": "chatml", "qwen": "chatml", "yi": "chatml", "default": "default",
    "deepseek": "deepseek", "gemma": "gemma", "gemma2": "gemma", "glm4": "glm4", "llama3": "llama3",
    "mistral": "mistral", "phi": "phi3",
}


@dataclass
class MergePlan:
    """A merge YAML: export the run trained into `adapter` (its output_dir) as exports/<export_dir>."""

    adapter: str
    model: str
    export_dir: str
    max_shard_size: str


@dataclass
class Conversion:
    config: RunConfig | None  # None for a merge YAML
    merge: MergePlan | None = None
    mapped: list[Message] = field(default_factory=list)  # what carried over, one line per key
    ignored: list[Message] = field(default_factory=list)  # keys with no equivalent
    automatic: list[str] = field(default_factory=list)  # keys the studio handles by itself

    def report(self) -> list[Message]:
        """Lines for a person: what was mapped, what the studio does by itself, what was ignored."""
        lines = [*self.mapped]
        if self.automatic:
            lines.append(say("lf.automatic", keys=", ".join(self.automatic)))
        return lines + self.ignored


def is_llamafactory(raw) -> bool:
    """Whether a parsed YAML is LLaMA-Factory's flat shape rather than a studio config's sections."""
    return isinstance(raw, dict) and any(key in raw for key in MARKERS)


def is_merge(raw: dict) -> bool:
    return "export_dir" in raw and "stage" not in raw and not raw.get("do_train")


def convert(raw: dict, ships_template: Callable[[str], bool | None] = lambda model: None) -> Conversion:
    """The studio run (or merge plan) a LLaMA-Factory YAML describes. Raises ConfigError with every problem
    (a stage or template that has no counterpart, values out of range) so nothing fails after queueing."""
    if is_merge(raw):
        return _convert_merge(raw)
    values, conversion, problems = {}, Conversion(None), []
    raw = _with_defaults(raw, conversion)
    for key, value in raw.items():
        if key in KEYS:
            dotted, read = KEYS[key]
            values[dotted] = read(value)
            conversion.mapped.append(say("lf.mapped", key=key, field=dotted, value=_shown(values[dotted])))
        elif key in AUTOMATIC:
            conversion.automatic.append(key)
        elif key not in DECIDED:
            conversion.ignored.append(say("lf.ignored", key=key))
    problems += _decide_stage(raw, values, conversion)
    problems += _decide_template(raw, values, conversion, ships_template)
    if problems:
        raise ConfigError(problems)
    conversion.config = RunConfig().replace(values)
    return conversion


def _with_defaults(raw: dict, conversion: Conversion) -> dict:
    """`raw` plus LLaMA-Factory's defaults for the keys it leaves out (LoRA alpha is twice the rank there)."""
    added = {key: value for key, value in DEFAULTS.items() if key not in raw}
    if "lora_alpha" not in raw:
        added["lora_alpha"] = 2 * int(raw.get("lora_rank", 8))
    if added:
        conversion.mapped.append(say("lf.defaults", keys=", ".join(f"{k}={v}" for k, v in added.items())))
    return {**raw, **added}


def _shown(value) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def _decide_stage(raw: dict, values: dict, conversion: Conversion) -> list[Message]:
    stage, loss = str(raw.get("stage", "sft")), str(raw.get("pref_loss", "sigmoid"))
    if stage not in STAGES:
        return [say("lf.stage_unknown", stage=stage, stages=", ".join(STAGES))]
    if stage == "dpo" and loss == "orpo":  # LLaMA-Factory trains ORPO as a DPO loss; here it is a stage
        stage = "orpo"
    elif stage == "dpo" and loss in PREF_LOSSES:
        values["method.pref_loss"] = PREF_LOSSES[loss]
        conversion.mapped.append(say("lf.mapped", key="pref_loss", field="method.pref_loss", value=loss))
    elif stage == "dpo":
        return [say("lf.pref_loss_unknown", loss=loss, losses=", ".join([*PREF_LOSSES, "orpo"]))]
    values["method.stage"] = stage
    conversion.mapped.append(say("lf.mapped", key="stage", field="method.stage", value=stage))
    return []


def _decide_template(raw: dict, values: dict, conversion: Conversion, ships_template) -> list[Message]:
    if "template" not in raw:
        return []
    name = str(raw["template"])
    if name in TEMPLATES:
        values["model.template"] = TEMPLATES[name]
        conversion.mapped.append(say("lf.mapped", key="template", field="model.template", value=TEMPLATES[name]))
        return []
    if ships_template(values.get("model.name_or_path", RunConfig().model.name_or_path)) is False:
        return [template_problem(name)]
    values["model.template"] = "auto"
    conversion.mapped.append(say("lf.template_auto", name=name))
    return []


def template_problem(name: str, code: str = "lf.template_unknown") -> Message:
    """The refusal for a template name the studio has no file for, naming the close ones it has."""
    ours = sorted(set(TEMPLATES.values()))
    close = difflib.get_close_matches(name, [*ours, *TEMPLATES], n=4, cutoff=0.4)
    suggestions = sorted({TEMPLATES.get(candidate, candidate) for candidate in close}) or ours
    return say(code, name=name, close=", ".join(suggestions), all=", ".join(["auto", *ours]))


def _convert_merge(raw: dict) -> Conversion:
    conversion = Conversion(None)
    if not raw.get("adapter_name_or_path"):
        raise ConfigError([say("lf.merge_without_adapter")])
    used = {"model_name_or_path", "adapter_name_or_path", "export_dir", "export_size", "template",
            "trust_remote_code", "finetuning_type"}
    conversion.merge = MergePlan(
        adapter=str(raw["adapter_name_or_path"]),
        model=str(raw.get("model_name_or_path", "")),
        export_dir=_run_name(raw["export_dir"]),
        max_shard_size=_shard_size(raw.get("export_size", 2)),
    )
    for key in (key for key in raw if key in used):
        conversion.mapped.append(say("lf.merge_mapped", key=key, value=_shown(raw[key])))
    conversion.automatic = [key for key in raw if key in AUTOMATIC]
    conversion.ignored = [say("lf.ignored", key=key) for key in raw if key not in used and key not in AUTOMATIC]
    return conversion


# ---------------------------------------------------------------------------------------------------------
# Files


def converted_path(source: Path) -> Path:
    """Where the converted studio config of `source` is saved: beside it, x.yaml -> x.studio.yaml."""
    return source.with_name(f"{source.stem}.studio.yaml")


def read_yaml(path: Path):
    """A LLaMA-Factory YAML, read by the studio's one bounded reader (no aliases, a size and depth limit)."""
    return load_yaml_file(path)


def convert_file(path: Path, ships_template: Callable[[str], bool | None], save: bool = True) -> Conversion:
    """Convert the LLaMA-Factory YAML at `path`; a training config is saved beside it (converted_path)."""
    conversion = convert(read_yaml(path), ships_template)
    if conversion.config is not None and save:
        conversion.config.save(converted_path(path))
    return conversion
