"""What every training stage shares: the run context, the event callback, TrainingArguments from the
config, model preparation, the one Trainer set-up, and the clean finish (final save, outcome).

The stages themselves (engine/train/stages/) each turn their data into datasets and hand them to
`build_trainer`; `run_training` picks the stage from the table in engine/train/stages/__init__.py.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from importlib import import_module
from typing import Callable, Protocol

from engine.config.schema import ConfigError, RunConfig
from engine.train.rules import validate
from engine.models.loading import load_model
from engine.models.methods import MethodContext, apply_method, count_parameters, expert_note, loraplus_optimizer
from engine.data.registry import using_dataset_dir
from engine.data.templates import load_template
from engine.messages import Message, say
from engine.train import distributed
from engine.paths import FINAL_DIR, TENSORBOARD_DIR
from engine.train.resources import ResourceSampler
from engine.train.label_logits import compute_logits_at_labels_only
from engine.train.packing import count_tokens
from engine.train.extra_args import parse_extra_args
from engine.train.speed import plan_speed, training_options
from engine.train.stages import StageSpec, stage_of
from engine.train.throughput import Throughput

STANDARD_LOG_KEYS = {"loss", "learning_rate", "grad_norm", "epoch", "num_input_tokens_seen", "train_tokens_per_second"}


class EventWriter(Protocol):
    """Where progress goes: the run's events.jsonl (engine.runs.events.EventLog) when a worker trains."""

    def write(self, kind: str, **fields) -> None: ...


@dataclass
class RunContext:
    """Everything a stage needs to train one run."""

    config: RunConfig
    run_dir: Path
    log: EventWriter
    stop_requested: Callable[[], bool]
    resume_from: str | None = None  # a checkpoint folder to continue from
    # What the final status event says besides the outcome: an early stop's note and steps (set by finish).
    outcome_fields: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # choices made once the data was seen, for the start event

    @property
    def stage(self) -> StageSpec:
        return stage_of(self.config)


def run_training(context: RunContext) -> str:
    """Train the run of `context` with its stage: "completed" or "stopped"."""
    problems = validate(context.config)
    if problems:
        raise ConfigError(problems)
    module, function = context.stage.runner.rsplit(".", 1)
    with using_dataset_dir(context.config.data.dataset_dir):  # the run's datasets, wherever the registry is
        return getattr(import_module(f"engine.train.stages.{module}"), function)(context)


# ---------------------------------------------------------------------------------------------------------
# Events


class TrainingNotFinite(RuntimeError):
    """The loss, the gradients or the weights became NaN or infinite: the run fails at that step, before a
    checkpoint or final model holds broken weights (engine/runs/failures.py gives it its reason)."""

    def __init__(self, message: Message):
        super().__init__(message)
        self.message = message


def non_finite_count(model) -> int:
    """How many trainable weights of `model` are NaN or infinite (all weights when none is trainable)."""
    import torch

    parameters = [p for p in model.parameters() if p.requires_grad] or list(model.parameters())
    return sum(int((~torch.isfinite(p.detach())).sum()) for p in parameters if p.is_floating_point())


def _check_finite(logs: dict, step: int) -> None:
    for key, quantity in (("loss", "loss"), ("grad_norm", "the gradient norm")):
        value = logs.get(key)
        if isinstance(value, (int, float)) and not math.isfinite(value):
            raise TrainingNotFinite(say("train.not_finite", quantity=quantity, value=value, step=step))


def _trainer_callback():
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):
        """Streams progress into events.jsonl and turns a stop request into a clean stop-and-save.

        `tally` (engine.train.packing.TokenTally) counts real and padded tokens as batches are trained on; without
        one the Trainer's own non-padding count is used and the padding share is not known."""

        def __init__(self, log: EventWriter, stop_requested: Callable[[], bool], start_fields: dict, tally=None):
            self.log, self.stop_requested, self.start_fields, self.tally = log, stop_requested, start_fields, tally
            self.started, self.throughput = time.time(), Throughput()
            self.resources = ResourceSampler()

        def counts(self, state) -> tuple[int, int | None]:
            return (self.tally.real, self.tally.total) if self.tally else (state.num_input_tokens_seen, None)

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.time()
            self.throughput.restart(self.counts(state))
            self.log.write("start", total_steps=state.max_steps, world_size=args.world_size, **self.start_fields)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            self.throughput.step_done(self.counts(state))
            if self.stop_requested():
                control.should_training_stop = True
                control.should_save = True  # a resumable checkpoint at the step where we stopped
            # A checkpoint is written after this: never one of broken weights (the loss may not be logged yet).
            if control.should_save and model is not None and non_finite_count(model):
                raise TrainingNotFinite(say("train.not_finite", quantity="the weights", value="NaN",
                                            step=state.global_step))

        def on_train_end(self, args, state, control, **kwargs):
            elapsed = round(time.time() - self.started, 2)
            self.log.write("resources", step=state.global_step, **self.resources.sample())
            self.log.write("end", step=state.global_step, total_steps=state.max_steps, elapsed_s=elapsed)

        def on_evaluate(self, args, state, control, **kwargs):
            self.throughput.restart(self.counts(state))  # evaluation time and tokens are not training

        def on_save(self, args, state, control, **kwargs):
            self.throughput.restart(self.counts(state))

        def on_log(self, args, state, control, logs=None, **kwargs):
            _check_finite(logs or {}, state.global_step)  # before the bad point reaches the curve
            self._write(state, logs or {})

        def _write(self, state, logs: dict):
            elapsed = time.time() - self.started
            tokens = self.counts(state)[0] or logs.get("num_tokens", 0)  # GRPO counts its own
            if "loss" in logs:
                step = state.global_step
                self.log.write(
                    "log",
                    step=step,
                    total_steps=state.max_steps,
                    epoch=round(state.epoch or 0.0, 4),
                    loss=logs["loss"],
                    learning_rate=logs.get("learning_rate"),
                    grad_norm=logs.get("grad_norm"),
                    tokens_per_s=round(tokens / elapsed, 1) if elapsed else None,
                    **self.throughput.window(),  # real_tokens_per_s, padding_share: training time only
                    elapsed_s=round(elapsed, 2),
                    eta_s=round(elapsed / step * (state.max_steps - step), 1) if step else None,
                    # Stage metrics as the trainer names them, e.g. DPO's rewards/margins, a reward model's accuracy.
                    **{k: v for k, v in logs.items() if k not in STANDARD_LOG_KEYS and not k.startswith("eval_")},
                )
            if "eval_loss" in logs:
                self.log.write(
                    "eval",
                    step=state.global_step,
                    epoch=round(state.epoch or 0.0, 4),
                    perplexity=math.exp(min(logs["eval_loss"], 50.0)),
                    **{k: v for k, v in logs.items() if k.startswith("eval_")},
                )
            if "loss" in logs:
                self.log.write("resources", step=state.global_step, **self.resources.sample())

    return EventCallback


# ---------------------------------------------------------------------------------------------------------
# Trainer


def training_arguments(config: RunConfig, run_dir: Path, has_validation: bool, args_class=None, **extra):
    """TrainingArguments from the config, or a TRL subclass of it (`args_class`) with its own `extra` options
    (which win over the shared ones)."""
    import torch
    from transformers import TrainingArguments

    train, evaluation = config.train, config.eval
    precision = distributed.mixed_precision(config)
    on_gpu = torch.cuda.is_available()
    eval_strategy = "no"
    if has_validation:
        eval_strategy = "steps" if evaluation.eval_steps else "epoch"
    options = dict(
        output_dir=str(run_dir),
        num_train_epochs=train.num_train_epochs,
        max_steps=train.max_steps or -1,
        learning_rate=train.learning_rate,
        per_device_train_batch_size=train.per_device_train_batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        lr_scheduler_type=train.lr_scheduler_type,
        warmup_steps=train.warmup_ratio,  # a float in [0, 1) is a ratio of total steps
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        logging_steps=train.logging_steps,
        logging_first_step=True,  # the first curve point comes at step 1, not step N
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit or None,
        seed=train.seed,
        activation_checkpointing=train.gradient_checkpointing,
        eval_strategy=eval_strategy,
        eval_steps=evaluation.eval_steps or None,
        per_device_eval_batch_size=evaluation.per_device_eval_batch_size,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not on_gpu,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_pin_memory=on_gpu,
        # TensorBoard gets its own callback writing into the run folder (extra_callbacks); these others log
        # where their own settings say (WANDB_PROJECT, MLFLOW_TRACKING_URI, ...).
        report_to=list(train.report_to) or "none",
        disable_tqdm=True,
        logging_nan_inf_filter=False,  # a NaN loss must reach the event callback, which fails the run on it
        neftune_noise_alpha=train.neftune_noise_alpha or None,
        **distributed.training_options(config, run_dir),
    )
    if keeps_best(config) and has_validation:
        # Checkpoints at every evaluation, so that the best one exists to be kept and loaded at the end.
        options.update(load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False,
                       save_strategy=eval_strategy, save_steps=evaluation.eval_steps or train.save_steps)
    speed = training_options(plan_speed(config))  # Liger, torch.compile, the token count packing needs
    user = parse_extra_args(train.extra_args)  # checked by validate(): none of them is one of the above
    return (args_class or TrainingArguments)(**{**options, **speed, **extra, **user})


def keeps_best(config: RunConfig) -> bool:
    return bool(config.eval.early_stopping_patience or config.eval.load_best_model_at_end)


def planned_steps(config: RunConfig, train_examples: int) -> int:
    """Optimizer steps the run will take, as the Trainer will count them."""
    if config.train.max_steps:
        return config.train.max_steps
    return max(1, math.ceil(epoch_steps(config, train_examples) * config.train.num_train_epochs))


def epoch_steps(config: RunConfig, train_examples: int) -> int:
    """Optimizer steps in one pass over `train_examples` rows."""
    per_step = config.train.per_device_train_batch_size * config.train.gradient_accumulation_steps
    return math.ceil(train_examples * stage_of(config).samples_per_example(config) / per_step)


def prepare_model(context: RunContext, train_examples: int):
    """The base model (quantised if asked, with a score head for reward models) with the fine-tuning type
    applied. Seeded first, as adapter initialisation draws random numbers before the Trainer seeds."""
    from transformers import set_seed

    config, reward_head = context.config, context.stage.reward_head
    context.log.write("phase", phase="load_model")
    set_seed(config.train.seed)
    plan = plan_speed(config)
    model = load_model(config.model, quantize=True, reward_head=reward_head, attention=plan.attention)
    method_context = MethodContext(
        total_steps=planned_steps(config, train_examples),
        quantized=config.model.quantization != "none",
        task_type="SEQ_CLS" if reward_head else "CAUSAL_LM",
    )
    model = apply_method(model, config.method, method_context)
    if config.train.gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need a grad-carrying input under PEFT
    if plan.packing:
        model.config.use_cache = False  # a cache, even an empty one, turns off transformers' packed-row handling
    if plan.label_logits:
        compute_logits_at_labels_only(model)  # leaves models with their own logit transform as they are
    return model


def optimizers(model, config: RunConfig) -> tuple:
    """(optimizer, scheduler) for the Trainer: LoRA+ needs its own optimizer; (None, None) = the default."""
    if config.method.finetuning_type == "lora" and config.method.loraplus_lr_ratio > 0:
        return loraplus_optimizer(model, config.method, config.train.learning_rate, config.train.weight_decay), None
    return None, None


def event_callback(context: RunContext, model, tally=None, **start_fields):
    """The EventCallback; its start event also says what the speed plan switched on and why."""
    trainable, total = count_parameters(model)
    experts = expert_note(model, context.config.method)
    fields = {"trainable_params": trainable, "total_params": total, "strategy": distributed.strategy(context.config),
              "speed": plan_speed(context.config).notes + context.notes, **({"experts": experts} if experts else {}),
              **start_fields}
    return _trainer_callback()(context.log, context.stop_requested, fields, tally)


def build_trainer(context: RunContext, train, validation, tokenizer, trainer_class=None, args_class=None,
                  collator=None, data: dict | None = None, trainer_options: dict | None = None,
                  examples: tuple[int, int] | None = None, **args_extra):
    """The ready-to-train trainer of a stage: `train` / `validation` datasets, the model prepared for the method,
    the shared arguments (`args_class`: a TRL subclass of TrainingArguments, `args_extra` its own options),
    the event callback (`data`: the start event's summary of the data), and `trainer_options` for the
    trainer itself (TRL's reward functions, say). Default: transformers' Trainer with `collator`; a collator with
    a `tally` (engine/train/packing.py) has its real and padded tokens counted as they are trained on.
    `examples`: (train, validation) examples when the datasets hold packed rows of several."""
    from transformers import Trainer

    config = context.config
    model = prepare_model(context, len(train))
    tally = getattr(collator, "tally", None)
    if tally is not None:
        count_tokens(model, tally)
    train_examples, val_examples = examples or (len(train), len(validation or []))
    callback = event_callback(context, model, tally, train_examples=train_examples, val_examples=val_examples,
                              **({"data": data} if data else {}))
    options = {"data_collator": collator} if collator is not None else {}
    return (trainer_class or Trainer)(
        model=model,
        args=training_arguments(config, context.run_dir, validation is not None, args_class, **args_extra),
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        callbacks=[callback, *extra_callbacks(config, context.run_dir, validation is not None)],
        optimizers=optimizers(model, config),
        **options,
        **(trainer_options or {}),
    )


def extra_callbacks(config: RunConfig, run_dir: Path, has_validation: bool) -> list:
    """Early stopping when asked (it needs evaluations), and TensorBoard event files in the run folder."""
    from transformers import EarlyStoppingCallback
    from transformers.integrations import TensorBoardCallback, is_tensorboard_available

    callbacks = []
    if config.eval.early_stopping_patience and has_validation:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.eval.early_stopping_patience))
    if is_tensorboard_available():  # a dependency; an environment without it still trains
        tensorboard = TensorBoardCallback()
        tensorboard.logging_dir = str(run_dir / TENSORBOARD_DIR)  # not runs/<time>_<host>: one folder per run
        callbacks.append(tensorboard)
    return callbacks


def finish(trainer, context: RunContext) -> str:
    """Train (resuming if asked), save the result, and say whether the run completed or was stopped. A run
    that early stopping ended has completed: its note says where it stopped and which step was best."""
    if context.stop_requested():
        return "stopped"
    trainer.train(resume_from_checkpoint=context.resume_from)
    save_final(trainer, context.config, context.run_dir)
    state = trainer.state
    if state.global_step >= state.max_steps:
        return "completed"
    if stopped_early(trainer) and not context.stop_requested():
        best = state.best_global_step
        context.outcome_fields.update(early_stop_step=state.global_step, best_step=best,
                                      note=say("train.early_stop", step=state.global_step, best=best))
        return "completed"
    return "stopped"


def stopped_early(trainer) -> bool:
    from transformers import EarlyStoppingCallback

    return any(isinstance(callback, EarlyStoppingCallback)
               and callback.early_stopping_patience_counter >= callback.early_stopping_patience
               for callback in trainer.callback_handler.callbacks)


def save_final(trainer, config: RunConfig, run_dir: Path) -> None:
    """The adapter (LoRA) or whole model, plus the tokenizer carrying the chat template that was trained;
    never weights that are NaN or infinite."""
    broken = non_finite_count(trainer.model)
    if broken:
        raise TrainingNotFinite(say("train.weights_not_finite", count=broken))
    tokenizer = trainer.processing_class
    tokenizer.chat_template = load_template(config.model.template, tokenizer).source
    trainer.save_model(str(run_dir / FINAL_DIR))  # every rank: FSDP and ZeRO-3 gather the shards to save
    if trainer.args.should_save:  # rank 0 only: two ranks writing one file could interleave
        tokenizer.save_pretrained(str(run_dir / FINAL_DIR))


