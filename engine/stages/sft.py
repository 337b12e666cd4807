"""Supervised fine-tuning: chat conversations, only the assistant replies trained."""
from __future__ import annotations

from ..config import RunConfig
from ..data import load_conversations
from ..encoding import IGNORE, EncodeStats, encode_conversations
from ..models import load_tokenizer
from ..templates import load_template
from ..training import (RunContext, event_callback, finish, optimizers, prepare_model, split_examples,
                        training_arguments)


def build_sft_examples(config: RunConfig, tokenizer) -> tuple[list[dict], list[dict], EncodeStats]:
    """Encoded train and validation examples of every chosen dataset, split with the run's seed."""
    template = load_template(config.model.template, tokenizer)
    conversations = [
        messages for name in config.data.datasets for messages in load_conversations(name, config.data.max_samples)
    ]
    examples, stats = encode_conversations(
        conversations, template, tokenizer, config.data.cutoff_len, config.data.train_on_prompt
    )
    return (*split_examples(examples, config), stats)


def build_sft_trainer(context: RunContext):
    """The ready-to-train Trainer for an SFT run (tests inspect it before and after `train()`)."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer

    config = context.config
    tokenizer = load_tokenizer(config.model)
    train_examples, val_examples, stats = build_sft_examples(config, tokenizer)
    model = prepare_model(context, len(train_examples))
    callback = event_callback(
        context, model, train_examples=len(train_examples), val_examples=len(val_examples), data=stats.summary()
    )
    return Trainer(
        model=model,
        args=training_arguments(config, context.run_dir, bool(val_examples)),
        train_dataset=Dataset.from_list(train_examples),
        eval_dataset=Dataset.from_list(val_examples) if val_examples else None,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE),
        processing_class=tokenizer,
        callbacks=[callback],
        optimizers=optimizers(model, config),
    )


def run_sft(context: RunContext) -> str:
    return finish(build_sft_trainer(context), context)
