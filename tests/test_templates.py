"""Tests for the chat template files and engine/data/templates.py (real tokenizer, no mocks)."""

import json
import re

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import render_jinja_template

from engine.data.templates import (
    TEMPLATES_DIR,
    ChatTemplate,
    assistant_spans,
    list_templates,
    load_template,
    render_messages,
)

FILE_TEMPLATES = sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja"))
EXPECTED_NAMES = ["alpaca", "chatml", "deepseek", "default", "gemma", "glm4", "llama3", "mistral", "phi3"]

SYSTEM = {"role": "system", "content": "Be brief."}
TURN_1 = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
TURN_2 = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
GOLDEN_CONVERSATION = [SYSTEM, *TURN_1, *TURN_2]
CONVERSATIONS = {
    "one_turn": TURN_1,
    "one_turn_system": [SYSTEM, *TURN_1],
    "two_turns": [*TURN_1, *TURN_2],
    "two_turns_system": [SYSTEM, *TURN_1, *TURN_2],
}

# Hand-written renders of GOLDEN_CONVERSATION, with the test tokenizer's bos "<s>" and eos "</s>".
GOLDEN = {
    "alpaca": (
        "<s>Be brief.\n\n"
        "### Instruction:\nHi\n\n### Response:\nHello!</s>\n\n"
        "### Instruction:\n2+2?\n\n### Response:\n4</s>"
    ),
    "chatml": (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n"
    ),
    "deepseek": "<s>Be brief.\n\nUser: Hi\n\nAssistant: Hello!</s>User: 2+2?\n\nAssistant: 4</s>",
    "default": "<s>System: Be brief.\nHuman: Hi\nAssistant: Hello!</s>\nHuman: 2+2?\nAssistant: 4</s>\n",
    "gemma": (
        "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\n2+2?<end_of_turn>\n"
        "<start_of_turn>model\n4<end_of_turn>\n"
    ),
    "glm4": "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!</s><|user|>\n2+2?<|assistant|>\n4</s>",
    "llama3": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
    ),
    "mistral": "<s>[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]4</s>",
    "phi3": (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n"
        "<|assistant|>\nHello!<|end|>\n<|user|>\n2+2?<|end|>\n<|assistant|>\n4<|end|>\n"
    ),
}

# What each reply's trained span looks like: (text the model writes first, end-of-turn marker).
SPAN_SHAPE = {
    "alpaca": ("", "</s>"),
    "chatml": ("", "<|im_end|>"),
    "deepseek": (" ", "</s>"),
    "default": (" ", "</s>"),
    "gemma": ("", "<end_of_turn>"),
    "glm4": ("\n", "</s>"),
    "llama3": ("", "<|eot_id|>"),
    "mistral": ("", "</s>"),
    "phi3": ("", "<|end|>"),
}


@pytest.fixture(scope="module")
def tokenizer():
    """A tiny real fast tokenizer (word-level, trained here) with bos/eos/pad and no chat template."""
    model = Tokenizer(models.WordLevel(unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "<s>", "</s>"])
    model.train_from_iterator(["Be brief.", "Hi Hello!", "2+2? 4", "User: Assistant: Human:"], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=model, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def test_list_templates_has_auto_first_then_sorted_files():
    names = list_templates()
    assert names[0] == "auto"
    assert names[1:] == FILE_TEMPLATES
    assert set(EXPECTED_NAMES) <= set(names)


def test_every_template_file_has_a_golden_render():
    assert sorted(GOLDEN) == FILE_TEMPLATES


@pytest.mark.parametrize("name", FILE_TEMPLATES)
def test_metadata_line_parses(name):
    source = (TEMPLATES_DIR / f"{name}.jinja").read_text(encoding="utf-8")
    first_line = source.split("\n", 1)[0]
    match = re.fullmatch(r"\{#- studio: (\{.*\}) -#\}", first_line)
    assert match, f"{name}: bad metadata line {first_line!r}"
    meta = json.loads(match.group(1))
    assert isinstance(meta["description"], str) and meta["description"]
    assert isinstance(meta["stop_words"], list)
    assert all(isinstance(word, str) and word and "eos_token" not in word for word in meta["stop_words"])
    template = load_template(name)
    assert template.name == name
    assert template.stop_words == tuple(meta["stop_words"])
    assert template.description == meta["description"]
    assert re.search(r"\{%-?\s*generation\s*-?%\}", template.source)


@pytest.mark.parametrize("name", FILE_TEMPLATES)
def test_golden_render(name, tokenizer):
    template = load_template(name)
    assert render_messages(template, tokenizer, GOLDEN_CONVERSATION) == GOLDEN[name]


@pytest.mark.parametrize("conversation", list(CONVERSATIONS), ids=list(CONVERSATIONS))
@pytest.mark.parametrize("name", FILE_TEMPLATES)
def test_prefix_consistency(name, conversation, tokenizer):
    template = load_template(name)
    messages = CONVERSATIONS[conversation]
    full = render_messages(template, tokenizer, messages)
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render_messages(template, tokenizer, messages[:k], add_generation_prompt=True)
        with_reply = render_messages(template, tokenizer, messages[: k + 1])
        assert with_reply.startswith(prompt), (k, prompt, with_reply)
        assert full.startswith(with_reply), (k, with_reply, full)


@pytest.mark.parametrize("conversation", list(CONVERSATIONS), ids=list(CONVERSATIONS))
@pytest.mark.parametrize("name", FILE_TEMPLATES)
def test_assistant_spans_are_replies_with_end_marker(name, conversation, tokenizer):
    template = load_template(name)
    messages = CONVERSATIONS[conversation]
    full, spans = assistant_spans(template, tokenizer, messages)
    assert full == render_messages(template, tokenizer, messages)
    lead, marker = SPAN_SHAPE[name]
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    assert [full[start:end] for start, end in spans] == [lead + reply + marker for reply in replies]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


@pytest.mark.parametrize("name", FILE_TEMPLATES)
def test_generation_blocks_match_assistant_spans(name, tokenizer):
    # transformers' own tracker of {% generation %} blocks must mark exactly the diffed spans,
    # so return_assistant_tokens_mask and the studio agree on what is trained.
    template = load_template(name)
    full, spans = assistant_spans(template, tokenizer, GOLDEN_CONVERSATION)
    rendered, indices = render_jinja_template(
        conversations=[GOLDEN_CONVERSATION],
        chat_template=template.source,
        return_assistant_tokens_mask=True,
        **tokenizer.special_tokens_map,
    )
    assert rendered[0] == full
    assert [tuple(span) for span in indices[0]] == spans


def test_reply_that_mentions_the_marker_is_not_cut(tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "I end with <|im_end|> tokens"}]
    full, [(start, end)] = assistant_spans(load_template("chatml"), tokenizer, messages)
    assert full[start:end] == "I end with <|im_end|> tokens<|im_end|>"


def test_generation_prompt_for_inference(tokenizer):
    prompt = render_messages(load_template("chatml"), tokenizer, [TURN_1[0]], add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_auto_uses_the_tokenizers_template(tokenizer):
    source = (
        "{% for m in messages %}{{ m.role }}: {% if m.role == 'assistant' %}{% generation %}"
        "{{ m.content + eos_token }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}{{ '\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    )
    tokenizer_with_template = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer.backend_tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer_with_template.chat_template = source
    template = load_template("auto", tokenizer_with_template)
    assert template.name == "auto" and template.source == source and template.stop_words == ()
    full, spans = assistant_spans(template, tokenizer_with_template, TURN_1)
    assert full == "user: Hi\nassistant: Hello!</s>\n"
    assert [full[a:b] for a, b in spans] == ["Hello!</s>"]


def test_auto_without_tokenizer_template_is_a_clear_error(tokenizer):
    assert tokenizer.chat_template is None
    with pytest.raises(ValueError, match="has no chat template; pick one of: .*chatml"):
        load_template("auto", tokenizer)
    with pytest.raises(ValueError, match="has no chat template"):
        load_template("auto")


def test_unknown_name_is_rejected_with_choices():
    with pytest.raises(ValueError, match=r"unknown chat template 'vicuna'.*chatml.*llama3"):
        load_template("vicuna")


ESCAPING_NAMES = ["../x", "a/b", "../templates/chatml", "chatml.jinja", "..", "", "/etc/passwd", "a\\b"]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_path_like_names_are_rejected(name):
    with pytest.raises(ValueError, match="pick one of"):
        load_template(name)


def test_template_with_inconsistent_generation_prompt_is_reported(tokenizer):
    # The prompt says "ASSISTANT:" but a rendered reply says "assistant:": the diff would be wrong.
    broken = ChatTemplate(
        "shouty",
        "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}",
        (),
        "",
    )
    with pytest.raises(ValueError, match="template 'shouty' is not prefix-consistent at message 1: "):
        assistant_spans(broken, tokenizer, TURN_1)


def test_template_that_rewrites_history_is_reported(tokenizer):
    # Like templates that drop old reasoning: earlier replies render differently once more follow.
    broken = ChatTemplate(
        "forgetful",
        "{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}[old]"
        "{% else %}{{ m.content }}{% endif %}{% endfor %}",
        (),
        "",
    )
    with pytest.raises(ValueError, match="template 'forgetful' is not prefix-consistent at message 1: "):
        assistant_spans(broken, tokenizer, [*TURN_1, *TURN_2])
