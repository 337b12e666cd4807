"""The checks that refuse a run before it starts: what `validate()` cannot know from the config alone.

validate() (engine/train/rules.py) judges a config by itself. Here the config meets this machine: a saves
folder that cannot be written, a disk without room for the checkpoints, a package or a GPU the config needs,
a reward-model run it names, datasets that are missing or of the wrong kind for the stage. Start (the queue's
submit and resume) and the worker both ask; the worker asks before it loads a model.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from engine.config.llamafactory import template_problem
from engine.config.schema import ConfigError, RunConfig
from engine.data.conversion import stage_data_problem
from engine.data.registry import DataError, using_dataset_dir
from engine.messages import say
from engine.models.methods import METHODS
from engine.paths import CONFIG_FILE, FINAL_DIR, PathEscapeError, inside, saves_dir
from engine.runs.failures import ADVICE
from engine.runs.status import Reason
from engine.train import distributed
from engine.train.stages import STAGES

# What one checkpoint holds besides the weights: Adam keeps two fp32 moments per trained weight.
OPTIMIZER_COPIES = 2
# Room kept free beyond the estimate: logs, the tokenizer, and the rest of the machine.
DISK_MARGIN_BYTES = 200 * 1024**2


class StartRefused(RuntimeError):
    """A run that cannot start; `problems` lists every reason as a plain sentence."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def preflight(config: RunConfig) -> list[str]:
    """Problems that would make `config` fail soon after starting; empty when it may start."""
    problem = saves_dir_problem(saves_dir())
    if problem:
        return [problem]
    problems = environment_problems(config) + model_problems(config) + data_problems(config)
    if problems:
        return problems
    problems = template_problems(config)
    if problems:
        return problems
    needed, free = estimate_disk_bytes(config), shutil.disk_usage(saves_dir()).free
    if free < needed:
        return [say("preflight.disk_full", free=_gigabytes(free), needed=_gigabytes(needed),
                    checkpoints=_kept_checkpoints(config))]
    return data_left_problems(config)


# Examples per dataset the preflight measures at most: beyond that Start would wait too long, and the worker
# checks the whole data again before it loads the model.
PREFLIGHT_EXAMPLES = 2000


def data_left_problems(config: RunConfig) -> list[str]:
    """"Nothing left to train on" with numbers, when no example of a preference stage's data fits in
    data.cutoff_len (TRL would crash on an empty dataset, or train on NaN)."""
    from engine.models.loading import ModelLoadError
    from engine.train.stages.preference import STAGE_ROWS, nothing_left_problem

    if config.method.stage not in STAGE_ROWS:
        return []
    measured = copy.deepcopy(config)
    if not 0 < config.data.max_samples <= PREFLIGHT_EXAMPLES:
        measured.data.max_samples = PREFLIGHT_EXAMPLES + 1  # one more: tells a whole dataset from a cut one
    try:
        with using_dataset_dir(config.data.dataset_dir):
            problem = nothing_left_problem(measured, at_most=PREFLIGHT_EXAMPLES * len(config.data.datasets))
    except (ModelLoadError, OSError, ValueError):  # DataError is a ValueError
        return []  # validate() and the worker report unreadable data or models in their own words
    return [problem] if problem else []


def saves_dir_problem(folder: Path) -> str | None:
    """Why run folders cannot be created in `folder`, or None when they can (tested by writing a file)."""
    if folder.exists() and not folder.is_dir():
        return say("preflight.saves_is_file", folder=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        return say("preflight.saves_not_writable", folder=str(folder), error=err.strerror or str(err),
                   advice=ADVICE[Reason.NOT_WRITABLE])
    return None


def estimate_disk_bytes(config: RunConfig) -> int:
    """A rough upper bound of what a run writes: kept checkpoints plus the final result plus a margin."""
    weights = _weight_bytes(config.model.name_or_path)
    if not METHODS[config.method.finetuning_type].peft:  # every weight, or many of them, are saved
        # Weights, plus fp32 optimizer moments (stored weights are often half precision: ×2 per copy).
        per_checkpoint = weights + OPTIMIZER_COPIES * 2 * weights
        final = weights
    else:
        per_checkpoint = final = weights // 20  # adapters and their optimizer: a few percent of the model
    return per_checkpoint * _kept_checkpoints(config) + final + DISK_MARGIN_BYTES


def _kept_checkpoints(config: RunConfig) -> int:
    """The checkpoints on disk at once: the limit, plus the one written before the oldest is deleted."""
    train = config.train
    if train.save_total_limit:
        return train.save_total_limit + 1
    planned = train.max_steps // train.save_steps if train.max_steps else 3
    return max(planned, 1)


GGUF_TO_FLOAT32 = 8  # a 4-bit GGUF file becomes float32 weights eight times its size


def _weight_bytes(name_or_path: str) -> int:
    """The size of a local model's weight files; 0 for Hub ids, whose size is unknown offline, and for
    built-in models, which are tiny (and asking would build one)."""
    from engine.models.builtin import is_builtin
    from engine.models.gguf_base import gguf_file, needs_conversion
    from engine.models.loading import ModelLoadError, resolve_model

    if is_builtin(name_or_path):
        return 0
    if needs_conversion(name_or_path):  # asking would convert it here, at Start: the worker does that
        return gguf_file(name_or_path).stat().st_size * GGUF_TO_FLOAT32
    try:
        folder = Path(resolve_model(name_or_path))
    except (ModelLoadError, ValueError, OSError):
        return 0
    if not folder.is_dir():
        return 0
    patterns = ("*.safetensors", "*.bin", "*.pt", "*.pth")
    return sum(path.stat().st_size for pattern in patterns for path in folder.glob(pattern))


def _gigabytes(size: int) -> str:
    return f"{size / 1024**3:.1f} GB" if size >= 1024**3 / 10 else f"{size / 1024**2:.0f} MB"


# ---------------------------------------------------------------------------------------------------------
# What the config needs of this machine


def environment_problems(config: RunConfig) -> list[str]:
    """What `config` needs that this machine or the saves folder lacks: the worker asks this too, since a
    config file may be trained without passing Start."""
    method, problems = config.method, []
    if config.model.quantization != "none" and importlib.util.find_spec("bitsandbytes") is None:
        problems.append(say("preflight.no_bitsandbytes"))
    if method.stage == "grpo" and "reward_model" in method.grpo_rewards:
        problems += _reward_run_problems(method.grpo_reward_run)
    problems += [say("train.tracker_missing", tracker=tracker) for tracker in config.train.report_to
                 if importlib.util.find_spec(tracker) is None]
    if method.stage == "grpo" and config.model.quantization != "none" and not _cuda_available():
        problems.append(
            "method.stage grpo trains on answers the model itself generates, and on a CPU a bitsandbytes-quantised "
            "model that has generated gives wrong gradients: set model.quantization to none here, or train on a GPU"
        )
    return problems + distributed_problems(config)


def distributed_problems(config: RunConfig) -> list[str]:
    """What the `distributed` section asks that this machine lacks: GPUs, CPU cores, DeepSpeed."""
    spread, problems = config.distributed, []
    asked = spread.processes_per_node
    if not asked and spread.strategy not in (*distributed.DEEPSPEED_STAGES, "fsdp"):
        return []  # one process per GPU, or one on a CPU: nothing to count (counting GPUs imports torch, ~2 s)
    gpus = distributed.visible_gpus()
    if gpus and asked > gpus:
        problems.append(say("distributed.too_many_for_gpus", processes=asked, gpus=gpus))
    cores = os.cpu_count() or 1
    if not gpus and asked > cores:
        problems.append(say("distributed.too_many_for_cpus", processes=asked, cores=cores))
    if spread.strategy in distributed.DEEPSPEED_STAGES:
        if not gpus:
            problems.append(say("distributed.deepspeed_needs_gpu", strategy=spread.strategy))
        elif importlib.util.find_spec("deepspeed") is None:
            problems.append(say("distributed.deepspeed_missing", strategy=spread.strategy))
    if spread.strategy == "fsdp" and not gpus:
        # accelerate 1.15 switches FSDP on only for accelerator process groups (MULTI_GPU, NPU, XPU, ...), not
        # for MULTI_CPU: on a CPU, TrainingArguments(fsdp=True) would quietly train as DDP.
        problems.append(say("distributed.fsdp_needs_gpu"))
    return problems


def data_problems(config: RunConfig) -> list[str]:
    """Each dataset must be registered, readable from here, of a kind the stage trains on ("stage dpo
    needs preference pairs (chosen/rejected); demo_alpaca_en is alpaca instructions") and free of broken rows."""
    try:
        with using_dataset_dir(config.data.dataset_dir):
            return [problem for name in config.data.datasets if (problem := _dataset_problem(config, name))]
    except DataError as err:  # a dataset_dir without a dataset_info.json
        return [err.args[0]]


def _dataset_problem(config: RunConfig, name: str) -> str | None:
    try:
        return stage_data_problem(config.method.stage, STAGES[config.method.stage].data_kinds, name) or \
            _row_problem(name)
    except DataError as err:
        return err.args[0]


def _row_problem(name: str) -> str | None:
    """The checker's verdict on the rows of a dataset of the right kind: the worker would stop at the first
    broken row after loading the model."""
    from engine.data.checker import check_registered

    report = check_registered(name)
    if report.ok:
        return None
    first = "; ".join(str(item) for item in report.problems[:3])
    return say("preflight.data_rows", dataset=name, count=report.total_problems, first=first)


def template_problems(config: RunConfig) -> list:
    """The rows the chat template refuses (Gemma 2's own refuses any system prompt), found with the tokenizer
    alone. Skipped while the model is not on disk yet (a first use builds or converts it: the worker asks again
    once it has, still before the model loads) and for a model whose tokenizer cannot be read here."""
    from engine.data.conversion import dataset_kind, iter_conversations
    from engine.data.template_rows import refusal_message, template_refusals
    from engine.data.templates import load_template
    from engine.models.builtin import needs_build
    from engine.models.gguf_base import needs_conversion
    from engine.models.loading import ModelLoadError, load_tokenizer

    model = config.model
    if needs_build(model.name_or_path) or needs_conversion(model.name_or_path):
        return []
    try:
        with using_dataset_dir(config.data.dataset_dir):
            names = [name for name in config.data.datasets if dataset_kind(name) == "conversation"]
            if not names:
                return []
            tokenizer = load_tokenizer(model)
            template = load_template(model.template, tokenizer, model.enable_thinking)
            found = {name: template_refusals(template, tokenizer, iter_conversations(name)) for name in names}
    except (ModelLoadError, OSError, ValueError):  # DataError is a ValueError; each is reported in its own place
        return []
    messages = (refusal_message(name, model.template, refused) for name, refused in found.items())
    return [message for message in messages if message]


def _reward_run_problems(name: str) -> list[str]:
    """The reward_model reward needs a finished reward-model run inside the saves folder."""
    if not name:
        return ["method.grpo_reward_run is empty; the reward_model reward needs a finished reward-model (rm) run"]
    try:
        run_dir = inside(saves_dir(), name, "method.grpo_reward_run")
    except PathEscapeError as err:
        return [str(err)]
    if not (run_dir / CONFIG_FILE).is_file():
        return [f"method.grpo_reward_run {name!r} is not a run folder under {saves_dir()}"]
    try:
        stage = RunConfig.load(run_dir / CONFIG_FILE).method.stage
    except ConfigError:
        return [f"method.grpo_reward_run {name!r} has a config this version cannot read"]
    if stage != "rm":
        return [f"method.grpo_reward_run {name!r} is a {stage} run; pick a reward-model (rm) run"]
    if not (run_dir / FINAL_DIR).is_dir():
        return [
            f"method.grpo_reward_run {name!r} has not finished ({FINAL_DIR}/ is missing); wait for it or pick another"
        ]
    return []


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ---------------------------------------------------------------------------------------------------------
# What the config names: a chat template, LoRA target modules, datasets of the stage's kind


def model_problems(config: RunConfig) -> list[str]:
    """A template, LoRA target, attention kernel or DoRA the model cannot use, said at Start rather than after the
    model has loaded."""
    from engine.train.speed import attention_problem

    attention = attention_problem(config)
    return (_template_problems(config.model) + _lora_target_problems(config) + _adapter_problems(config)
            + ([attention] if attention else []) + _dora_problems(config))


def _dora_problems(config: RunConfig) -> list[str]:
    """peft turns the experts of the MoE types it converts into parameter adapters, which have no DoRA."""
    from engine.models.loading import ModelLoadError
    from engine.models.shape import PEFT_CONVERTED_MOE, model_shape

    if config.method.finetuning_type != "lora" or not config.method.use_dora:
        return []
    try:
        model_type = model_shape(config.model.name_or_path).model_type
    except (ModelLoadError, OSError, KeyError, ValueError):
        return []  # a Hub model not on this machine: the worker reports it in peft's words
    if model_type not in PEFT_CONVERTED_MOE:
        return []
    return [say("method.problem_dora_experts", model=config.model.name_or_path)]


def _adapter_problems(config: RunConfig) -> list[str]:
    """method.adapter_run must be a finished LoRA run of the same base model."""
    from engine.models.methods import adapter_folder
    from engine.paths import CONFIG_FILE, FINAL_DIR, PathEscapeError

    run = config.method.adapter_run
    if not run or config.method.finetuning_type != "lora":
        return []  # validate() says that adapter_run needs lora
    try:
        folder = adapter_folder(run)
    except PathEscapeError as err:
        return [str(err)]
    if not (folder / "adapter_config.json").is_file():
        return [say("adapter.missing", run=run, saves=str(saves_dir()), final=FINAL_DIR)]
    base = RunConfig.load(folder.parent / CONFIG_FILE).model.name_or_path
    if base != config.model.name_or_path:
        return [say("adapter.other_base", run=run, base=base, model=config.model.name_or_path)]
    return []


def _template_problems(model) -> list[str]:
    from engine.data.templates import AUTO, list_templates
    from engine.models.loading import ships_chat_template

    if model.template == AUTO:
        if ships_chat_template(model.name_or_path) is False:
            return [say("preflight.no_own_template", model=model.name_or_path, names=", ".join(list_templates()[1:]))]
        return []
    if model.template in list_templates():
        return []
    return [template_problem(model.template, "preflight.template_unknown")]


def _lora_target_problems(config: RunConfig) -> list[str]:
    from engine.models.loading import linear_module_names

    target = config.method.lora_target.strip()
    if config.method.finetuning_type not in ("lora", "adalora") or target in ("all-linear", "all"):
        return []
    names = linear_module_names(config.model)
    wanted = [name.strip() for name in target.split(",") if name.strip()]
    missing = [name for name in wanted if names is not None and name not in names]
    if not wanted or missing:
        return [say("preflight.lora_target", missing=", ".join(missing) or "''",
                    names=", ".join(sorted(names or ())) or "all-linear")]
    return []
