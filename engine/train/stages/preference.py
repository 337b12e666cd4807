"""Stages that learn from preference pairs (prompt, chosen answer, rejected answer), through TRL.

  rm    a reward model: the base with a one-score head, trained so chosen scores above rejected;
        its validation accuracy is the share of pairs it orders correctly
  dpo   direct preference optimisation (loss sigmoid / ipo / hinge), the reference model being the base
        with the adapter switched off under PEFT; `simpo` uses TRL's CPO trainer (reference-free)
  orpo  odds-ratio preference optimisation: SFT and preference in one loss, no reference model
  kto   Kahneman-Tversky optimisation on unpaired answers marked good or bad; a pair gives one of each

TRL renders the conversations with the tokenizer's chat template, so the run's template is put there first.
"""
from __future__ import annotations

from engine.data.conversion import load_kto_examples, load_preference_pairs
from engine.data.registry import get_entry
from engine.train.trainer import RunContext
from engine.train.stages.trl_trainer import train_with_trl


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def paired_rows(config) -> list[dict]:
    """{"prompt": messages, "chosen": [reply], "rejected": [reply]} for every pair of every dataset."""
    pairs = [pair for name in config.data.datasets for pair in load_preference_pairs(name, config.data.max_samples)]
    return [{"prompt": p["prompt"], "chosen": _assistant(p["chosen"]), "rejected": _assistant(p["rejected"])} for p in pairs]


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
    return [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in paired_rows(config)]


# ---------------------------------------------------------------------------------------------------------


def _train(context: RunContext, rows: list[dict], trainer_class, args_class, **options) -> str:
    # TRL cuts every conversation at max_length tokens: the run's cutoff.
    return train_with_trl(context, rows, trainer_class, args_class, max_length=context.config.data.cutoff_len, **options)


def run_reward(context: RunContext) -> str:
    from trl import RewardConfig, RewardTrainer

    return _train(context, reward_rows(context.config), RewardTrainer, RewardConfig)


def run_dpo(context: RunContext) -> str:
    method = context.config.method
    if method.pref_loss == "simpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        return _train(context, paired_rows(context.config), CPOTrainer, CPOConfig, loss_type="simpo",
                      cpo_alpha=0.0, beta=method.pref_beta, simpo_gamma=method.simpo_gamma)
    from trl import DPOConfig, DPOTrainer

    return _train(context, paired_rows(context.config), DPOTrainer, DPOConfig, beta=method.pref_beta,
                  loss_type=[method.pref_loss])


def run_orpo(context: RunContext) -> str:
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return _train(context, paired_rows(context.config), ORPOTrainer, ORPOConfig, beta=context.config.method.pref_beta)


def run_kto(context: RunContext) -> str:
    from trl import KTOConfig, KTOTrainer

    return _train(context, unpaired_rows(context.config), KTOTrainer, KTOConfig, beta=context.config.method.pref_beta)
