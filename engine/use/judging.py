"""Blind A/B judging: a person reads two models' replies to the same prompt in a hidden, random order and
says which is better; the win rate of model A comes with a 95% confidence interval.

judgements.jsonl, one line per judged prompt, in the folder of the run being judged (model A):
  {"prompt", "a", "b" (the two models' labels), "reply_a", "reply_b", "shown_first": "a" | "b",
   "verdict": "a" | "b" | "tie", "time"}
The order shown is recorded, so that a reader can check it was hidden (both orders occur).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

JUDGEMENTS_FILE = "judgements.jsonl"
VERDICTS = ("a", "b", "tie")
Z_95 = 1.959964  # the normal quantile of a two-sided 95% interval


@dataclass
class BlindPair:
    """One prompt as the judge sees it: `first` and `second` are the replies in the order shown."""

    prompt: str
    first: str
    second: str
    shown_first: str  # which model's reply is `first`: "a" or "b"


def blind_pairs(rows: list[dict], seed: int | None = None) -> list[BlindPair]:
    """Rows of a side-by-side comparison (prompt, prediction_a, prediction_b) with each pair's order drawn
    at random, so that the judge cannot tell which model wrote which."""
    draw = random.Random(seed)
    pairs = []
    for row in rows:
        replies = (row["prediction_a"], row["prediction_b"])
        a_first = draw.random() < 0.5
        first, second = replies if a_first else replies[::-1]
        pairs.append(BlindPair(row["prompt"], first, second, "a" if a_first else "b"))
    return pairs


def verdict_of(pair: BlindPair, choice: str) -> str:
    """The judge's choice about the order shown ("first", "second", "tie") as a verdict about the models."""
    if choice == "tie":
        return "tie"
    other = "b" if pair.shown_first == "a" else "a"
    return {"first": pair.shown_first, "second": other}[choice]


def record_judgement(folder: Path, pair: BlindPair, choice: str, label_a: str, label_b: str) -> dict:
    reply_a, reply_b = (pair.first, pair.second) if pair.shown_first == "a" else (pair.second, pair.first)
    record = {"prompt": pair.prompt, "a": label_a, "b": label_b, "reply_a": reply_a, "reply_b": reply_b,
              "shown_first": pair.shown_first, "verdict": verdict_of(pair, choice), "time": round(time.time(), 3)}
    with (Path(folder) / JUDGEMENTS_FILE).open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def read_judgements(folder: Path) -> list[dict]:
    path = Path(folder) / JUDGEMENTS_FILE
    if not path.exists():
        return []
    judgements = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short; the others still count
        if isinstance(record, dict) and record.get("verdict") in VERDICTS:
            judgements.append(record)
    return judgements


@dataclass
class WinRate:
    """Model A's wins, losses and ties; rate = (wins + ties / 2) / judged, with its Wilson 95% interval."""

    wins: int
    losses: int
    ties: int
    rate: float
    low: float
    high: float

    @property
    def judged(self) -> int:
        return self.wins + self.losses + self.ties

    def __str__(self) -> str:
        return (f"{self.rate:.0%} [{self.low:.0%}–{self.high:.0%}] "
                f"({self.wins} wins, {self.losses} losses, {self.ties} ties)")


def win_rate(judgements: list[dict]) -> WinRate | None:
    """A tie counts as half a win; the interval is Wilson's score interval, which stays inside [0, 1] and is
    sound for the few dozen judgements a person makes. None when nothing was judged."""
    verdicts = [record["verdict"] for record in judgements]
    wins, losses, ties = (verdicts.count(verdict) for verdict in VERDICTS)
    judged = len(verdicts)
    if not judged:
        return None
    rate = (wins + ties / 2) / judged
    centre = (rate + Z_95**2 / (2 * judged)) / (1 + Z_95**2 / judged)
    spread = Z_95 / (1 + Z_95**2 / judged) * math.sqrt(rate * (1 - rate) / judged + Z_95**2 / (4 * judged**2))
    return WinRate(wins, losses, ties, rate, max(0.0, centre - spread), min(1.0, centre + spread))
