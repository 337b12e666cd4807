"""Chat: several adapters on one loaded base, side-by-side streaming, stop, system prompt and history."""
import threading

import pytest
import torch

from conftest import train_demo_run
from engine.config.schema import RunConfig

PROMPT = [{"role": "user", "content": "What is LoRA?"}]


@pytest.fixture
def two_runs(studio_dirs, tiny_model):
    return (train_demo_run(8, run_name="run-a", learning_rate=2e-3),
            train_demo_run(8, run_name="run-b", learning_rate=5e-3))


def logits(chat):
    from engine.use.chat import active

    batch = chat.tokenizer("<|im_start|>user\nWhat is LoRA?<|im_end|>\n", return_tensors="pt")
    with active(chat), torch.inference_mode():
        return chat.model(**batch).logits


def test_adapters_switch_on_one_base_and_match_separate_loads(two_runs):
    from engine.use.chat import add_adapter, load_adapters_for_chat, load_base_for_chat, load_run_for_chat

    run_a, run_b = two_runs
    chats = load_adapters_for_chat([run_a])
    add_adapter(chats, run_b)  # later, without reloading anything
    assert list(chats) == ["base", "run-a", "run-b"]
    assert chats["base"].model is chats["run-a"].model is chats["run-b"].model
    expected = {
        "base": logits(load_base_for_chat(RunConfig.load(run_a / "config.yaml").model)),
        "run-a": logits(load_run_for_chat(run_a)),
        "run-b": logits(load_run_for_chat(run_b)),
    }
    for name in ("run-b", "base", "run-a", "run-b", "base"):  # any order, back and forth
        assert torch.allclose(logits(chats[name]), expected[name], atol=1e-5), name
    assert not torch.allclose(expected["run-a"], expected["run-b"], atol=1e-3)


def test_side_by_side_streams_both_and_matches_single_replies(two_runs):
    from engine.use.chat import load_adapters_for_chat, load_run_for_chat, stream_reply, stream_side_by_side

    run_a, run_b = two_runs
    greedy = {"max_new_tokens": 12, "temperature": 0.0}
    alone = [list(stream_reply(load_run_for_chat(run), PROMPT, **greedy))[-1] for run in (run_a, run_b)]
    separate = list(stream_side_by_side(load_run_for_chat(run_a), load_run_for_chat(run_b), PROMPT, **greedy))
    assert separate[-1] == tuple(alone)
    assert len(separate) > 2  # it streamed, not one final answer
    chats = load_adapters_for_chat([run_a, run_b])
    shared = list(stream_side_by_side(chats["run-a"], chats["run-b"], PROMPT, **greedy))
    assert shared[-1] == tuple(alone)


def test_stop_ends_both_streams(two_runs):
    from engine.use.chat import load_base_for_chat, load_run_for_chat, stream_side_by_side

    stop = threading.Event()
    stop.set()
    base = load_base_for_chat(RunConfig.load(two_runs[0] / "config.yaml").model)
    pairs = list(
        stream_side_by_side(
            base, load_run_for_chat(two_runs[0]), PROMPT, stop=stop, max_new_tokens=64, temperature=0.7
        )
    )
    assert all(len(a) < 20 and len(b) < 20 for a, b in pairs)  # at most a token or two each


def test_build_messages_with_system_prompt_and_history():
    from engine.use.chat import build_messages

    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "metadata": None}]
    assert build_messages("Be brief.", history, "and now?") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    ]
    assert build_messages("  ", [], "x") == [{"role": "user", "content": "x"}]


def test_only_lora_runs_share_a_base(studio_dirs, tiny_model, tmp_path):
    from engine.use.chat import load_adapters_for_chat

    with pytest.raises(ValueError, match="choose at least one"):
        load_adapters_for_chat([])
    (tmp_path / "not-a-run" / "final").mkdir(parents=True)
    with pytest.raises(ValueError, match="no LoRA adapter"):
        load_adapters_for_chat([tmp_path / "not-a-run"])


CHINESE = "星湾岛在东海上，坐船大约两个小时。灯塔每天九点开放，门票十元。\n回城的最后一班船是下午六点。"


def test_streamed_chinese_never_shows_a_replacement_character(tiny_tokenizer):
    """Token by token through the built-in byte-level tokenizer, with a stray half character in the middle."""
    from engine.use.chat import character_streamer

    ids = tiny_tokenizer(CHINESE, add_special_tokens=False)["input_ids"]
    assert any("\ufffd" in tiny_tokenizer.decode([i]) for i in ids), "the text must split some character"
    stray = tiny_tokenizer("龘", add_special_tokens=False)["input_ids"][:1]  # a character's first byte piece alone
    cut = ids.index(tiny_tokenizer("。", add_special_tokens=False)["input_ids"][0]) + 1
    streamer = character_streamer(tiny_tokenizer)
    streamer.put(torch.tensor([0]))  # the prompt, skipped
    for token in ids[:cut] + stray + ids[cut:] + stray:  # the reply ends mid-character too
        streamer.put(torch.tensor([token]))
    streamer.end()
    pieces = list(streamer)
    assert not [piece for piece in pieces if "\ufffd" in piece]
    assert "".join(pieces) == CHINESE


def test_stream_reply_in_chinese_has_no_replacement_character(studio_dirs, tiny_model):
    from engine.config.schema import ModelConfig
    from engine.use.chat import load_base_for_chat, stream_reply

    chat = load_base_for_chat(ModelConfig(name_or_path="builtin:tiny-demo"))
    question = [{"role": "user", "content": "星湾岛在哪里？"}]
    replies = list(stream_reply(chat, question, max_new_tokens=48, temperature=0))
    assert replies and all("\ufffd" not in reply for reply in replies)
