"""The studio page: a header with the language switch, one tab per step, and the timer that follows runs."""
from __future__ import annotations


import gradio as gr
from starlette.middleware import Middleware

from engine.config.schema import ConfigError
from engine.data.uploads import MAX_UPLOAD_BYTES
from webui import page_state, run_view
from webui.gate import SESSION_SECONDS, Gate
from webui.page_locale import GRADIO_LOCALE_JS, PageLocale, translations
from webui.next_steps import build_next_steps, wire_next_steps
from webui.presets import load_preset, preset_choices
from webui.tabs.chat import build_chat_tab, wire_chat_memory, wire_chat_tab
from webui.tabs.data import build_data_tab, wire_data_tab
from webui.tabs.evaluate import build_evaluate_tab, wire_evaluate_tab
from webui.tabs.export import build_export_tab, wire_export_tab
from webui.form import Form
from webui.i18n import LANGUAGES, Labels, text, translated_columns
from webui.tabs.method import build_method_tab, wire_method_tab
from webui.tabs.model import build_model_tab, wire_model_tab
from webui.tabs.train import build_train_tab, wire_train_tab

CSS = """
.run-progress { font-size: 0.95rem; }
.run-bar { height: 14px; background: var(--neutral-200); border-radius: 7px; overflow: hidden; margin: 4px 0 6px; }
.run-bar > div { height: 100%; background: var(--primary-500); transition: width 0.5s; }
.run-error { white-space: pre-wrap; color: var(--error-text-color, #b91c1c); }
#language { max-width: 260px; }
.wrap-report pre, .wrap-report code { white-space: pre-wrap; overflow-wrap: anywhere; }
.curve-empty { height: 340px; display: flex; align-items: center; justify-content: center; text-align: center;
  padding: 0 24px; border: 1px dashed var(--border-color-primary); border-radius: 8px;
  color: var(--body-text-color-subdued); }
"""

# System fonts only: the default theme fetches web fonts, which an offline machine cannot reach.
THEME = gr.themes.Soft(
    font=["system-ui", "Noto Sans", "Noto Sans CJK SC", "sans-serif"],
    font_mono=["ui-monospace", "Noto Sans Mono", "monospace"],
)
REFRESH_SECONDS = 1.0
# Every 30 minutes gradio deletes the uploads and other temporary files of this app older than two hours (an
# import copies what it keeps into the data folder), and all of them when the server stops.
TEMPORARY_FILES = (30 * 60, 2 * 60 * 60)  # (how often, how old) in seconds



def build_app(lang: str = "en") -> gr.Blocks:
    labels = Labels(lang)
    with gr.Blocks(title="Finetune Studio", delete_cache=TEMPORARY_FILES) as app:
        with gr.Row(equal_height=True):
            labels.markdown("title", container=False)
            language = gr.Radio(
                LANGUAGES, value=lang, label="Language · 语言", show_label=False, container=False, elem_id="language",
                scale=0, min_width=240,
            )
            # Both languages at once, like the language switch: relabelled with the page, an empty dropdown left
            # the language switch's follow-up step undone in the browser (the upload zones stayed hidden).
            preset = gr.Dropdown(label=f"{text('preset', 'en')} · {text('preset', 'zh')}", choices=preset_choices(),
                                 value=None, scale=0, min_width=200, elem_id="preset")
            reset = labels.button("reset", size="sm", scale=0, min_width=160, elem_id="reset-form")
        labels.markdown("subtitle")
        form = Form(labels, lang)
        with gr.Row(equal_height=True):
            summary = gr.Markdown(elem_id="summary")  # drawn when the page loads: the device needs torch
            start = labels.button("train.start", variant="primary", size="sm", scale=0, min_width=120,
                                  elem_id="summary-start")  # Start from wherever the newcomer is
        kept = page_state.browser_state()
        run_dir, shown = gr.State(""), gr.State(None)  # this page's run, and what the timer last drew of it
        timer = gr.Timer(REFRESH_SECONDS)
        tabs = {}
        with gr.Tabs() as tab_set:
            with labels.tab("tab.data", id="data") as tabs["data"]:
                data = build_data_tab(form, labels)
            with labels.tab("tab.model", id="model") as tabs["model"]:
                model = build_model_tab(form, labels)
            with labels.tab("tab.method", id="method") as tabs["method"]:
                method = build_method_tab(form)
            with labels.tab("tab.train", id="train") as tabs["train"]:
                next_steps = build_next_steps(labels)
                train = build_train_tab(form, labels)
            with labels.tab("tab.evaluate", id="evaluate") as tabs["evaluate"]:
                evaluate = build_evaluate_tab(labels, form)
            with labels.tab("tab.chat", id="chat") as tabs["chat"]:
                chat = build_chat_tab(labels)
            with labels.tab("tab.export", id="export") as tabs["export"]:
                export = build_export_tab(labels)

        # When a person picks a language (a page is served in its kept language already): Gradio's locale first,
        # in the browser, then every label; forgetting what the timer drew redraws the run view, and the upload
        # zones Gradio drew are hidden and shown again, so that they draw in its new locale. On `input`, not
        # `change` (showing the zones makes the front end re-send the change), and wired before the other
        # language handlers, so that on a busy machine the labels change first.
        drawn = [data["file"], chat["images"]]
        switched = language.input(None, language, None, js=GRADIO_LOCALE_JS)
        relabel = switched.then(lambda new: [*relabelled(labels, new, drawn), None], language,
                                [*labels.components, shown])
        relabel.then(lambda: [gr.update(visible=True)] * len(drawn), None, drawn, show_progress="hidden")
        wire_data_tab(data, language)
        wire_model_tab(model)
        wire_method_tab(method)
        wire_train_tab({**train, "starts": [train["start"], start]}, form, language, run_dir, shown, timer,
                       next_steps["row"])
        start.click(lambda: gr.Tabs(selected="train"), None, tab_set, queue=False)  # where the run is followed
        wire_evaluate_tab(evaluate, form, language, tabs["evaluate"])
        wire_chat_tab(chat, form, language, tabs["chat"])
        wire_export_tab(export, language, tabs["export"])
        pickers = {"evaluate": evaluate["picked"], "chat": chat["picked"], "export": export["run"]}
        wire_next_steps(next_steps, tab_set, pickers, run_dir, language)

        # Tables keep their rows and take the new language's headers.
        tables = [evaluate["rows"], evaluate["compared"], export["files"]]
        language.change(lambda lang, *shown: [translated_columns(table, lang) for table in shown],
                        [language, *tables], tables, show_progress="hidden")
        # A new or reloaded page follows the run that is training now, else the newest one (read from disk).
        app.load(lambda: (run_view.attach_run(), None), None, [run_dir, shown])
        wire_chat_memory(app, chat, language)
        restoring = wire_page_state(app, form, language, reset, summary, kept)
        preset.input(lambda name: load_preset(name, form.fields), preset, form.components)
        restoring.then(None, language, None, js=GRADIO_LOCALE_JS)
    return app


def wire_page_state(
    app: gr.Blocks, form: Form, language: gr.Radio, reset: gr.Button, summary: gr.Markdown, kept: gr.BrowserState
):
    """The browser keeps the form and the language: a new page starts from them, every change saves them and
    redraws the summary line, and Reset goes back to the preset."""
    fields, base = form.fields, form.base

    def changed(lang, *values):
        try:
            line = page_state.summary(form.config(list(values)), lang)
        except ConfigError:
            line = gr.skip()  # a value being typed; the line catches up when the form is valid again
        return line, page_state.saved(fields, lang, *values)

    restoring = app.load(
        lambda stored, lang: page_state.restored(stored, fields, base, lang),
        [kept, language],
        [language, *form.components],
    )
    restoring.then(changed, [language, *form.components], [summary, kept], show_progress="hidden")
    gr.on(
        [language.change, *(control.change for control in form.components)],
        changed,
        [language, *form.components],
        [summary, kept],
        show_progress="hidden",
        trigger_mode="always_last",
    )
    reset.click(lambda: page_state.defaults(fields, base), None, form.components)
    return restoring


def relabelled(labels: Labels, lang: str, drawn: list) -> list:
    """One update per labelled component in `lang`; the `drawn` ones (always visible) are hidden as well, so
    that showing them again draws them anew, in Gradio's new locale (GRADIO_LOCALE_JS)."""
    updates, hidden = labels.updates(lang), {id(component) for component in drawn}
    for component, update in zip(labels.components, updates):
        if id(component) in hidden:
            update["visible"] = False
    return updates


def launch_options(lang: str = "en", app: gr.Blocks | None = None, session_seconds: float = SESSION_SECONDS) -> dict:
    """Options for Blocks.launch(): the page's look (gradio 6 takes it at launch), the largest upload the server
    writes, the gate in front of every route (webui/gate.py), every page in its reader's language from the first
    draw (webui/page_locale.py: `app`, built in `lang`, is built once more in each other language to learn its
    words) and the login page's note on wrong passwords."""
    translated = {other: translations(app, build_app(other)) for _, other in LANGUAGES if other != lang} if app \
        else {}
    return {"theme": THEME, "css": CSS, "max_file_size": MAX_UPLOAD_BYTES,
            "app_kwargs": {"middleware": [Middleware(PageLocale, lang=lang, translated=translated),
                                          Middleware(Gate, session_seconds=session_seconds)]},
            "auth_message": text("gate.login_note", lang)}
