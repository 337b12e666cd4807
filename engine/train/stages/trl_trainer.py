"""The one way a stage trains through a TRL trainer: rows in, the run's template on the tokenizer, the model
prepared for the method, the shared arguments and event callback, then the clean finish."""
from __future__ import annotations

from engine.models.loading import load_tokenizer
from engine.models.templates import load_template
from engine.train.trainer import RunContext, event_callback, finish, optimizers, prepare_model, split_dataset, training_arguments


def run_tokenizer(config):
    """The base tokenizer carrying the run's chat template: TRL renders conversations with it."""
    tokenizer = load_tokenizer(config.model)
    tokenizer.chat_template = load_template(config.model.template, tokenizer).source
    return tokenizer


def train_with_trl(context: RunContext, rows: list[dict], trainer_class, args_class, reward_head: bool = False,
                   trainer_options: dict | None = None, data: dict | None = None, tokenizer=None, **args_extra) -> str:
    """Train `trainer_class` on `rows` (split by the run's seed). `trainer_options` go to the trainer,
    `args_extra` to its `args_class`; `data` is the start event's summary of the data; `tokenizer` defaults
    to run_tokenizer()."""
    from datasets import Dataset

    config = context.config
    train, validation = split_dataset(Dataset.from_list(rows), config)
    model = prepare_model(context, len(train), reward_head=reward_head)
    callback = event_callback(context, model, train_examples=len(train), val_examples=len(validation or []),
                              **({"data": data} if data else {}))
    args = training_arguments(
        config, context.run_dir, validation is not None, args_class=args_class, **args_extra,
    )
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer or run_tokenizer(config),
        callbacks=[callback],
        optimizers=optimizers(model, config),
        **(trainer_options or {}),
    )
    return finish(trainer, context)
