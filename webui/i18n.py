"""Every piece of text the studio shows, in English and Simplified Chinese.

Config fields take their English help text from the config's own metadata (engine/config/schema.py), so the help
a user reads is the same one `validate()` and the YAML comments are written against; `FIELDS`
(webui/field_texts.py) adds a short English label and the Chinese label and help. Everything else the UI
shows is a key in `TEXT` (webui/texts.py).

The language switch relabels the page live: each tab registers its labelled components in a `Labels`
registry while it is built, and `Labels.updates(lang)` returns one gr.update per component.
"""
from __future__ import annotations

import gradio as gr

from engine.config.schema import field_info
from engine.messages import Message, render

from webui.field_texts import FIELDS, OPTION_WORDS
from webui.messages_zh import MESSAGES_ZH
from webui.texts import TEXT

LANGUAGES = [("English", "en"), ("简体中文", "zh")]
HEADER_KEYS = ("column.", "evaluate.column.")  # TEXT keys of table headers (translated_columns)


def text(key: str, lang: str, **values) -> str:
    """TEXT[key] in `lang` with `values` filled in; an engine message among them (or an error that carries one,
    as the engine raises them) is put in `lang` too."""
    entry = TEXT[key]
    template = entry.get(lang) or entry["en"]
    return template.format(**{name: _in_language(value, lang) for name, value in values.items()}) if values \
        else template


def _in_language(value, lang: str):
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], Message):
        value = value.args[0]
    if isinstance(value, BaseException) and lang == "zh":  # a library's own words: quoted as such, as they are
        return f"「{value}」"
    return localize(value, lang) if isinstance(value, Message) else value


def localize(message, lang: str) -> str:
    """An engine message in `lang`: a `Message` by its code, naming a config field by its label in `lang` (the
    engine names it by its key, train.learning_rate, as the YAML does); any other text as it is."""
    if not isinstance(message, Message):
        return str(message)
    params = {name: _labelled(value, lang) if name == "field" else value for name, value in message.params.items()}
    if lang == "zh":
        return render(MESSAGES_ZH[message.code], params, MESSAGES_ZH)
    return str(Message(message.code, **params))


def _labelled(field, lang: str):
    """A config field's key as its label, e.g. "学习率"; anything else as it is."""
    return field_label(field, lang) if isinstance(field, str) and field in FIELDS else field


def translated_columns(table, lang: str):
    """`table` (a pandas DataFrame) with the headers that are studio words ("column.*" and "evaluate.column.*"
    keys of TEXT, in either language) in `lang`; other headers, and the rows, as they are."""
    words = {value: entry[lang] for key, entry in TEXT.items() if key.startswith(HEADER_KEYS)
             for value in entry.values()}
    return table.rename(columns=lambda header: words.get(header, header))


def field_label(dotted: str, lang: str) -> str:
    labels = FIELDS.get(dotted)
    if labels is None:  # a field added to the config after this table: still usable, in English
        return dotted.split(".")[1].replace("_", " ").capitalize()
    return labels[1] if lang == "zh" else labels[0]


def option_choices(dotted: str, lang: str) -> list[tuple[str, str]]:
    """(shown, value) for each choice of config field `dotted`: word-like values in `lang`, names as they are."""
    words = {value: pair[1] if lang == "zh" else pair[0] for value, pair in OPTION_WORDS.items()}
    return [(words.get(choice, choice), choice) for choice in field_info(dotted)["choices"]]


def field_help(dotted: str, lang: str) -> str:
    labels = FIELDS.get(dotted)
    return labels[2] if lang == "zh" and labels else field_info(dotted)["help"]


# ---------------------------------------------------------------------------------------------------------
# Live relabelling


class Labels:
    """Components whose text depends on the language, with the key each one reads; filled while building.

    The helpers create a component already showing the text of the page's starting language.
    """

    def __init__(self, lang: str):
        self.lang = lang
        self.entries: list[tuple[object, str]] = []

    def add(self, component, key: str):
        """Register `component` under a TEXT key, or under "field:<dotted>" for a config control."""
        self.entries.append((component, key))
        return component

    def button(self, key: str, **options) -> gr.Button:
        return self.add(gr.Button(text(key, self.lang), **options), key)

    def markdown(self, key: str, **options) -> gr.Markdown:
        return self.add(gr.Markdown(text(key, self.lang), **options), key)

    def tab(self, key: str, **options) -> gr.Tab:
        return self.add(gr.Tab(text(key, self.lang), **options), key)

    def labelled(self, kind, key: str, **options):
        """Any component with a `label` (Textbox, Dropdown, Plot, UploadButton, ...)."""
        return self.add(kind(label=text(key, self.lang), **options), key)

    def field(self, kind, dotted: str, **options):
        """A control labelled like config field `dotted` but not bound to it (a one-off action's parameter)."""
        labelled = kind(label=field_label(dotted, self.lang), info=field_help(dotted, self.lang), **options)
        return self.add(labelled, f"field:{dotted}")

    @property
    def components(self) -> list:
        return [component for component, _ in self.entries]

    def updates(self, lang: str) -> list:
        return [relabel(component, key, lang) for component, key in self.entries]


def relabel(component, key: str, lang: str):
    """The gr.update that shows `component` in `lang`: buttons and markdown change their value, others their label."""
    if key.startswith("field:"):
        dotted = key.removeprefix("field:")
        chooser = isinstance(component, (gr.Dropdown, gr.Radio)) and field_info(dotted)["choices"]
        return gr.update(label=field_label(dotted, lang), info=field_help(dotted, lang),
                         **({"choices": option_choices(dotted, lang)} if chooser else {}))
    if isinstance(component, (gr.Button, gr.Markdown)):
        return gr.update(value=text(key, lang))
    return gr.update(label=text(key, lang))
