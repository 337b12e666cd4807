"""Text-overlap metrics for generated replies: BLEU-4 and ROUGE-1 / ROUGE-2 / ROUGE-L.

Exact definitions (the README repeats them):

Tokens. The text is lower-cased. Runs of CJK ideographs are segmented into words with jieba (default
dictionary, precise mode); everything else is split into words of letters and digits. Punctuation, symbols
and whitespace are not tokens. "Hello, world!" → [hello, world]; "我喜欢机器学习" → [我, 喜欢, 机器, 学习].

BLEU-4 (per row). p_n = clipped n-gram matches / n-grams in the prediction, for n = 1..4, where a prediction
n-gram matches at most as often as it occurs in the label. p_1 is used as is; p_2..p_4 are add-one smoothed,
(matches + 1) / (n-grams + 1) (Lin & Och 2004, "BLEU+1"), so that one missing 4-gram does not zero a short
reply. BLEU-4 = BP · exp(¼ Σ log p_n), BP = 1 if the prediction is longer than the label, else
exp(1 − label length / prediction length).

ROUGE-N (per row, N = 1, 2). overlap = Σ over n-grams of min(count in prediction, count in label);
precision = overlap / prediction n-grams, recall = overlap / label n-grams, score = F1 = 2PR / (P + R).

ROUGE-L (per row). The same F1 with overlap = length of the longest common subsequence of the token lists
(precision over prediction tokens, recall over label tokens).

Edge cases: a row where both texts have no tokens scores 100 on every metric; a row where only one side is
empty scores 0. Every score is in [0, 100]; a dataset's score is the plain mean of its rows' scores.
"""
from __future__ import annotations

import math
import re
from collections import Counter

METRICS = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")

# CJK Unified Ideographs, Extension A and the compatibility block: the characters jieba segments.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(f"([{_HAN}]+)|([^\\W_{_HAN}]+)")


# ---------------------------------------------------------------------------------------------------------
# Tokens


def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces its dictionary load on stderr otherwise
    return jieba


def tokenize(text: str) -> list[str]:
    """Words for scoring: jieba words for Chinese runs, letter/digit words elsewhere, lower-cased."""
    tokens = []
    for han, word in _TOKEN_RE.findall(text.lower()):
        if han:
            tokens.extend(piece for piece in _jieba().lcut(han) if piece.strip())
        else:
            tokens.append(word)
    return tokens


def ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def clipped_overlap(prediction: list[str], label: list[str], n: int) -> tuple[int, int, int]:
    """(matching n-grams, prediction n-grams, label n-grams); a match counts at most as often as in the label."""
    predicted, expected = ngrams(prediction, n), ngrams(label, n)
    matches = sum(min(count, expected[gram]) for gram, count in predicted.items())
    return matches, sum(predicted.values()), sum(expected.values())


# ---------------------------------------------------------------------------------------------------------
# Scores of one row, on token lists, as fractions in [0, 1]


def bleu4(prediction: list[str], label: list[str]) -> float:
    log_sum = 0.0
    for n in range(1, 5):
        matches, total, _ = clipped_overlap(prediction, label, n)
        if n > 1:  # add-one smoothing for the higher orders only
            matches, total = matches + 1, total + 1
        if matches == 0:
            return 0.0
        log_sum += math.log(matches / total)
    brevity = 1.0 if len(prediction) > len(label) else math.exp(1 - len(label) / len(prediction))
    return brevity * math.exp(log_sum / 4)


def f1(overlap: int, predicted: int, expected: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / expected
    return 2 * precision * recall / (precision + recall)


def rouge_n(prediction: list[str], label: list[str], n: int) -> float:
    return f1(*clipped_overlap(prediction, label, n))


def longest_common_subsequence(a: list[str], b: list[str]) -> int:
    # One row of the dynamic-programming table at a time: O(len(a)·len(b)) time, O(len(b)) memory.
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: list[str], label: list[str]) -> float:
    return f1(longest_common_subsequence(prediction, label), len(prediction), len(label))


# ---------------------------------------------------------------------------------------------------------
# Texts and datasets, as percentages


def score_texts(prediction: str, label: str) -> dict[str, float]:
    """{"bleu-4", "rouge-1", "rouge-2", "rouge-l"} of one prediction against its label, each 0..100."""
    predicted, expected = tokenize(prediction), tokenize(label)
    if not predicted or not expected:
        both_empty = not predicted and not expected
        return {name: 100.0 if both_empty else 0.0 for name in METRICS}
    fractions = {
        "bleu-4": bleu4(predicted, expected),
        "rouge-1": rouge_n(predicted, expected, 1),
        "rouge-2": rouge_n(predicted, expected, 2),
        "rouge-l": rouge_l(predicted, expected),
    }
    return {name: round(100 * value, 4) for name, value in fractions.items()}


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over rows (each a score_texts result); {} for no rows."""
    if not rows:
        return {}
    return {name: round(sum(row[name] for row in rows) / len(rows), 4) for name in METRICS}


def score_deltas(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """after − before for every metric both hold (positive = `after` is better)."""
    return {name: round(after[name] - before[name], 4) for name in METRICS if name in after and name in before}
