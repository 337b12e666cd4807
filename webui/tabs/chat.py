"""Chat tab: chat with a run or the base model, or with two side by side (the same message goes to both and
both replies stream). LoRA runs of one base share it, so switching between them reloads nothing."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import gradio as gr

from engine.data.images import PLACEHOLDER
from engine.use.chat import build_messages, parse_tool_calls, stream_reply, stream_side_by_side

from webui import run_view
from webui.form import Form
from webui.i18n import Labels, text
from webui.loaded_models import LOADED, load_pair, source_of
from webui.stopping import stoppable, wire_stop

NONE = ""  # the second picker's value for "no second model": a single chat
TOOL_TITLE = "tool"  # the chatbot's mark (message metadata title) on a message the user sent as a tool's answer
# How an `<image>` typed in a message shows in the chatbot: as code, because the browser reads a bare <image> as an
# <img> tag, and the chatbot then draws nothing at all. An attached picture shows as itself.
SHOWN_PLACEHOLDER = f"`{PLACEHOLDER}`"
KEPT = ("picked", "picked_b", "temperature", "max_new_tokens", "top_p", "system")  # what a reload keeps


# ---------------------------------------------------------------------------------------------------------
# Handlers


def load_chat(picked: str, picked_b: str, model_values: dict, lang: str) -> tuple[str, list[str], dict]:
    """(message, the session's sources [a] or [a, b]; [] when loading failed, visibility of the second column)."""
    try:
        source_a = source_of(picked, model_values)
        if picked_b == NONE:
            chats = [LOADED.get(source_a)]
            sources = [source_a]
        else:
            sources = [source_a, source_of(picked_b, model_values)]
            chats = list(load_pair(*sources))
    except Exception as err:  # a missing model, bad folder, unknown template: all shown as plain text
        return text("chat.load_failed", lang, error=err), [], gr.update(visible=False)
    label = " | ".join(chat.label for chat in chats)
    return text("chat.loaded", lang, label=label), sources, gr.update(visible=len(chats) == 2)


def ensure_loaded(picked: str, picked_b: str, sources: list[str], model_values: dict, lang: str):
    """Send's first step: stream (message, sources, second column) that load what the pickers show now, saying
    so first (loading takes seconds to minutes); nothing changes when that is already loaded."""
    try:
        wanted = [source_of(picked, model_values)] + ([] if picked_b == NONE else [source_of(picked_b, model_values)])
    except Exception as err:  # the Model tab's values do not make a model section
        yield text("chat.load_failed", lang, error=err), [], gr.update(visible=False)
        return
    if wanted == list(sources or []):
        yield gr.skip(), gr.skip(), gr.skip()
        return
    yield text("chat.loading", lang, picked=_picked_name(picked, lang)), gr.skip(), gr.skip()
    yield load_chat(picked, picked_b, model_values, lang)


def _picked_name(picked: str, lang: str) -> str:
    return text("pick.base", lang) if picked in (run_view.BASE, "") else Path(picked).name


def plain_messages(history: list[dict], system: str) -> list[dict]:
    """Chatbot messages (content may be a list of blocks) as engine messages with text content; a picture shown
    in a message is its `<image>` placeholder there, so the model reads each picture where it was sent."""
    messages = [{"role": "system", "content": system}] if system.strip() else []
    for message in history:
        content = message["content"]
        if isinstance(content, list):
            content = "".join(_block_text(block) for block in content)
        from_tool = (message.get("metadata") or {}).get("title") == TOOL_TITLE
        content = str(content).replace(SHOWN_PLACEHOLDER, PLACEHOLDER)
        messages.append({"role": "tool" if from_tool else message["role"], "content": content})
    return messages


def _block_text(block) -> str:
    """One chatbot content block as the model reads it. Files come back from the page as {"type": "file"} and
    are sent as {"path"}; the chat attaches only pictures, so a file is a picture."""
    if not isinstance(block, dict):
        return str(block)
    if block.get("type") == "file" or "path" in block:
        return PLACEHOLDER
    return block.get("text", "")


def shown_message(message: str, attached: list[str]) -> str | list[dict]:
    """A user message as the chatbot shows it: the attached pictures themselves, then the text (a typed
    placeholder as code); plain text when nothing is attached."""
    shown = message.replace(PLACEHOLDER, SHOWN_PLACEHOLDER)
    if not attached:
        return shown
    return [*({"path": path, "alt_text": Path(path).name} for path in attached), {"type": "text", "text": shown}]


def read_tools(tools: str) -> list | None:
    """The Tools box: a JSON list of function schemas (or one schema); None when empty. ValueError when not JSON."""
    if not (tools or "").strip():
        return None
    parsed = json.loads(tools)
    parsed = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(tool, dict) for tool in parsed):
        raise ValueError("not a list of objects")
    return [tool if "type" in tool else {"type": "function", "function": tool} for tool in parsed]


def reply(message, history, history_b, sources, system, max_new_tokens, temperature, top_p, lang, stop=None,
          images=(), *, attached=(), tools: str = "", as_tool: bool = False):
    """Stream (history, second history, textbox value); the textbox empties as soon as the message is sent.

    Each side keeps its own history, so in a multi-turn side-by-side chat each model sees its own replies,
    rendered with its own training template. `images`: the conversation's pictures, one per `<image>` in it;
    `attached`: those sent with this message (the last of `images`), shown in the chatbot and read by the model
    as an `<image>` each in front of the text. `tools`: JSON function schemas offered to the model; `as_tool`:
    the message is a tool's answer to the model's last call. Calls in the reply are shown parsed.
    """
    if not sources:
        gr.Warning(text("chat.not_loaded", lang))
        yield history, history_b, message
        return
    if not (message or "").strip():
        yield history, history_b, ""
        return
    try:
        offered = read_tools(tools)
    except ValueError as err:  # json.JSONDecodeError is one
        gr.Warning(text("chat.tools_invalid", lang, error=err))
        yield history, history_b, message
        return
    stop = stop or threading.Event()
    sampling = {"max_new_tokens": int(max_new_tokens), "temperature": float(temperature), "top_p": float(top_p),
                "images": list(images), "tools": offered}
    asked = {"role": "user", "content": shown_message(message, list(attached)),
             **({"metadata": {"title": TOOL_TITLE}} if as_tool else {})}
    before = history, history_b, message
    sent = PLACEHOLDER * len(attached) + message
    history, history_b = [*history, asked], [*history_b, asked]
    answer, streamed = "", False
    try:
        role = "tool" if as_tool else "user"
        for answer, answer_b in replies(sources, sent, history[:-1], history_b[:-1], system or "", sampling, stop,
                                        role=role):
            second = [*history_b, {"role": "assistant", "content": answer_b}] if len(sources) == 2 else history_b[:-1]
            streamed = True
            yield [*history, {"role": "assistant", "content": answer}], second, ""
        if calls := parse_tool_calls(answer):
            gr.Info(text("chat.tool_calls", lang, calls=json.dumps(calls, ensure_ascii=False)))
    except Exception as err:  # e.g. out of memory mid-reply: say so in the page instead of a red error box
        gr.Warning(text("chat.reply_failed", lang, error=err))
        if not streamed:  # a handler that yields nothing empties its outputs: keep the conversation and message
            yield before
    finally:
        stop.set()  # the page went away or Clear was pressed: let generation end early


def reply_with_images(files, pictures, message, *rest, **tool_options):
    """reply() with the pictures attached to this message, and the conversation's pictures (a gr.State) grown
    by them once the message is sent. Streams reply's three outputs, then the emptied file box and the pictures."""
    attached = [getattr(file, "name", file) for file in files or []]
    every = [*(pictures or []), *attached]
    history = rest[0]
    for step in reply(message, *rest, images=every, attached=attached, **tool_options):
        if len(step[0]) > len(history):  # sent: the file box empties, the pictures join the conversation's
            yield (*step, None, every)
        else:  # not sent (nothing loaded, a failed reply): the text and the files stay for another try
            yield (*step[:2], message, files, pictures)


def clear(stop: threading.Event | None):
    """Empty both conversations, the textbox, the attached files and the pictures; a streaming reply stops first."""
    if stop is not None:
        stop.set()
    return [], [], "", None, []


def replies(sources, message, history, history_b, system, sampling, stop, role="user"):
    """(reply a so far, reply b so far) as they grow; b stays "" in a single chat."""
    messages = build_messages(system, plain_messages(history, ""), message, role=role)
    if len(sources) == 1:
        for answer in stream_reply(LOADED.get(sources[0]), messages, stop=stop, **sampling):
            yield answer, ""
        return
    chat_a, chat_b = load_pair(*sources)
    messages_b = build_messages(system, plain_messages(history_b, ""), message, role=role)
    yield from stream_side_by_side(chat_a, chat_b, messages, messages_b, stop=stop, **sampling)


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def second_choices(lang: str) -> list[tuple[str, str]]:
    return [(text("chat.none", lang), NONE), *run_view.source_choices(lang)]


def build_chat_tab(labels: Labels) -> dict:
    parts = {}
    lang = labels.lang
    with gr.Row():
        parts["picked"] = labels.labelled(gr.Dropdown, "pick.source", choices=run_view.source_choices(lang),
                                          value=run_view.BASE, scale=3, elem_id="chat-source")
        parts["picked_b"] = labels.labelled(gr.Dropdown, "chat.second", choices=second_choices(lang), value=NONE,
                                            scale=3, elem_id="chat-source-b")
        parts["refresh"] = labels.button("pick.refresh", size="sm", scale=1)
        parts["load"] = labels.button("chat.load", variant="primary", scale=1, elem_id="chat-load")
    parts["status"] = gr.Markdown(elem_id="chat-status")
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                parts["chatbot"] = labels.labelled(gr.Chatbot, "chat.chatbot", height=380, elem_id="chatbot")
                with gr.Column(visible=False) as parts["column_b"]:
                    parts["chatbot_b"] = labels.labelled(gr.Chatbot, "chat.chatbot_b", height=380, elem_id="chatbot-b")
            parts["message"] = labels.labelled(gr.Textbox, "chat.message", elem_id="chat-message")
            parts["images"] = labels.labelled(gr.File, "chat.images", file_count="multiple", file_types=["image"],
                                              height=90, elem_id="chat-images")
            with gr.Row():
                parts["send"] = labels.button("chat.send", variant="primary", elem_id="chat-send")
                parts["stop"] = labels.button("chat.stop", variant="stop", elem_id="chat-stop")
                parts["clear"] = labels.button("chat.clear")
        with gr.Column(scale=1):
            parts["system"] = labels.labelled(gr.Textbox, "chat.system", lines=3)
            parts["tools"] = labels.labelled(gr.Textbox, "chat.tools", lines=3, elem_id="chat-tools")
            parts["as_tool"] = labels.labelled(gr.Checkbox, "chat.as_tool", value=False, elem_id="chat-as-tool")
            parts["max_new_tokens"] = labels.labelled(gr.Slider, "chat.max_new_tokens", minimum=8, maximum=2048,
                                                      value=128, step=8)
            parts["temperature"] = labels.labelled(gr.Slider, "chat.temperature", minimum=0.0, maximum=1.5,
                                                   value=0.7, step=0.05, elem_id="chat-temperature")
            parts["top_p"] = labels.labelled(gr.Slider, "chat.top_p", minimum=0.05, maximum=1.0, value=0.9, step=0.05)
    parts["sources"] = gr.State([])
    parts["pictures"] = gr.State([])  # the conversation's pictures, in the order of its <image> placeholders
    parts["stop_event"] = gr.State(None)
    # KEPT across reloads; a fixed secret (a signature, not a password) so that every build reads what another wrote
    parts["kept"] = gr.BrowserState({}, storage_key="finetune-studio-chat", secret="finetune-studio-chat-v1")
    return parts


def wire_chat_tab(parts: dict, form: Form, lang: gr.Radio, tab: gr.Tab) -> None:
    model_fields = [f for f in form.fields if f.startswith("model.")]
    model_controls = [form.controls[f] for f in model_fields]

    def refresh(current_lang, picked, picked_b):
        choices, seconds = run_view.source_choices(current_lang), second_choices(current_lang)
        return (run_view.refreshed_picker(choices, picked, run_view.BASE),
                run_view.refreshed_picker(seconds, picked_b, NONE))

    for event in (tab.select, parts["refresh"].click, parts["picked"].focus, parts["picked_b"].focus):
        event(refresh, [lang, parts["picked"], parts["picked_b"]], [parts["picked"], parts["picked_b"]])

    def load(picked, picked_b, current_lang, *model_values):
        return load_chat(picked, picked_b, dict(zip(model_fields, model_values)), current_lang)

    parts["load"].click(load, [parts["picked"], parts["picked_b"], lang, *model_controls],
                        [parts["status"], parts["sources"], parts["column_b"]])
    names = ("images", "pictures", "message", "chatbot", "chatbot_b", "sources", "system", "max_new_tokens",
             "temperature", "top_p", "tools", "as_tool")
    inputs = [parts[k] for k in names]
    outputs = [parts[k] for k in ("chatbot", "chatbot_b", "message", "images", "pictures")]

    def send(*values):
        *sampling, tools, as_tool, current_lang, stop = values
        yield from reply_with_images(*sampling, current_lang, stop, tools=tools, as_tool=as_tool)

    def loaded(picked, picked_b, sources, current_lang, *model_values):
        yield from ensure_loaded(picked, picked_b, sources, dict(zip(model_fields, model_values)), current_lang)

    loading = [trigger(loaded, [parts["picked"], parts["picked_b"], parts["sources"], lang, *model_controls],
                       [parts["status"], parts["sources"], parts["column_b"]], show_progress="minimal")
               for trigger in (parts["send"].click, parts["message"].submit)]
    sending = [stoppable(first.then, send, [*inputs, lang], outputs, parts["stop_event"]) for first in loading]
    wire_stop(parts["stop"], parts["stop_event"])
    parts["clear"].click(clear, parts["stop_event"], outputs, cancels=sending)


def kept_settings(kept: dict | None, lang: str) -> list:
    """One update per KEPT control from what the browser kept; a run no longer offered (deleted, or not finished
    any more) is left as the page drew it."""
    kept = kept if isinstance(kept, dict) else {}
    offered = {"picked": dict(run_view.source_choices(lang)).values(), "picked_b": dict(second_choices(lang)).values()}
    updates = []
    for name in KEPT:
        value = kept.get(name)
        usable = value is not None and (name not in offered or value in offered[name])
        # A picker was filled when the page was built: a run finished since must be among its choices too.
        choices = {"choices": second_choices(lang) if name == "picked_b" else run_view.source_choices(lang)} \
            if name in offered else {}
        updates.append(gr.update(value=value, **choices) if usable else gr.skip())
    return updates


def wire_chat_memory(app: gr.Blocks, parts: dict, lang: gr.Radio) -> None:
    """The browser keeps the chat's run and sampling settings: a reload (or "chat with this run") picks up there."""
    controls = [parts[name] for name in KEPT]
    app.load(kept_settings, [parts["kept"], lang], controls, show_progress="hidden")
    gr.on([control.change for control in controls], lambda *values: dict(zip(KEPT, values)), controls,
          parts["kept"], show_progress="hidden", trigger_mode="always_last")
