"""A model as the judge: replies graded by any OpenAI-compatible endpoint (a cloud API with a key, a local
llama.cpp server, the studio's own `serve`), through the `openai` client.

Two ways to judge, each a prompt the user can read and edit before it runs:
  rubric    one reply at a time, a score from 1 to 10 with reasons
  pairwise  reply A against reply B, asked in both orders: a model that prefers whatever comes first cannot
            make either side win (position bias, Zheng et al. 2023, MT-Bench): the two answers must agree for a
            win; a win in one order and a loss or tie in the other is a tie
A judge's answer that does not end in the asked-for line (`Score: N`, `Verdict: A|B|tie`) is "no verdict": it
never counts as a win or a score. The work is bounded before it starts: rows × calls, and max_tokens per reply
(estimate_cost says how much, in tokens, before anything is sent).

judge.jsonl, one line per judged row, in the folder of model A (a run): {"prompt", "a", "b", "reply_a",
"reply_b", "verdict": "a"|"b"|"tie"|"none", "orders": [first-order, second-order verdicts], "reasons": [...],
"time"} — the blind A/B file's fields, so that compare shows the judge's win rate beside a person's.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from engine.messages import say

JUDGE_FILE = "judge.jsonl"
NO_VERDICT = "none"
MODES = ("pairwise", "rubric")
KEY_VARIABLE = "JUDGE_API_KEY"  # where the key comes from when no key file is given (then OPENAI_API_KEY)
CHARS_PER_TOKEN = 3.0  # a cautious estimate for English and Chinese alike (a Chinese character is ~1 token)

PAIRWISE_PROMPT = """You are a strict, fair judge. Compare two assistants' replies to the user's question.
Judge helpfulness, correctness and clarity; ignore which reply comes first and how long it is.

[Question]
{question}

[Reply A]
{first}

[Reply B]
{second}

Give your reasons in one or two sentences, then on the last line write exactly one of:
Verdict: A
Verdict: B
Verdict: tie"""

RUBRIC_PROMPT = """You are a strict, fair judge. Rate the assistant's reply to the user's question on a scale
of 1 (useless or wrong) to 10 (correct, complete and clear).

[Question]
{question}

[Reply]
{reply}

Give your reasons in one or two sentences, then on the last line write exactly:
Score: <a whole number from 1 to 10>"""

PROMPTS = {"pairwise": PAIRWISE_PROMPT, "rubric": RUBRIC_PROMPT}
PLACEHOLDERS = {"pairwise": ("{question}", "{first}", "{second}"), "rubric": ("{question}", "{reply}")}

VERDICT_LINE = re.compile(r"^\W*verdict\W*[:：]\W*(a|b|tie)\W*$", re.IGNORECASE | re.MULTILINE)
SCORE_LINE = re.compile(r"^\W*score\W*[:：]\s*(10|[1-9])(?:\s*/\s*10)?\W*$", re.IGNORECASE | re.MULTILINE)


class JudgeError(ValueError):
    """A judge that cannot run: no endpoint, a prompt without its placeholders, an unknown mode."""


@dataclass
class Endpoint:
    base_url: str  # e.g. https://api.deepseek.com/v1 or http://127.0.0.1:8000/v1
    model: str = ""  # the judge model's name ("" = what the server serves first)
    api_key: str = ""


@dataclass
class JudgePlan:
    mode: str = "pairwise"
    prompt: str = ""  # "" = the default of the mode
    max_rows: int = 20
    max_tokens: int = 256  # per judge reply
    temperature: float = 0.0

    def template(self) -> str:
        return self.prompt or PROMPTS[self.mode]


@dataclass
class Verdict:
    """One row judged: the verdict about the models (pairwise) or A's score (rubric), and the judge's words."""

    prompt: str
    verdict: str  # pairwise: a | b | tie | none; rubric: the score as text, or none
    orders: list[str] = field(default_factory=list)  # pairwise: the verdict of each order, about the models
    reasons: list[str] = field(default_factory=list)  # the judge's replies, as written


# ---------------------------------------------------------------------------------------------------------
# Set-up: the endpoint, the prompt, the cost


def read_api_key(key_file: str = "") -> str:
    """The key from a file (its first line), else $JUDGE_API_KEY, else $OPENAI_API_KEY; "" for a local server
    that wants none. The key is never written anywhere by the studio."""
    if key_file:
        lines = Path(key_file).expanduser().read_text(encoding="utf-8").splitlines()
        return lines[0].strip() if lines else ""
    return os.environ.get(KEY_VARIABLE) or os.environ.get("OPENAI_API_KEY", "")


def check_plan(plan: JudgePlan) -> None:
    if plan.mode not in MODES:
        raise JudgeError(say("judge.unknown_mode", mode=plan.mode, modes=", ".join(MODES)))
    missing = [name for name in PLACEHOLDERS[plan.mode] if name not in plan.template()]
    if missing:
        raise JudgeError(say("judge.prompt_placeholders", missing=", ".join(missing)))
    if plan.max_rows < 1 or plan.max_tokens < 1:
        raise JudgeError(say("judge.bounds"))


def estimate_cost(plan: JudgePlan, rows: list[dict]) -> dict:
    """Calls, prompt tokens (estimated from characters) and the most reply tokens a judging would use."""
    rows = rows[: plan.max_rows]
    prompts = [prompt for row in rows for prompt in _prompts(plan, row)]
    prompt_tokens = round(sum(len(prompt) for prompt in prompts) / CHARS_PER_TOKEN)
    return {"rows": len(rows), "calls": len(prompts), "prompt_tokens": prompt_tokens,
            "max_reply_tokens": len(prompts) * plan.max_tokens}


def _prompts(plan: JudgePlan, row: dict) -> list[str]:
    """The prompts one row needs: both orders (pairwise), or A's reply and, when there is one, B's (rubric)."""
    template = plan.template()
    if plan.mode == "pairwise":
        return [_fill(template, question=row["prompt"], first=row["reply_a"], second=row["reply_b"]),
                _fill(template, question=row["prompt"], first=row["reply_b"], second=row["reply_a"])]
    replies = [row["reply_a"]] + ([row["reply_b"]] if row.get("reply_b") is not None else [])
    return [_fill(template, question=row["prompt"], reply=reply) for reply in replies]


def _fill(template: str, **values: str) -> str:
    """The template with its {placeholders} replaced (str.replace: braces in a reply or an edited prompt are
    text, not format fields)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


# ---------------------------------------------------------------------------------------------------------
# Reading the judge's answer


def parse_pairwise(answer: str) -> str:
    """"first" | "second" | "tie" from the last `Verdict:` line, NO_VERDICT when there is none."""
    found = VERDICT_LINE.findall(answer or "")
    return {"a": "first", "b": "second", "tie": "tie"}[found[-1].lower()] if found else NO_VERDICT


def parse_score(answer: str) -> int | None:
    found = SCORE_LINE.findall(answer or "")
    return int(found[-1]) if found else None


def combine_orders(first_order: str, second_order: str) -> tuple[str, list[str]]:
    """The verdict about the models from both orders: A was shown first in the first order, second in the
    second. Both must agree for a win; one order without a verdict leaves the row without one."""
    in_first = {"first": "a", "second": "b", "tie": "tie"}.get(first_order, NO_VERDICT)
    in_second = {"first": "b", "second": "a", "tie": "tie"}.get(second_order, NO_VERDICT)
    orders = [in_first, in_second]
    if NO_VERDICT in orders:
        return NO_VERDICT, orders
    return (in_first if in_first == in_second else "tie"), orders


# ---------------------------------------------------------------------------------------------------------
# Running


def client_for(endpoint: Endpoint):
    from openai import OpenAI

    if not endpoint.base_url.strip():
        raise JudgeError(say("judge.no_endpoint"))
    # A local server takes any key; the client insists on one.
    return OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key or "none", max_retries=1, timeout=300)


def ask(client, endpoint: Endpoint, plan: JudgePlan, prompt: str) -> str:
    reply = client.chat.completions.create(model=endpoint.model, messages=[{"role": "user", "content": prompt}],
                                           max_tokens=plan.max_tokens, temperature=plan.temperature)
    return reply.choices[0].message.content or ""


def judge_rows(endpoint: Endpoint, plan: JudgePlan, rows: list[dict],
               stop: Callable[[], bool] = lambda: False) -> Iterator[Verdict]:
    """Judge rows {"prompt", "reply_a", "reply_b"} one by one (at most plan.max_rows), yielding each verdict."""
    check_plan(plan)
    client = client_for(endpoint)
    if not endpoint.model:
        endpoint.model = client.models.list().data[0].id
    for row in rows[: plan.max_rows]:
        if stop():
            return
        answers = [ask(client, endpoint, plan, prompt) for prompt in _prompts(plan, row)]
        if plan.mode == "pairwise":
            verdict, orders = combine_orders(*(parse_pairwise(answer) for answer in answers))
        else:
            scores = [parse_score(answer) for answer in answers]
            orders = [str(score) if score is not None else NO_VERDICT for score in scores]
            verdict = orders[0]
        yield Verdict(row["prompt"], verdict, orders, answers)


# ---------------------------------------------------------------------------------------------------------
# Results


def summarize(verdicts: list[Verdict], mode: str) -> dict:
    """Pairwise: A's win rate with its Wilson 95% interval over the rows with a verdict (engine/use/judging.py's,
    the same as a person's blind A/B), and how many had none. Rubric: each model's mean score."""
    from engine.use.judging import win_rate

    if mode == "pairwise":
        judged = [{"verdict": v.verdict} for v in verdicts if v.verdict != NO_VERDICT]
        return {"rows": len(verdicts), "no_verdict": len(verdicts) - len(judged), "win_rate": win_rate(judged)}
    columns = list(zip(*(v.orders for v in verdicts))) if verdicts else []
    means = [_mean([int(s) for s in column if s != NO_VERDICT]) for column in columns]
    no_verdict = sum(1 for v in verdicts for s in v.orders if s == NO_VERDICT)
    return {"rows": len(verdicts), "no_verdict": no_verdict, "mean_scores": means}


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def record_verdicts(folder: Path, verdicts: list[Verdict], rows: list[dict], label_a: str, label_b: str,
                    plan: JudgePlan, endpoint: Endpoint) -> Path:
    """Append the verdicts to folder/judge.jsonl (the key is never written)."""
    path = Path(folder) / JUDGE_FILE
    with path.open("a", encoding="utf-8") as out:
        for verdict, row in zip(verdicts, rows):
            record = {"prompt": verdict.prompt, "a": label_a, "b": label_b, "reply_a": row["reply_a"],
                      "reply_b": row.get("reply_b"), "mode": plan.mode, "verdict": verdict.verdict,
                      "orders": verdict.orders, "reasons": verdict.reasons, "judge": endpoint.model,
                      "time": round(time.time(), 3)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def read_verdicts(folder: Path, mode: str = "pairwise") -> list[dict]:
    path = Path(folder) / JUDGE_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short
        if isinstance(record, dict) and record.get("mode") == mode:
            records.append(record)
    return records
