"""GRPO: the reward functions score what they say, and the built-in model learns what a reward asks for."""
import pytest
import torch

from engine.use.chat import load_run_for_chat, stream_reply
from engine.config.schema import RunConfig
from engine.train.rules import validate
from engine.runs.events import EventLog, read_events
from engine.runs.preflight import environment_problems
from engine.paths import saves_dir
from engine.train.rewards import answer_match, brevity_reward, final_answer, format_reward, reference_rouge
from engine.runs.store import create_run
from engine.train.trainer import RunContext, planned_steps, run_training
from conftest import demo_config


def said(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# ---------------------------------------------------------------------------------------------------------
# Reward functions


def test_answer_match_finds_the_reference_final_number_as_a_number():
    reference = ["She has 3 apples, then buys 14 more: 17", "答案是 1,250"]
    assert final_answer(reference[0]) == "17" and final_answer(reference[1]) == "1250"
    completions = [said("So the total is 17."), said("一共 1250 元")]
    assert answer_match(completions, reference) == [1.0, 1.0]
    assert answer_match([said("It is 170."), said("一共 125 元")], reference) == [0.0, 0.0]


def test_answer_match_without_a_number_compares_normalised_text():
    assert answer_match([said("The capital is  PARIS.")], ["Paris"]) == [1.0]
    assert answer_match([said("The capital is Lyon.")], ["Paris"]) == [0.0]


def test_reference_rouge_is_one_for_the_reference_and_lower_for_less():
    reference = ["the cat sat on the mat", "今天天气很好"]
    exact = reference_rouge([said(r) for r in reference], reference)
    partial = reference_rouge([said("the cat sat"), said("今天天气不好")], reference)
    unrelated = reference_rouge([said("quantum chromodynamics"), said("quantum")], reference)
    assert exact == [1.0, 1.0]
    assert all(0.0 < p < 1.0 for p in partial) and unrelated == [0.0, 0.0]


def test_format_reward_needs_a_whole_match():
    reward = format_reward(r"<think>.*</think>\s*\d+")
    assert reward([said("<think>2+2</think> 4"), said("4"), said("<think>x</think> 4 and more")]) == [1.0, 0.0, 0.0]
    assert reward.__name__ == "format"  # TRL logs it as rewards/format/mean


def test_brevity_reward_falls_with_length():
    reward = brevity_reward(10)
    assert reward(completion_ids=[[1], [1] * 5, [1] * 10, [1] * 12]) == [0.9, 0.5, 0.0, 0.0]


# ---------------------------------------------------------------------------------------------------------
# Validation: said before the run starts


def grpo_config(**method) -> RunConfig:
    config = RunConfig.load("examples/grpo_demo.yaml")
    for name, value in method.items():
        setattr(config.method, name, value)
    return config


def test_the_grpo_preset_is_valid(studio_dirs):
    assert validate(grpo_config()) == []


def test_batches_must_hold_whole_groups_of_answers(studio_dirs):
    config = grpo_config(grpo_num_generations=3)
    assert any("multiple of method.grpo_num_generations (3)" in p for p in validate(config))


def test_format_reward_needs_a_valid_pattern(studio_dirs):
    problems = validate(grpo_config(grpo_rewards=["format"], grpo_format_regex="<think>(.*"))
    assert any("grpo_format_regex is not a valid regular expression" in p for p in problems)
    assert any("grpo_format_regex is empty" in p for p in validate(grpo_config(grpo_rewards=["format"])))


def test_unknown_reward_is_refused(studio_dirs):
    assert any("method.grpo_rewards must be one of" in p for p in validate(grpo_config(grpo_rewards=["vibes"])))


def test_reward_model_run_must_be_a_finished_rm_run_inside_saves(studio_dirs, trained_run):
    def problems(run: str) -> list[str]:
        return environment_problems(grpo_config(grpo_rewards=["reward_model"], grpo_reward_run=run))

    assert any("grpo_reward_run is empty" in p for p in problems(""))
    assert any("points outside" in p for p in problems("../../etc"))
    assert any("is not a run folder" in p for p in problems("tiny-demo/lora/nothing-here"))
    sft_run = str(trained_run.relative_to(saves_dir()))
    assert any("is a sft run; pick a reward-model (rm) run" in p for p in problems(sft_run))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
def test_quantised_grpo_is_refused_on_cpu(studio_dirs):
    config = grpo_config()
    config.model.quantization = "4bit"
    assert any("set model.quantization to none here, or train on a GPU" in p for p in environment_problems(config))


# ---------------------------------------------------------------------------------------------------------
# Training


def train(config: RunConfig):
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    events = read_events(run_dir)
    return run_dir, events, [e for e in events if e["event"] == "log"]


def test_grpo_learns_what_the_reward_asks_for(studio_dirs, tiny_model):
    """Brevity is a reward the 1.3 M-parameter model can learn in a few steps: it learns to end early."""
    config = grpo_config(grpo_rewards=["brevity"], grpo_max_new_tokens=32, grpo_kl_beta=0.0)
    config.data.max_samples = 20
    config.data.val_size = 0.0
    config.train.max_steps = 0
    config.train.num_train_epochs = 1
    config.train.learning_rate = 5e-3
    run_dir, events, logs = train(config)

    start = next(e for e in events if e["event"] == "start")
    # An epoch as TRL counts it: 20 prompts × 4 answers, 8 answers a step.
    assert start["total_steps"] == planned_steps(config, 20) == len(logs) == 10
    first, last = logs[:3], logs[-3:]
    assert sum(e["rewards/brevity/mean"] for e in last) > sum(e["rewards/brevity/mean"] for e in first) + 0.9
    assert last[-1]["completions/mean_length"] < first[0]["completions/mean_length"]
    chat = load_run_for_chat(run_dir)
    assert list(stream_reply(chat, [{"role": "user", "content": "Name a colour."}], max_new_tokens=8))


def test_grpo_scores_answers_with_a_trained_reward_model(studio_dirs, tiny_model):
    reward_config = demo_config({"method.stage": "rm", "data.datasets": ["demo_preference"], "data.val_size": 0.0,
                                 "train.max_steps": 4})
    reward_run, _, _ = train(reward_config)

    reward_run_name = str(reward_run.relative_to(saves_dir()))
    config = grpo_config(grpo_rewards=["reward_model", "brevity"], grpo_reward_run=reward_run_name)
    config.data.max_samples = 8
    config.train.max_steps = 2
    assert validate(config) == []
    _, _, logs = train(config)
    model_rewards = [
        key
        for key in logs[-1]
        if key.startswith("rewards/") and key.endswith("/mean") and key != "rewards/brevity/mean"
    ]
    assert len(model_rewards) == 1, sorted(logs[-1])
    assert all(e[model_rewards[0]] == e[model_rewards[0]] for e in logs)  # a real score, not NaN


@pytest.mark.parametrize("finetuning_type", ["full", "ia3"])
def test_grpo_trains_other_methods(studio_dirs, tiny_model, finetuning_type):
    config = grpo_config(finetuning_type=finetuning_type)
    config.data.max_samples = 8
    config.train.max_steps = 2
    run_dir, _, logs = train(config)
    assert len(logs) == 2 and "reward" in logs[-1]
    assert (run_dir / "final").is_dir()
