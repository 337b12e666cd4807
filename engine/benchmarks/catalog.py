"""The standard benchmarks the studio offers, by their lm-evaluation-harness names, grouped by language.

Each entry names the folder of lm-eval's own task configs that defines it: indexing those few folders takes a
second, where lm-eval's full index (over 14,000 tasks) takes minutes on a busy CPU. A name outside this table is
still accepted (the CLI's --tasks): it is looked up in the full index.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    name: str  # the lm-eval task or group name
    language: str  # "en" | "zh": how the UI groups it
    folder: str  # under lm_eval/tasks/
    title: str  # what the dataset is called on the Hub, for messages ("C-Eval needs its data ...")


BENCHMARKS = (
    Benchmark("mmlu", "en", "mmlu/default", "MMLU"),
    Benchmark("arc_easy", "en", "arc", "ARC-Easy"),
    Benchmark("arc_challenge", "en", "arc", "ARC-Challenge"),
    Benchmark("hellaswag", "en", "hellaswag", "HellaSwag"),
    Benchmark("gsm8k", "en", "gsm8k", "GSM8K"),
    Benchmark("ifeval", "en", "ifeval", "IFEval"),
    Benchmark("ceval-valid", "zh", "ceval", "C-Eval"),
    Benchmark("cmmlu", "zh", "cmmlu", "CMMLU"),
)
BY_NAME = {benchmark.name: benchmark for benchmark in BENCHMARKS}
LOCAL_PREFIX = "local:"  # a registered dataset as a task: local:<dataset name>


def names_in(language: str) -> list[str]:
    return [benchmark.name for benchmark in BENCHMARKS if benchmark.language == language]


def title_of(name: str) -> str:
    return BY_NAME[name].title if name in BY_NAME else name


def is_local(name: str) -> bool:
    return name.startswith(LOCAL_PREFIX)
