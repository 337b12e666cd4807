"""Chat templates: loading the studio's Jinja files and finding the tokens to train on.

Templates live as data in ``templates/<name>.jinja`` so that users can add one without
touching code. Each file starts with a metadata comment::

    {#- studio: {"stop_words": ["<|im_end|>"], "description": "Qwen / ChatML format"} -#}

The special name ``auto`` means "the tokenizer's own chat_template".

Which characters are trained is decided by diffing renders instead of trusting each
template's ``{% generation %}`` tags: diffing works for any prefix-consistent template,
including a model's own (``auto``) template that has no such tags.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from engine.data.template_bounds import check_template_bounds
from engine.paths import PROJECT_DIR

TEMPLATES_DIR = PROJECT_DIR / "templates"
AUTO = "auto"

# A template name is a bare file stem; anything with a slash or dots could escape TEMPLATES_DIR.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_META_RE = re.compile(r"^\{#-?\s*studio:\s*(\{.*\})\s*-?#\}\s*$")


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    source: str  # jinja text
    stop_words: tuple[str, ...]
    description: str
    # Passed to the template as `enable_thinking` (Qwen3-style templates read it); off also removes the
    # <think>…</think> blocks from replies, as LLaMA-Factory does (ModelConfig.enable_thinking).
    enable_thinking: bool = True


def list_templates() -> list[str]:
    """Names for the template picker: ``auto`` first, then the .jinja file stems, sorted."""
    return [AUTO] + sorted(path.stem for path in TEMPLATES_DIR.glob("*.jinja"))


def parse_metadata(name: str, source: str) -> dict:
    """Read the ``{#- studio: {...} -#}`` JSON from the first line of a template."""
    match = _META_RE.match(source.split("\n", 1)[0])
    if not match:
        raise ValueError(
            f"template '{name}' must start with a metadata line like "
            '{#- studio: {"stop_words": [], "description": "..."} -#}'
        )
    try:
        meta = json.loads(match.group(1))
    except json.JSONDecodeError as err:
        raise ValueError(f"template '{name}' has a metadata line that is not valid JSON: {err}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("stop_words", []), list):
        raise ValueError(f"template '{name}' metadata must be an object with a 'stop_words' list")
    return meta


def load_template(name: str, tokenizer=None, enable_thinking: bool = True) -> ChatTemplate:
    """Load a template by name; ``auto`` takes the tokenizer's own chat_template."""
    template = _load_template(name, tokenizer)
    return template if enable_thinking else replace(template, enable_thinking=False)


def _load_template(name: str, tokenizer) -> ChatTemplate:
    choices = ", ".join(list_templates())
    if name == AUTO:
        source = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
        if isinstance(source, dict):  # some tokenizers ship several named templates
            source = source.get("default")
        if not source:
            raise ValueError(f"the tokenizer of this model has no chat template; pick one of: {choices}")
        check_template_bounds(source, getattr(tokenizer, "special_tokens_map", None))
        # Stop words are unknown for a foreign template; the engine always adds the tokenizer's eos.
        return ChatTemplate(AUTO, source, (), "the model's own chat template (from its tokenizer)")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"'{name}' is not a valid template name; pick one of: {choices}")
    path = TEMPLATES_DIR / f"{name}.jinja"
    if not path.is_file():
        raise ValueError(f"unknown chat template '{name}'; pick one of: {choices}")
    source = path.read_text(encoding="utf-8")
    meta = parse_metadata(name, source)
    return ChatTemplate(name, source, tuple(meta.get("stop_words", [])), meta.get("description", ""))


class Conversation(list):
    """A list of messages that may carry the tool schemas offered to the model (`tools`, in the Hugging Face
    chat-template convention: [{"type": "function", "function": {...}}]). Assistant messages may hold
    "tool_calls"; a tool's answer is a message with role "tool"."""

    def __init__(self, messages=(), tools: list | None = None):
        super().__init__(messages)
        self.tools = tools or None


def tools_of(messages: list[dict]) -> list | None:
    return getattr(messages, "tools", None)


def uses_tools(messages: list[dict]) -> bool:
    return bool(tools_of(messages)) or any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)


THOUGHT = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


def without_thoughts(template: ChatTemplate, messages: list[dict]) -> list[dict]:
    """The messages as `template` renders them: with enable_thinking off, replies lose their <think> blocks."""
    if template.enable_thinking:
        return messages
    stripped = [{**m, "content": THOUGHT.sub("", m["content"])}
                if m.get("role") == "assistant" and isinstance(m.get("content"), str) else m for m in messages]
    return Conversation(stripped, tools_of(messages))


def render_messages(template: ChatTemplate, tokenizer, messages: list[dict], add_generation_prompt: bool = False,
                    tools: list | None = None) -> str:
    """Render messages to text with the template (the tokenizer supplies bos/eos tokens); `tools` defaults to
    the conversation's own."""
    if uses_tools(messages) and "tool" not in template.source:
        # Rendering would drop the schemas and calls without a word: refuse instead.
        raise ValueError(f"template '{template.name}' does not render tools or tool calls; use auto (the model's "
                         "own template, if it supports tools) or chatml")
    messages = without_thoughts(template, messages)
    return tokenizer.apply_chat_template(
        list(messages), tools=tools or tools_of(messages), chat_template=template.source, tokenize=False,
        add_generation_prompt=add_generation_prompt, enable_thinking=template.enable_thinking,
    )


def _turn_length(diff: str, content: str, markers: list[str]) -> int:
    # Templates often write a separator after the end-of-turn marker (ChatML's "\n" after
    # <|im_end|>). The model never generates that separator, so the span stops right after the
    # first marker that follows the reply. Search after the content so that a reply which
    # merely mentions a marker is not cut short.
    start = diff.find(content) + len(content) if content and content in diff else 0
    hits = [(pos, -len(m)) for m in markers if (pos := diff.find(m, start)) >= 0]
    if not hits:
        return len(diff)  # no known marker (e.g. an `auto` template): keep the whole turn
    pos, neg_len = min(hits)  # earliest marker; the longest one if two start at the same place
    return pos - neg_len


def assistant_spans(template: ChatTemplate, tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """Return the full render and one (start, end) character span per assistant message.

    A span is what the model must learn to produce for that turn (reply + end-of-turn marker):
    the text that appears when the assistant message is added after the generation prompt.
    """
    messages = without_thoughts(template, messages)  # so that each reply is found as it is rendered
    tools = tools_of(messages)  # slices below are plain lists: the schemas are passed explicitly
    full = render_messages(template, tokenizer, messages)
    markers = [m for m in (*template.stop_words, getattr(tokenizer, "eos_token", None)) if m]
    spans = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        prompt = render_messages(template, tokenizer, messages[:i], add_generation_prompt=True, tools=tools)
        # The last reply's render is the full render: skipping it saves a third of the work for one-turn data.
        with_reply = full if i == len(messages) - 1 else render_messages(template, tokenizer, messages[:i + 1],
                                                                         tools=tools)
        # Both checks protect training: if either fails, the diff would point at the wrong text.
        if not with_reply.startswith(prompt):
            raise ValueError(
                f"template '{template.name}' is not prefix-consistent at message {i}: the prompt rendered "
                "with add_generation_prompt=True is not the start of the render that includes the reply"
            )
        if not full.startswith(with_reply):
            raise ValueError(
                f"template '{template.name}' is not prefix-consistent at message {i}: rendering the "
                "conversation up to this reply is not the start of the render of the whole conversation"
            )
        start = len(prompt)
        spans.append((start, start + _turn_length(with_reply[start:], message.get("content") or "", markers)))
    return full, spans
