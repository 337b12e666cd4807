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
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from engine.config.parsing import load_yaml_file
from engine.config.schema import ConfigError, RunConfig, field_info, field_problems
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


def _attention(value) -> str:
    """flash_attn: auto / disabled (eager) / sdpa / fa2."""
    return {"disabled": "eager", "sdpa": "sdpa", "fa2": "flash_attention_2"}.get(str(value), "auto")


def _trackers(value) -> list[str]:
    """report_to: the trackers the studio offers; tensorboard files are always written, none means none."""
    offered = field_info("train.report_to")["choices"]
    return [name for name in _names(value) if name in offered]


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
    "mask_history": ("data.mask_history", _same),
    "neftune_noise_alpha": ("train.neftune_noise_alpha", _same),
    "enable_thinking": ("model.enable_thinking", _same),
    "adapter_name_or_path": ("method.adapter_run", _run_name),
    "export_size": ("export.max_shard_size", _shard_size),
    "fp16": ("model.dtype", lambda value: "float16" if value else "auto"),
    "flash_attn": ("speed.attention", _attention),
    "enable_liger_kernel": ("speed.liger", lambda value: "on" if value else "off"),
    "report_to": ("train.report_to", _trackers),
    "freeze_vision_tower": ("method.freeze_vision_tower", _same),
    "freeze_multi_modal_projector": ("method.freeze_projector", _same),
}

# Keys that are Hugging Face TrainingArguments the studio has no field for: they travel in train.extra_args.
TRAINING_ARGUMENTS = ("optim", "lr_scheduler_kwargs")

# Keys the studio takes care of by itself: caching, worker counts, loss plots, logging to files.
AUTOMATIC = (
    "do_train", "do_eval", "plot_loss", "overwrite_output_dir", "overwrite_cache", "preprocessing_num_workers",
    "dataloader_num_workers", "ddp_timeout", "eval_strategy", "evaluation_strategy", "save_strategy",
    "logging_dir", "export_device", "export_legacy_format", "resume_from_checkpoint",
    "bf16", "pure_bf16",  # model.dtype auto trains in bfloat16 on every GPU that supports it
)
DECIDED = ("stage", "pref_loss", "template", "deepspeed", "dataset_dir", "packing", "neat_packing", "warmup_steps",
           *TRAINING_ARGUMENTS)

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
    """A merge YAML: export the run trained into `adapter` (its output_dir) as exports/<export_dir>; without
    an adapter, the full run `model` names (LLaMA-Factory re-saves a fully trained model the same way)."""

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
    output_dir: str = ""  # the YAML's output_dir, which the run records for its merge YAML

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


def yaml_kind(raw: dict) -> str:
    """What a LLaMA-Factory YAML is for, as its own `llamafactory-cli` would run it: train, merge (export),
    chat (an inference YAML: a model and a template, no stage), predict (do_predict without do_train) or
    preprocess (do_train: false and nothing else to do: it only tokenises the data)."""
    if is_merge(raw):
        return "merge"
    if "stage" not in raw and "dataset" not in raw:
        return "chat"
    if raw.get("do_predict") and not raw.get("do_train"):
        return "predict"
    if raw.get("do_train") is False and not raw.get("do_eval"):
        return "preprocess"
    return "train"


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
    problems += _decide_dataset_dir(raw, values, conversion)
    _decide_packing(raw, values, conversion)
    _decide_deepspeed(raw, values, conversion)
    _decide_training_arguments(raw, values, conversion)
    _decide_warmup(raw, values, conversion)
    _decide_kto_batch(values, conversion)
    if problems:
        raise ConfigError(problems)
    conversion.config = RunConfig().replace(values)
    if problems := field_problems(conversion.config):  # e.g. quantization_bit: 2, finetuning_type: oft
        raise ConfigError([say("lf.converted_refused"), *problems])
    conversion.output_dir = str(raw.get("output_dir", ""))
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


def _decide_dataset_dir(raw: dict, values: dict, conversion: Conversion) -> list[Message]:
    """LLaMA-Factory looks for dataset_info.json in `dataset_dir`, by default `data` where it runs."""
    given = str(raw.get("dataset_dir", "data"))
    if given.startswith("REMOTE:"):  # its registry on the Hub: nothing is fetched here
        return [say("lf.dataset_dir_remote", value=given)]
    folder = os.path.abspath(os.path.expanduser(given))
    if "dataset_dir" not in raw and not os.path.isfile(os.path.join(folder, "dataset_info.json")):
        conversion.mapped.append(say("lf.dataset_dir_absent", folder=folder))
        return []
    values["data.dataset_dir"] = folder
    conversion.mapped.append(say("lf.mapped", key="dataset_dir", field="data.dataset_dir", value=folder))
    return []


def _decide_packing(raw: dict, values: dict, conversion: Conversion) -> None:
    """LLaMA-Factory packs only when asked (or for pt, which the studio's pt stage does by itself): a converted
    SFT run then takes as many optimizer steps per epoch as it would there, one per batch of examples."""
    if values.get("method.stage", "sft") != "sft":  # the studio packs sft only; its pt fills whole blocks anyway
        return
    asked = bool(raw.get("packing") or raw.get("neat_packing"))
    values["speed.packing"] = "on" if asked else "off"
    key = next((key for key in ("neat_packing", "packing") if key in raw), None)
    conversion.mapped.append(say("lf.mapped", key=key, field="speed.packing", value=values["speed.packing"]) if key
                             else say("lf.packing_default"))


def _decide_deepspeed(raw: dict, values: dict, conversion: Conversion) -> None:
    """deepspeed: examples/deepspeed/ds_z3_offload_config.json → ZeRO-3 with offload, read from the name
    LLaMA-Factory's own files carry (ds_z0/z2/z3[_offload]_config.json)."""
    if "deepspeed" not in raw:
        return
    name = PurePosixPath(str(raw["deepspeed"]).replace("\\", "/")).name
    found = re.search(r"z([023])", name)
    if not found:
        conversion.ignored.append(say("lf.deepspeed_unknown", value=name))
        return
    values["distributed.strategy"] = {"0": "ddp", "2": "zero2", "3": "zero3"}[found.group(1)]
    values["distributed.offload_optimizer"] = "offload" in name and found.group(1) != "0"
    values["distributed.offload_parameters"] = "offload" in name and found.group(1) == "3"
    conversion.mapped.append(say("lf.mapped", key="deepspeed", field="distributed.strategy",
                                 value=values["distributed.strategy"] + (" + offload" if "offload" in name else "")))


def _decide_training_arguments(raw: dict, values: dict, conversion: Conversion) -> None:
    options = {key: raw[key] for key in TRAINING_ARGUMENTS if key in raw}
    if options:
        values["train.extra_args"] = json.dumps(options)
        conversion.mapped.append(say("lf.mapped", key=", ".join(options), field="train.extra_args",
                                     value=values["train.extra_args"]))


def _decide_warmup(raw: dict, values: dict, conversion: Conversion) -> None:
    """warmup_steps: the studio warms up for a share of the steps (train.warmup_ratio); with max_steps the share
    is known, otherwise the number of steps depends on the data and the user sets the share."""
    if not raw.get("warmup_steps"):
        return
    if raw.get("max_steps"):
        values["train.warmup_ratio"] = min(0.5, float(raw["warmup_steps"]) / float(raw["max_steps"]))
        conversion.mapped.append(say("lf.mapped", key="warmup_steps", field="train.warmup_ratio",
                                     value=round(values["train.warmup_ratio"], 4)))
    else:
        conversion.ignored.append(say("lf.warmup_steps", steps=raw["warmup_steps"]))


def _decide_kto_batch(values: dict, conversion: Conversion) -> None:
    """TRL's KTO compares each answer with another of its batch: one example per step cannot train. Two per
    step with half the accumulation keeps the examples per update LLaMA-Factory's KTO example uses."""
    if values.get("method.stage") != "kto" or int(values.get("train.per_device_train_batch_size", 2)) > 1:
        return
    accumulation = int(values.get("train.gradient_accumulation_steps", 1))
    values["train.per_device_train_batch_size"] = 2
    values["train.gradient_accumulation_steps"] = max(1, accumulation // 2)
    conversion.mapped.append(say("lf.kto_batch", accumulation=values["train.gradient_accumulation_steps"]))


def template_problem(name: str, code: str = "lf.template_unknown") -> Message:
    """The refusal for a template name the studio has no file for, naming the close ones it has."""
    ours = sorted(set(TEMPLATES.values()))
    close = difflib.get_close_matches(name, [*ours, *TEMPLATES], n=4, cutoff=0.4)
    suggestions = sorted({TEMPLATES.get(candidate, candidate) for candidate in close}) or ours
    return say(code, name=name, close=", ".join(suggestions), all=", ".join(["auto", *ours]))


def _convert_merge(raw: dict) -> Conversion:
    conversion = Conversion(None)
    if raw.get("export_quantization_bit"):  # GPTQ: calibrates on a GPU with optimum + gptqmodel
        raise ConfigError([say("lf.merge_gptq", bits=raw["export_quantization_bit"])])
    if not raw.get("model_name_or_path"):
        raise ConfigError([say("lf.merge_without_adapter")])
    used = {"model_name_or_path", "adapter_name_or_path", "export_dir", "export_size", "template",
            "trust_remote_code", "finetuning_type"}
    conversion.merge = MergePlan(
        adapter=str(raw.get("adapter_name_or_path") or ""),
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


def convert_file(path: Path, ships_template: Callable[[str], bool | None], save: bool = True,
                 raw: dict | None = None) -> Conversion:
    """Convert the LLaMA-Factory YAML at `path` (or its mapping `raw`, overridden); a training config is saved
    beside it (converted_path)."""
    conversion = convert(read_yaml(path) if raw is None else raw, ships_template)
    if conversion.config is not None and save:
        conversion.config.save(converted_path(path))
    return conversion
