"""Stages that learn from preference pairs (prompt, chosen answer, rejected answer), through TRL.

  rm    a reward model: the base with a one-score head, trained so chosen scores above rejected;
        its validation accuracy is the share of pairs it orders correctly
  dpo   direct preference optimisation (loss sigmoid / ipo / hinge), the reference model being the base
        with the adapter switched off under PEFT; `simpo` uses TRL's CPO trainer (reference-free)
  orpo  odds-ratio preference optimisation: SFT and preference in one loss, no reference model
  kto   Kahneman-Tversky optimisation on unpaired answers marked good or bad; a pair gives one of each

TRL renders the conversations with the tokenizer's chat template, so the run's template is put there first.

Rows that cannot train within data.cutoff_len are dropped before TRL sees them (`fitting_rows`): a prompt that
alone fills the cutoff leaves an empty answer, whose average log-probability ORPO and SimPO compute as 0/0 =
NaN (the weights then go NaN too), and the reward trainer drops over-long pairs itself, down to none at all.
When nothing is left the run fails before the model loads, with numbers; the preflight asks the same first.
"""
from __future__ import annotations

from engine.data.conversion import load_kto_examples, load_preference_pairs
from engine.data.registry import get_entry
from engine.messages import Message, say
from engine.train.trainer import RunContext
from engine.train.stages.trl_trainer import run_tokenizer, train_with_trl


class NothingToTrain(ValueError):
    """Every example is too long for data.cutoff_len: `message` says how many and the shortest."""

    def __init__(self, message: Message):
        super().__init__(message)
        self.message = message


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def paired_rows(config) -> list[dict]:
    """{"prompt": messages, "chosen": [reply], "rejected": [reply]} for every pair of every dataset."""
    pairs = [pair for name in config.data.datasets for pair in load_preference_pairs(name, config.data.max_samples)]
    return [
        {"prompt": p["prompt"], "chosen": _assistant(p["chosen"]), "rejected": _assistant(p["rejected"])}
        for p in pairs
    ]


def unpaired_rows(config) -> list[dict]:
    """{"prompt", "completion", "label"} rows: from KTO datasets as they are, from ranking datasets two per pair."""
    rows = []
    for name in config.data.datasets:
        if get_entry(name).ranking:
            for pair in load_preference_pairs(name, config.data.max_samples):
                rows.append({"prompt": pair["prompt"], "completion": _assistant(pair["chosen"]), "label": True})
                rows.append({"prompt": pair["prompt"], "completion": _assistant(pair["rejected"]), "label": False})
        else:
            for example in load_kto_examples(name, config.data.max_samples):
                messages = example["messages"]
                rows.append({"prompt": messages[:-1], "completion": messages[-1:], "label": example["label"]})
    return rows


def reward_rows(config) -> list[dict]:
    """Whole conversations ending in the chosen or the rejected reply, as TRL's reward trainer takes them."""
    return [
        {"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in paired_rows(config)
    ]


# ---------------------------------------------------------------------------------------------------------
# What fits in data.cutoff_len


def _tokens(tokenizer, messages: list[dict], generation_prompt: bool) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def row_tokens(row: dict, tokenizer) -> int:
    """The tokens that must fit for the row to train: a reward row's longer whole conversation, another
    row's prompt plus one answer token (the prompt with its generation prompt, +1)."""
    if "prompt" not in row:
        return max(_tokens(tokenizer, row[key], False) for key in ("chosen", "rejected"))
    return _tokens(tokenizer, row["prompt"], True) + 1


def fitting_rows(rows: list[dict], tokenizer, cutoff_len: int, stage: str) -> tuple[list[dict], int]:
    """(the rows that fit in `cutoff_len` tokens, how many were dropped). Raises NothingToTrain with the
    numbers when none fits."""
    lengths = [row_tokens(row, tokenizer) for row in rows]
    kept = [row for row, length in zip(rows, lengths) if length <= cutoff_len]
    if rows and not kept:
        what = say("train.unit.pairs" if stage == "rm" else "train.unit.prompts")
        raise NothingToTrain(
            say(
                "train.nothing_fits",
                count=len(rows),
                what=what,
                cutoff_len=cutoff_len,
                shortest=min(lengths),
                stage=stage,
            )
        )
    return kept, len(rows) - len(kept)


STAGE_ROWS = {"rm": reward_rows, "dpo": paired_rows, "orpo": paired_rows, "kto": unpaired_rows}


def nothing_left_problem(config, at_most: int = 0) -> Message | None:
    """Why no example of a preference stage's data fits in data.cutoff_len, or None (the preflight asks).
    With `at_most`, data with more examples than that is not judged (None): only a part of it was read."""
    rows = STAGE_ROWS[config.method.stage](config)
    if at_most and len(rows) > at_most:
        return None
    try:
        fitting_rows(rows, run_tokenizer(config), config.data.cutoff_len, config.method.stage)
    except NothingToTrain as err:
        return err.message
    return None


# ---------------------------------------------------------------------------------------------------------


def _train(context: RunContext, rows: list[dict], trainer_class, args_class, **options) -> str:
    # TRL cuts every conversation at max_length tokens: the run's cutoff.
    config, tokenizer = context.config, run_tokenizer(context.config)
    rows, dropped = fitting_rows(rows, tokenizer, config.data.cutoff_len, config.method.stage)
    if dropped:
        print(
            say("train.rows_dropped", dropped=dropped, total=dropped + len(rows), cutoff_len=config.data.cutoff_len),
            flush=True,
        )
    return train_with_trl(
        context, rows, trainer_class, args_class, tokenizer=tokenizer, max_length=config.data.cutoff_len, **options
    )


def run_reward(context: RunContext) -> str:
    from trl import RewardConfig, RewardTrainer

    return _train(context, reward_rows(context.config), RewardTrainer, RewardConfig)


def run_dpo(context: RunContext) -> str:
    method = context.config.method
    if method.pref_loss == "simpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        return _train(
            context,
            paired_rows(context.config),
            CPOTrainer,
            CPOConfig,
            loss_type="simpo",
            cpo_alpha=0.0,
            beta=method.pref_beta,
            simpo_gamma=method.simpo_gamma,
        )
    from trl import DPOConfig, DPOTrainer

    return _train(
        context,
        paired_rows(context.config),
        DPOTrainer,
        DPOConfig,
        beta=method.pref_beta,
        loss_type=[method.pref_loss],
    )


def run_orpo(context: RunContext) -> str:
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return _train(context, paired_rows(context.config), ORPOTrainer, ORPOConfig, beta=context.config.method.pref_beta)


def run_kto(context: RunContext) -> str:
    from trl import KTOConfig, KTOTrainer

    return _train(context, unpaired_rows(context.config), KTOTrainer, KTOConfig, beta=context.config.method.pref_beta)
