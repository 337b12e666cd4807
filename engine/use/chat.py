"""Chatting with a base model or a trained run, with streamed output.

Several LoRA runs of one base can share it: `load_adapters_for_chat` loads the base once and each run's
adapter next to it; the ChatModel of each names the adapter to switch to before generating (switching is
instant, nothing reloads). Two ChatModels on one shared model take turns: a per-model lock serialises them.
"""
from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.config.schema import ModelConfig, RunConfig
from engine.models.loading import (is_vision_model, load_model, load_processor, load_tokenizer,
                                   refuse_non_finite_weights, resolve_model)
from engine.data.images import PLACEHOLDER, load_image
from engine.data.vision_encoding import render_vision_prompt
from engine.messages import say
from engine.paths import CONFIG_FILE, FINAL_DIR
from engine.data.templates import ChatTemplate, load_template, render_messages


@dataclass
class ChatModel:
    model: object
    tokenizer: object
    template: ChatTemplate
    label: str
    adapter: str | None = None  # on a shared multi-adapter model: the adapter to use, BASE for none
    processor: object | None = None  # a vision model's processor: the chat can carry images

    @property
    def stop_token_ids(self) -> list[int]:
        """The tokenizer's eos, the model's own end tokens (real models often list several in their generation
        config: Llama 3's end of turn beside its end of text), and every template stop word that is a single
        token."""
        ids = {self.tokenizer.eos_token_id}
        generation = getattr(self.model, "generation_config", None)
        ends = getattr(generation, "eos_token_id", None)
        ids.update(ends if isinstance(ends, list) else [ends])
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[word] for word in self.template.stop_words if word in vocab)
        return sorted(i for i in ids if i is not None)


BASE = ""  # ChatModel.adapter for "the shared base with every adapter switched off"

# One lock per loaded model: set_adapter is model-wide state, so two generations on it must not overlap.
_generation_locks: "weakref.WeakKeyDictionary[object, threading.Lock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def generation_lock(model) -> threading.Lock:
    with _locks_guard:
        return _generation_locks.setdefault(model, threading.Lock())


@contextlib.contextmanager
def active(chat: ChatModel):
    """Hold the model and switch it to this chat's adapter (or to the bare base) for one generation."""
    with generation_lock(chat.model):
        if chat.adapter is None:
            yield
        elif chat.adapter == BASE:
            with chat.model.disable_adapter():
                yield
        else:
            chat.model.set_adapter(chat.adapter)
            yield


def load_base_for_chat(model_config: ModelConfig) -> ChatModel:
    tokenizer = load_tokenizer(model_config)
    model = load_model(model_config).eval()
    template = load_template(model_config.template, tokenizer, model_config.enable_thinking)
    return ChatModel(model, tokenizer, template, model_config.name_or_path, processor=_processor(model_config))


def _processor(model_config: ModelConfig, location: str | None = None):
    """The processor when the model reads images, else None."""
    if not is_vision_model(resolve_model(model_config.name_or_path)):
        return None
    return load_processor(model_config, location)


def load_run_for_chat(run_dir: Path) -> ChatModel:
    """The run's trained result: base + adapter for LoRA, the saved model otherwise; its own template."""
    run_dir = Path(run_dir)
    final = run_dir / FINAL_DIR
    if not final.exists():
        raise FileNotFoundError(f"run {run_dir.name} has no trained result yet ({FINAL_DIR}/ is missing)")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    refuse_non_finite_weights(final)
    tokenizer = load_tokenizer(config.model, location=str(final))
    if (final / "adapter_config.json").exists():
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_model(config.model), str(final))
    else:
        model = load_model(config.model, location=str(final))
    template = load_template(config.model.template, tokenizer, config.model.enable_thinking)
    return ChatModel(model.eval(), tokenizer, template, run_dir.name, processor=_processor(config.model, str(final)))


def load_adapters_for_chat(run_dirs: list[Path]) -> dict[str, ChatModel]:
    """{"base": the bare base, <run name>: that run's adapter, ...}, all sharing one copy of the base.

    Every run must be a LoRA run of the same base model. Each keeps its own chat template.
    """
    from peft import PeftModel

    run_dirs = [Path(run_dir) for run_dir in run_dirs]
    if not run_dirs:
        raise ValueError("choose at least one LoRA run")
    configs = [_lora_config(run_dir) for run_dir in run_dirs]
    bases = {config.model.name_or_path for config in configs}
    if len(bases) > 1:
        raise ValueError(f"these runs were trained on different base models ({', '.join(sorted(bases))}); "
                         "adapters can only be switched on the base they were trained on")
    first = configs[0]
    tokenizer = load_tokenizer(first.model, location=str(run_dirs[0] / FINAL_DIR))
    model = PeftModel.from_pretrained(load_model(first.model), str(run_dirs[0] / FINAL_DIR),
                                      adapter_name=run_dirs[0].name)
    # A vision base reads pictures through its processor (the same for every adapter: LoRA leaves it alone).
    processor = _processor(first.model, str(run_dirs[0] / FINAL_DIR))
    base = ChatModel(model.eval(), tokenizer, load_template(first.model.template, tokenizer), "base", BASE, processor)
    chats = {"base": base}
    chats[run_dirs[0].name] = _adapter_chat(base, run_dirs[0], first)
    for run_dir in run_dirs[1:]:
        add_adapter(chats, run_dir)
    return chats


def add_adapter(chats: dict[str, ChatModel], run_dir: Path) -> ChatModel:
    """Load one more run's adapter onto the shared base of `chats` (from load_adapters_for_chat)."""
    run_dir = Path(run_dir)
    config = _lora_config(run_dir)
    base = chats["base"]
    if run_dir.name in chats:
        return chats[run_dir.name]
    with generation_lock(base.model):
        base.model.load_adapter(str(run_dir / FINAL_DIR), adapter_name=run_dir.name)
    chats[run_dir.name] = _adapter_chat(base, run_dir, config)
    return chats[run_dir.name]


def _lora_config(run_dir: Path) -> RunConfig:
    if not (run_dir / FINAL_DIR / "adapter_config.json").exists():
        raise ValueError(f"run {run_dir.name} has no LoRA adapter to switch to (not a finished LoRA run)")
    refuse_non_finite_weights(run_dir / FINAL_DIR)
    return RunConfig.load(run_dir / CONFIG_FILE)


def _adapter_chat(base: ChatModel, run_dir: Path, config: RunConfig) -> ChatModel:
    template = load_template(config.model.template, base.tokenizer, config.model.enable_thinking)
    return ChatModel(base.model, base.tokenizer, template, run_dir.name, run_dir.name, base.processor)


def build_messages(system: str, history: list[dict], message: str, images: int = 0, role: str = "user") -> list[dict]:
    """The conversation to render: an optional system prompt, the turns so far, the new message (with an
    `<image>` placeholder in front for each of its `images` that the text does not already place; with role
    "tool" the answer of a tool the model called)."""
    head = [{"role": "system", "content": system}] if system.strip() else []
    turns = [{"role": turn["role"], "content": turn["content"]} for turn in history
             if turn["role"] in ("user", "assistant", "tool")]
    missing = max(0, images - message.count(PLACEHOLDER))
    return head + turns + [{"role": role, "content": PLACEHOLDER * missing + message}]


# The call convention of the studio's chatml (Qwen / Hermes): <tool_call>{"name": ..., "arguments": ...}</tool_call>
_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)


def parse_tool_calls(reply: str) -> list[dict]:
    """The function calls in a reply, [{"name", "arguments"}]; blocks that are not valid JSON are left out."""
    calls = []
    for block in _TOOL_CALL.findall(reply):
        try:
            call = json.loads(block)
        except json.JSONDecodeError:
            continue
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            calls.append({"name": call["name"], "arguments": call.get("arguments", {})})
    return calls


def stream_reply(
    chat: ChatModel,
    messages: list[dict],
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    top_p: float = 0.9,
    stop: threading.Event | None = None,
    images: list | None = None,
    tools: list | None = None,
) -> Iterator[str]:
    """Yield the reply as it grows (each item is the whole reply so far); temperature 0 = greedy.
    `images`: the pictures (paths or PIL images) of the conversation's `<image>` placeholders, in order.
    `tools`: function schemas offered to the model (its template renders them)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    inputs = prompt_inputs(chat, messages, images or [], tools).to(chat.model.device)
    streamer = character_streamer(chat.tokenizer)
    stop = stop or threading.Event()

    class StopOnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return stop.is_set()

    greedy = {"do_sample": False}
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else greedy
    arguments = dict(
        **inputs,
        max_new_tokens=max_new_tokens,
        eos_token_id=chat.stop_token_ids,
        pad_token_id=chat.tokenizer.pad_token_id,
        streamer=streamer,
        stopping_criteria=StoppingCriteriaList([StopOnEvent()]),
        **sampling,
    )

    failure: list[BaseException] = []

    def generate():
        try:
            with active(chat), torch.inference_mode():
                chat.model.generate(**arguments)
        except BaseException as err:  # surface it to the reader instead of leaving the stream hanging
            failure.append(err)
            streamer.end()

    worker = threading.Thread(target=generate, daemon=True)
    worker.start()
    reply = ""
    for piece in streamer:
        reply += piece
        yield reply
    worker.join()
    if failure:
        raise failure[0]


def prompt_inputs(chat: ChatModel, messages: list[dict], images: list, tools: list | None = None):
    """The model inputs of the prompt: token ids, and for a vision model the pixels of `images`."""
    placeholders = sum(m["content"].count(PLACEHOLDER) for m in messages if isinstance(m["content"], str))
    if chat.processor is None:
        if images:
            raise ValueError(say("chat.images_need_vision_model", model=chat.label))
        prompt = render_messages(chat.template, chat.tokenizer, messages, add_generation_prompt=True, tools=tools)
        return chat.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    if placeholders != len(images):
        raise ValueError(say("images.count_mismatch", placeholders=placeholders, images=len(images)))
    return vision_inputs(chat, [messages], [images])


def vision_inputs(chat: ChatModel, prompts: list[list[dict]], images: list[list]):
    """A vision model's inputs for a batch of prompts (padded on the tokenizer's side) and each one's pictures
    (paths or PIL images), in placeholder order."""
    if chat.processor is None:
        raise ValueError(say("chat.images_need_vision_model", model=chat.label))
    texts = [render_vision_prompt(chat.template, chat.processor, messages) for messages in prompts]
    pictures = [image if hasattr(image, "convert") else load_image(Path(image)) for group in images for image in group]
    return chat.processor(text=texts, images=pictures or None, return_tensors="pt", padding=True,
                          add_special_tokens=False)


def character_streamer(tokenizer):
    """A TextIteratorStreamer of the reply that never shows U+FFFD.

    Byte-level BPE splits a Chinese character over several tokens. The streamer already holds back text that
    ends in an incomplete character; what still reaches the reader as "\ufffd" are bytes that can never become
    a character: a dangling piece at the end (the reply stopped mid-character) or a stray piece a small model
    generated in the middle. Those are dropped.
    """
    from transformers import TextIteratorStreamer

    class CharacterStreamer(TextIteratorStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False):
            super().on_finalized_text(text.replace("\ufffd", ""), stream_end)

    return CharacterStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def stream_side_by_side(
    chat_a: ChatModel,
    chat_b: ChatModel,
    messages_a: list[dict],
    messages_b: list[dict] | None = None,
    stop: threading.Event | None = None,
    **sampling,
) -> Iterator[tuple[str, str]]:
    """Yield (reply a so far, reply b so far) as either grows. Two separate models stream at the same time;
    two adapters of one shared model take turns (a first, then b), since the model runs one adapter at a time.
    `sampling`: max_new_tokens, temperature, top_p as in stream_reply; one `stop` event halts both.
    """
    messages_b = messages_a if messages_b is None else messages_b
    stop = stop or threading.Event()
    if chat_a.model is chat_b.model:
        reply_a = ""
        for reply_a in stream_reply(chat_a, messages_a, stop=stop, **sampling):
            yield reply_a, ""
        for reply_b in stream_reply(chat_b, messages_b, stop=stop, **sampling):
            yield reply_a, reply_b
        return
    yield from _interleave(
        lambda: stream_reply(chat_a, messages_a, stop=stop, **sampling),
        lambda: stream_reply(chat_b, messages_b, stop=stop, **sampling),
    )


def _interleave(make_a, make_b) -> Iterator[tuple[str, str]]:
    """Drain two reply streams in threads; yield the latest pair after every update from either."""
    updates: queue.Queue = queue.Queue()
    latest = ["", ""]

    def drain(side: int, make) -> None:
        try:
            for reply in make():
                updates.put((side, reply, None))
        except BaseException as err:  # handed to the reader, who raises it
            updates.put((side, None, err))
        updates.put((side, None, None))

    for side, make in enumerate((make_a, make_b)):
        threading.Thread(target=drain, args=(side, make), daemon=True).start()
    running = 2
    while running:
        side, reply, failure = updates.get()
        if failure is not None:
            raise failure
        if reply is None:
            running -= 1
            continue
        latest[side] = reply
        yield latest[0], latest[1]
