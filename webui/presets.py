"""Presets a person can load into the whole form at once (beside Reset): the quick demo the page starts from,
and the real demos that fine-tune a real small model (examples/real_demo.yaml, real_demo_zh.yaml). Add a row
to offer another."""
from __future__ import annotations

import gradio as gr

from engine.config.schema import RunConfig
from engine.paths import PROJECT_DIR

from webui import page_state

PRESETS = {
    "quick_demo": PROJECT_DIR / "examples" / "quick_demo.yaml",
    "real_demo": PROJECT_DIR / "examples" / "real_demo.yaml",
    "real_demo_zh": PROJECT_DIR / "examples" / "real_demo_zh.yaml",
}


def preset_choices() -> list[str]:
    return list(PRESETS)


def load_preset(name: str | None, fields: list[str]) -> list:
    """One update per field that shows preset `name`; nothing changes for an empty choice."""
    if name not in PRESETS:
        return [gr.skip() for _ in fields]
    return page_state.defaults(fields, RunConfig.load(PRESETS[name]))
