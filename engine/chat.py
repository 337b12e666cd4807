"""Chatting with a base model or a trained run, with streamed output."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import ModelConfig, RunConfig
from .models import load_model, load_tokenizer
from .runs import CONFIG_FILE
from .templates import ChatTemplate, load_template, render_messages
from .training import FINAL_DIR


@dataclass
class ChatModel:
    model: object
    tokenizer: object
    template: ChatTemplate
    label: str

    @property
    def stop_token_ids(self) -> list[int]:
        """The tokenizer's eos plus every template stop word that is a single token."""
        ids = {self.tokenizer.eos_token_id}
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[word] for word in self.template.stop_words if word in vocab)
        return sorted(i for i in ids if i is not None)


def load_base_for_chat(model_config: ModelConfig) -> ChatModel:
    tokenizer = load_tokenizer(model_config)
    model = load_model(model_config).eval()
    return ChatModel(model, tokenizer, load_template(model_config.template, tokenizer), model_config.name_or_path)


def load_run_for_chat(run_dir: Path) -> ChatModel:
    """The run's trained result: base + adapter for LoRA, the saved model otherwise; its own template."""
    run_dir = Path(run_dir)
    final = run_dir / FINAL_DIR
    if not final.exists():
        raise FileNotFoundError(f"run {run_dir.name} has no trained result yet ({FINAL_DIR}/ is missing)")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    tokenizer = load_tokenizer(config.model, location=str(final))
    if (final / "adapter_config.json").exists():
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_model(config.model), str(final))
    else:
        model = load_model(config.model, location=str(final))
    template = load_template(config.model.template, tokenizer)
    return ChatModel(model.eval(), tokenizer, template, run_dir.name)


def stream_reply(
    chat: ChatModel,
    messages: list[dict],
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    top_p: float = 0.9,
    stop: threading.Event | None = None,
) -> Iterator[str]:
    """Yield the reply as it grows (each item is the whole reply so far); temperature 0 = greedy."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    prompt = render_messages(chat.template, chat.tokenizer, messages, add_generation_prompt=True)
    inputs = chat.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(chat.model.device)
    streamer = TextIteratorStreamer(chat.tokenizer, skip_prompt=True, skip_special_tokens=True)
    stop = stop or threading.Event()

    class StopOnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return stop.is_set()

    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {"do_sample": False}
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
            with torch.inference_mode():
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
