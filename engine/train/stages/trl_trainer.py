"""The one way a stage trains through a TRL trainer: rows in, the run's template on the tokenizer, then the
shared Trainer set-up with the TRL trainer and its arguments class."""
from __future__ import annotations

from engine.models.loading import load_tokenizer
from engine.data.split import split_dataset
from engine.data.templates import load_template
from engine.train.trainer import RunContext, build_trainer, finish


def run_tokenizer(config):
    """The base tokenizer carrying the run's chat template: TRL renders conversations with it."""
    tokenizer = load_tokenizer(config.model)
    tokenizer.chat_template = load_template(config.model.template, tokenizer).source
    return tokenizer


def train_with_trl(context: RunContext, rows: list[dict], trainer_class, args_class,
                   trainer_options: dict | None = None, data: dict | None = None, tokenizer=None, **args_extra) -> str:
    """Train `trainer_class` on `rows` (split by the run's seed). `trainer_options` go to the trainer,
    `args_extra` to its `args_class`; `data` is the start event's summary of the data; `tokenizer` defaults
    to run_tokenizer()."""
    from datasets import Dataset

    train, validation = split_dataset(Dataset.from_list(rows), context.config)
    trainer = build_trainer(context, train, validation, tokenizer or run_tokenizer(context.config), trainer_class,
                            args_class, data=data, trainer_options=trainer_options, **args_extra)
    return finish(trainer, context)
