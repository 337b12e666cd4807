"""What a page keeps per browser, and the line that says what Start would train.

The whole form and the language live in the browser's localStorage (gr.BrowserState): a reload or a new
tab starts from the last used config instead of the demo preset, so pressing Start again trains what the
person set up. "Reset to defaults" goes back to the preset. Saved values are checked on the way back in:
a field this version no longer has is dropped, a dataset no longer registered is left out.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import gradio as gr

from engine.config.schema import ConfigError, RunConfig, field_problems
from engine.data.reader import read_rows
from engine.data.registry import DataError, dataset_file, dataset_names, get_entry, is_hub_entry, using_dataset_dir
from webui.i18n import text

STORAGE_KEY = "finetune-studio-form"
# Signs what the browser keeps, so that a value written by hand is not taken as the form; not a password.
STORAGE_SECRET = "finetune-studio-form-v1"


def browser_state() -> gr.BrowserState:
    return gr.BrowserState({}, storage_key=STORAGE_KEY, secret=STORAGE_SECRET)


def saved(fields: list[str], lang: str, *values) -> dict:
    """What the browser keeps: {"lang": ..., "form": {dotted field: value}}."""
    return {"lang": lang, "form": dict(zip(fields, values))}


def restored(kept: dict | None, fields: list[str], base: RunConfig, lang: str) -> list:
    """[language, one update per field]: the kept form over `base`, or `base` itself when nothing usable is kept."""
    kept = kept if isinstance(kept, dict) else {}
    values = _usable(kept.get("form") or {}, fields, base)
    language = kept.get("lang") if kept.get("lang") in ("en", "zh") else lang
    return [language, *_updates(fields, values)]


def defaults(fields: list[str], base: RunConfig) -> list:
    """One update per field that shows `base` (the reset button)."""
    return _updates(fields, {dotted: base.get(dotted) for dotted in fields})


def _usable(form: dict, fields: list[str], base: RunConfig) -> dict:
    """The kept values that still make a config, field by field; the base value where one does not."""
    values = {dotted: base.get(dotted) for dotted in fields}
    registered = dataset_names(form.get("data.dataset_dir"))
    for dotted, value in form.items():
        if dotted not in values:
            continue
        if dotted == "data.datasets":
            value = [name for name in value or [] if name in registered] or values[dotted]
        try:
            wrong = [problem for problem in field_problems(base.replace({dotted: value})) if dotted in problem]
        except (ConfigError, TypeError, ValueError):
            continue
        if not wrong:
            values[dotted] = value
    return values


def _updates(fields: list[str], values: dict) -> list:
    # The datasets picker was filled when the page was built; datasets added since must be choices too.
    names = dataset_names(values.get("data.dataset_dir"))
    return [gr.update(value=values[dotted], choices=names) if dotted == "data.datasets"
            else gr.update(value=values[dotted]) for dotted in fields]


# ---------------------------------------------------------------------------------------------------------
# The summary line


def summary(config: RunConfig, lang: str) -> str:
    """model · template · method · stage · datasets (rows) · device, in `lang`."""
    try:
        with using_dataset_dir(config.data.dataset_dir):
            rows = {name: _rows(name) for name in config.data.datasets}
    except DataError:
        rows = {name: "?" for name in config.data.datasets}
    datasets = ", ".join(text("summary.rows", lang, name=name, rows=rows[name]) for name in config.data.datasets)
    return text("summary", lang, model=config.model.name_or_path, template=config.model.template,
                method=config.method.finetuning_type, stage=config.method.stage, datasets=datasets or "—",
                device=_device())


def _rows(name: str) -> str:
    try:
        entry = get_entry(name)
        if is_hub_entry(entry):
            return "?"  # counting would load the whole hub dataset on every page change
        path = dataset_file(entry)
        return str(_count_rows(str(path), path.stat().st_mtime_ns))
    except (DataError, OSError, ValueError):
        return "?"


@lru_cache(maxsize=64)
def _count_rows(path: str, mtime_ns: int) -> int:
    return len(read_rows(Path(path)))  # mtime_ns is part of the key: an edited file is counted again


@lru_cache(maxsize=1)
def _device() -> str:
    from engine.train.memory import device_memory

    return device_memory()[0]
