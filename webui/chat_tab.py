"""Chat tab: load a finished run or the base model, then chat with streamed replies."""
from __future__ import annotations

import threading
from collections import OrderedDict

import gradio as gr

from engine.chat import ChatModel, load_base_for_chat, load_run_for_chat, stream_reply

from . import run_view
from .form import Form, config_from_values
from .i18n import Labels, text


# ---------------------------------------------------------------------------------------------------------
# Loaded models: a real process resource (slow to load, large), so shared by every session of the process


class ChatModels:
    def __init__(self, capacity: int = 2):
        self.capacity = capacity
        self.loaded: OrderedDict[str, ChatModel] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, source: str) -> ChatModel:
        """The model for `source` (a run directory, or "base:<model config as YAML>"), loading it if needed."""
        with self.lock:
            if source not in self.loaded:
                self.loaded[source] = load_source(source)
                while len(self.loaded) > self.capacity:  # free the least recently used one
                    self.loaded.popitem(last=False)
            self.loaded.move_to_end(source)
            return self.loaded[source]


def load_source(source: str) -> ChatModel:
    if source.startswith("base:"):
        from engine.config import RunConfig

        return load_base_for_chat(RunConfig.from_yaml(source.removeprefix("base:")).model)
    return load_run_for_chat(source)


CHAT_MODELS = ChatModels()


# ---------------------------------------------------------------------------------------------------------
# Handlers


def chat_source(picked: str, model_values: dict) -> str:
    """The cache key for what the user picked; the base model is described by its whole model section."""
    if picked == run_view.BASE or not picked:
        config = config_from_values(model_values)
        return "base:" + config.to_yaml()
    return picked


def load_chat(picked: str, model_values: dict, lang: str) -> tuple[str, str]:
    """(message, session's chat source; "" when loading failed)."""
    try:
        source = chat_source(picked, model_values)
        loaded = CHAT_MODELS.get(source)
    except Exception as err:  # a missing model, bad folder, unknown template: all shown as plain text
        return text("chat.load_failed", lang, error=err), ""
    return text("chat.loaded", lang, label=loaded.label), source


def plain_messages(history: list[dict], system: str) -> list[dict]:
    """Chatbot messages (content may be a list of blocks) as engine messages with text content."""
    messages = [{"role": "system", "content": system}] if system.strip() else []
    for message in history:
        content = message["content"]
        if isinstance(content, list):
            content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        messages.append({"role": message["role"], "content": str(content)})
    return messages


def reply(message, history, source, system, max_new_tokens, temperature, top_p, lang):
    """Stream (history, textbox value); the textbox empties as soon as the message is sent."""
    if not source:
        gr.Warning(text("chat.not_loaded", lang))
        yield history, message
        return
    history = [*history, {"role": "user", "content": message}]
    stop = threading.Event()
    try:
        for partial in stream_reply(CHAT_MODELS.get(source), plain_messages(history, system or ""),
                                    int(max_new_tokens), float(temperature), float(top_p), stop=stop):
            yield [*history, {"role": "assistant", "content": partial}], ""
    finally:
        stop.set()  # the page went away or Clear was pressed: let generation end early


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def build_chat_tab(labels: Labels) -> dict:
    parts = {}
    with gr.Row():
        parts["picked"] = labels.labelled(gr.Dropdown, "pick.source", choices=run_view.source_choices(labels.lang),
                                          value=run_view.BASE, scale=4, elem_id="chat-source")
        parts["refresh"] = labels.button("pick.refresh", size="sm", scale=1)
        parts["load"] = labels.button("chat.load", variant="primary", scale=1, elem_id="chat-load")
    parts["status"] = gr.Markdown(elem_id="chat-status")
    with gr.Row():
        with gr.Column(scale=3):
            parts["chatbot"] = labels.labelled(gr.Chatbot, "chat.chatbot", height=380, elem_id="chatbot")
            parts["message"] = labels.labelled(gr.Textbox, "chat.message", elem_id="chat-message")
            with gr.Row():
                parts["send"] = labels.button("chat.send", variant="primary", elem_id="chat-send")
                parts["clear"] = labels.button("chat.clear")
        with gr.Column(scale=1):
            parts["system"] = labels.labelled(gr.Textbox, "chat.system", lines=3)
            parts["max_new_tokens"] = labels.labelled(gr.Slider, "chat.max_new_tokens", minimum=8, maximum=2048, value=128, step=8)
            parts["temperature"] = labels.labelled(gr.Slider, "chat.temperature", minimum=0.0, maximum=1.5, value=0.7, step=0.05)
            parts["top_p"] = labels.labelled(gr.Slider, "chat.top_p", minimum=0.05, maximum=1.0, value=0.9, step=0.05)
    parts["source"] = gr.State("")
    return parts


def wire_chat_tab(parts: dict, form: Form, lang: gr.Radio, tab: gr.Tab) -> None:
    model_fields = [f for f in form.fields if f.startswith("model.")]
    model_controls = [form.controls[f] for f in model_fields]

    def refresh(current_lang, picked):
        choices = run_view.source_choices(current_lang)
        return gr.update(choices=choices, value=picked if picked in dict(choices).values() else run_view.BASE)

    for event in (tab.select, parts["refresh"].click):
        event(refresh, [lang, parts["picked"]], parts["picked"])

    def load(picked, current_lang, *model_values):
        return load_chat(picked, dict(zip(model_fields, model_values)), current_lang)

    parts["load"].click(load, [parts["picked"], lang, *model_controls], [parts["status"], parts["source"]])
    inputs = [parts[k] for k in ("message", "chatbot", "source", "system", "max_new_tokens", "temperature", "top_p")]
    outputs = [parts["chatbot"], parts["message"]]
    sending = [parts["send"].click(reply, [*inputs, lang], outputs), parts["message"].submit(reply, [*inputs, lang], outputs)]
    parts["clear"].click(lambda: ([], ""), None, outputs, cancels=sending)
