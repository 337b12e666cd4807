"""BLEU-4 and ROUGE against values computed by hand (the working is in each test's comment)."""
import math

import pytest

from engine.use.metrics import mean_scores, score_deltas, score_texts, tokenize


def test_tokens_english_by_words_chinese_by_jieba():
    assert tokenize("Hello, World! It's 2 o'clock.") == ["hello", "world", "it", "s", "2", "o", "clock"]
    assert tokenize("我喜欢机器学习。") == ["我", "喜欢", "机器", "学习"]
    assert tokenize("LoRA 是一种微调方法") == ["lora", "是", "一种", "微调", "方法"]
    assert tokenize(" ,。！ ") == []


def test_english_sentence():
    # prediction: the cat sat on the mat      label: the cat is on the mat      (6 tokens each)
    # p1 = 5/6 (the×2, cat, on, mat); p2 = (3+1)/(5+1) (the cat, on the, the mat);
    # p3 = (1+1)/(4+1) (on the mat); p4 = (0+1)/(3+1); BP = 1 (equal lengths count as not longer → exp(0))
    # BLEU = (5/6 · 4/6 · 2/5 · 1/4)^(1/4) = (1/18)^(1/4)
    scores = score_texts("The cat sat on the mat.", "the cat is on the mat")
    assert scores["bleu-4"] == pytest.approx(100 * (1 / 18) ** 0.25, abs=1e-3)  # 48.55
    assert scores["rouge-1"] == pytest.approx(100 * 5 / 6, abs=1e-3)  # P = R = 5/6
    assert scores["rouge-2"] == pytest.approx(60.0, abs=1e-3)  # 3 of 5 bigrams each way
    assert scores["rouge-l"] == pytest.approx(100 * 5 / 6, abs=1e-3)  # LCS: the cat on the mat


def test_chinese_sentence_scored_on_jieba_words():
    # [我, 喜欢, 深度, 学习] vs [我, 喜欢, 机器, 学习]
    # p1 = 3/4; p2 = (1+1)/(3+1); p3 = (0+1)/(2+1); p4 = (0+1)/(1+1); BP = 1 → (1/16)^(1/4) = 0.5
    scores = score_texts("我喜欢深度学习", "我喜欢机器学习")
    assert scores == pytest.approx({"bleu-4": 50.0, "rouge-1": 75.0, "rouge-2": 100 / 3, "rouge-l": 75.0}, abs=1e-3)


def test_short_prediction_pays_the_brevity_penalty():
    # [the, cat] vs 6 label tokens: every p_n = 1 (p3, p4 are 1/1 after smoothing), BP = exp(1 − 6/2)
    # ROUGE-1: P = 1, R = 2/6 → F = 0.5;  ROUGE-2: P = 1, R = 1/5 → F = 1/3
    scores = score_texts("the cat", "the cat sat on the mat")
    assert scores["bleu-4"] == pytest.approx(100 * math.exp(-2), abs=1e-3)
    assert scores["rouge-1"] == pytest.approx(50.0, abs=1e-3)
    assert scores["rouge-2"] == pytest.approx(100 / 3, abs=1e-3)
    assert scores["rouge-l"] == pytest.approx(50.0, abs=1e-3)


def test_repeated_words_are_clipped():
    # "the the the" vs "the cat": 1 match, not 3. ROUGE-1: P = 1/3, R = 1/2 → F = 0.4
    assert score_texts("the the the", "the cat")["rouge-1"] == pytest.approx(40.0, abs=1e-3)


def test_identical_empty_and_disjoint():
    assert set(score_texts("完全一样 the same", "完全一样 the same").values()) == {100.0}
    assert set(score_texts("", "。").values()) == {100.0}  # neither has a token
    assert set(score_texts("", "something").values()) == {0.0}
    assert set(score_texts("alpha beta", "gamma delta").values()) == {0.0}


def test_mean_and_deltas():
    rows = [score_texts("the cat", "the cat"), score_texts("dog", "cat")]
    mean = mean_scores(rows)
    assert mean == {"bleu-4": 50.0, "rouge-1": 50.0, "rouge-2": 50.0, "rouge-l": 50.0}
    assert score_deltas(mean, {"bleu-4": 20.0, "rouge-1": 60.0}) == {"bleu-4": 30.0, "rouge-1": -10.0}
    assert mean_scores([]) == {}
