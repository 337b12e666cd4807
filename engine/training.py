"""Turning a RunConfig into a transformers Trainer run inside one run directory.

`STAGES` maps each stage to a function with the same signature; each builds its data, model and trainer
and trains. The event callback writes loss, progress and evaluation to events.jsonl and honours stop
requests at the next step.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Callable

from .config import ConfigError, RunConfig, validate
from .data import load_conversations
from .encoding import EncodeStats, encode_conversations
from .events import EventLog
from .methods import apply_method, count_parameters
from .models import load_model, load_tokenizer, torch_dtype
from .templates import load_template

FINAL_DIR = "final"  # the trained adapter or model, with its tokenizer and chat template


# ---------------------------------------------------------------------------------------------------------
# Events


def _trainer_callback():
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):
        """Streams progress into events.jsonl and turns a stop request into a clean stop-and-save."""

        def __init__(self, log: EventLog, stop_requested: Callable[[], bool], start_fields: dict):
            self.log, self.stop_requested, self.start_fields = log, stop_requested, start_fields
            self.started = time.time()

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.time()
            self.log.write("start", total_steps=state.max_steps, **self.start_fields)

        def on_step_end(self, args, state, control, **kwargs):
            if self.stop_requested():
                control.should_training_stop = True
                control.should_save = True  # a resumable checkpoint at the step where we stopped

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            elapsed = time.time() - self.started
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
                    tokens_per_s=round(state.num_input_tokens_seen / elapsed, 1) if elapsed else None,
                    elapsed_s=round(elapsed, 2),
                    eta_s=round(elapsed / step * (state.max_steps - step), 1) if step else None,
                )
            if "eval_loss" in logs:
                metrics = {k.removeprefix("eval_"): v for k, v in logs.items() if k.startswith("eval_")}
                self.log.write(
                    "eval",
                    step=state.global_step,
                    epoch=round(state.epoch or 0.0, 4),
                    perplexity=math.exp(min(logs["eval_loss"], 50.0)),
                    **{f"eval_{k}": v for k, v in metrics.items()},
                )

    return EventCallback


# ---------------------------------------------------------------------------------------------------------
# Data


def build_sft_examples(config: RunConfig, tokenizer) -> tuple[list[dict], list[dict], EncodeStats]:
    """Encoded train and validation examples of every chosen dataset, split with the run's seed."""
    template = load_template(config.model.template, tokenizer)
    conversations = [
        messages for name in config.data.datasets for messages in load_conversations(name, config.data.max_samples)
    ]
    examples, stats = encode_conversations(
        conversations, template, tokenizer, config.data.cutoff_len, config.data.train_on_prompt
    )
    if not examples:
        raise ValueError("no example is left to train on: every one was empty after truncation; raise cutoff_len")
    random.Random(config.train.seed).shuffle(examples)
    held_out = math.ceil(len(examples) * config.data.val_size) if config.data.val_size else 0
    return examples[held_out:], examples[:held_out], stats


# ---------------------------------------------------------------------------------------------------------
# Trainer


def training_arguments(config: RunConfig, run_dir: Path, has_validation: bool):
    import torch
    from transformers import TrainingArguments

    train, evaluation = config.train, config.eval
    dtype = torch_dtype(config.model.dtype)
    on_gpu = torch.cuda.is_available()
    eval_strategy = "no"
    if has_validation:
        eval_strategy = "steps" if evaluation.eval_steps else "epoch"
    return TrainingArguments(
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
        bf16=on_gpu and dtype == torch.bfloat16,
        fp16=on_gpu and dtype == torch.float16,
        use_cpu=not on_gpu,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_pin_memory=on_gpu,
        report_to="none",
        disable_tqdm=True,
    )


def build_sft_trainer(config: RunConfig, run_dir: Path, log: EventLog, stop_requested: Callable[[], bool]):
    """The ready-to-train Trainer for an SFT run (tests inspect it before and after `train()`)."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer, set_seed

    set_seed(config.train.seed)  # adapter initialisation draws random numbers before the Trainer seeds
    tokenizer = load_tokenizer(config.model)
    train_examples, val_examples, stats = build_sft_examples(config, tokenizer)
    model = apply_method(load_model(config.model), config.method)
    if config.train.gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need a grad-carrying input under PEFT
    trainable, total = count_parameters(model)
    callback = _trainer_callback()(
        log,
        stop_requested,
        {"trainable_params": trainable, "total_params": total, "train_examples": len(train_examples),
         "val_examples": len(val_examples), "data": stats.summary()},
    )
    return Trainer(
        model=model,
        args=training_arguments(config, run_dir, bool(val_examples)),
        train_dataset=Dataset.from_list(train_examples),
        eval_dataset=Dataset.from_list(val_examples) if val_examples else None,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        processing_class=tokenizer,
        callbacks=[callback],
    )


def run_sft(config: RunConfig, run_dir: Path, log: EventLog, stop_requested: Callable[[], bool]) -> str:
    trainer = build_sft_trainer(config, run_dir, log, stop_requested)
    if stop_requested():
        return "stopped"
    trainer.train()
    save_final(trainer, config, run_dir)
    return "stopped" if trainer.state.global_step < trainer.state.max_steps else "completed"


def save_final(trainer, config: RunConfig, run_dir: Path) -> None:
    """The adapter (LoRA) or whole model, plus the tokenizer carrying the chat template that was trained."""
    tokenizer = trainer.processing_class
    tokenizer.chat_template = load_template(config.model.template, tokenizer).source
    trainer.save_model(str(run_dir / FINAL_DIR))
    tokenizer.save_pretrained(str(run_dir / FINAL_DIR))


STAGES = {"sft": run_sft}


def run_training(config: RunConfig, run_dir: Path, log: EventLog, stop_requested: Callable[[], bool]) -> str:
    """Train `config` in `run_dir`; returns the outcome, "completed" or "stopped"."""
    problems = validate(config)
    if problems:
        raise ConfigError(problems)
    return STAGES[config.method.stage](config, Path(run_dir), log, stop_requested)
