"""Reward functions for GRPO: each scores a batch of completions, one float per completion, higher = better.

TRL calls them as `reward(prompts=..., completions=..., completion_ids=..., **dataset columns)`; completions
are conversations ([{"role": "assistant", "content": ...}]) because the prompts are. The dataset column
`reference` holds the answer the dataset gives for the prompt.

  reference_rouge  ROUGE-L F1 against the reference answer (0..1; jieba words for Chinese)
  answer_match     1 when the reference's final answer (its last number, else the whole reference, normalised)
                   appears in the completion: the verifiable-answer reward of maths tutorials
  format           1 when the completion matches the run's regular expression as a whole (e.g. think/answer tags)
  brevity          1 − completion tokens / the completion budget: shorter answers score higher
  reward_model     the score of a finished reward-model (rm) run, loaded by the stage, not here
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

from engine.use.metrics import rouge_l, tokenize

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _text(completion) -> str:
    return completion[-1]["content"] if isinstance(completion, list) else completion


def _normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def final_answer(reference: str) -> str:
    """What answer_match looks for: the reference's last number (commas dropped), else the whole reference."""
    numbers = _NUMBER.findall(reference)
    return numbers[-1].replace(",", "") if numbers else _normalised(reference)


def reference_rouge(completions, reference, **_) -> list[float]:
    return [rouge_l(tokenize(_text(c)), tokenize(r)) if tokenize(r) else 0.0 for c, r in zip(completions, reference)]


def answer_match(completions, reference, **_) -> list[float]:
    return [1.0 if _contains(_text(c), final_answer(r)) else 0.0 for c, r in zip(completions, reference)]


def _contains(text: str, answer: str) -> bool:
    if _NUMBER.fullmatch(answer):  # a number must appear as a number: "17" is not found in "170"
        return answer in {number.replace(",", "") for number in _NUMBER.findall(text)}
    return answer in _normalised(text)


def format_reward(pattern: str) -> Callable[..., list[float]]:
    compiled = re.compile(pattern, re.DOTALL)

    def format(completions, **_) -> list[float]:  # the name TRL logs it under: rewards/format/mean
        return [1.0 if compiled.fullmatch(_text(c).strip()) else 0.0 for c in completions]

    return format


def brevity_reward(max_tokens: int) -> Callable[..., list[float]]:
    def brevity(completion_ids, **_) -> list[float]:
        return [1.0 - min(len(ids), max_tokens) / max_tokens for ids in completion_ids]

    return brevity


# The rewards method.grpo_rewards can name (its choices), each made from (format_regex, max_tokens);
# reward_model is None here: the stage loads that model itself.
REWARDS: dict[str, Callable | None] = {
    "reference_rouge": lambda format_regex, max_tokens: reference_rouge,
    "answer_match": lambda format_regex, max_tokens: answer_match,
    "format": lambda format_regex, max_tokens: format_reward(format_regex),
    "brevity": lambda format_regex, max_tokens: brevity_reward(max_tokens),
    "reward_model": None,
}


def reward_functions(names: list[str], format_regex: str, max_tokens: int) -> list[Callable]:
    """The callables for `names` (reward_model excluded: the stage loads that model itself)."""
    return [REWARDS[name](format_regex, max_tokens) for name in names if REWARDS[name] is not None]
