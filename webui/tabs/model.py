"""Model tab: base model, chat template, compute dtype, remote code."""
from __future__ import annotations

import gradio as gr

from engine.config.schema import all_fields
from engine.data.templates import list_templates
from engine.models.builtin import is_builtin
from engine.models.packaged import is_packaged, packaged_choices

from webui.form import Form

# Offered in the picker; any other Hub id, a local folder or a .gguf file can be typed in. The packaged real
# models come right after the built-in one, labelled with their licences (packaged_choices).
COMMON_MODELS = [
    "builtin:tiny-demo",
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-1.7B",
    "Qwen/Qwen3-8B",
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "google/gemma-2-2b-it",
    "google/gemma-3-1b-it",
    "microsoft/Phi-3.5-mini-instruct",
    "microsoft/phi-4",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    "THUDM/glm-4-9b-chat",
]

# Fields of the model section placed explicitly above; any other (e.g. quantization, added later) is
# shown with its default control so a new config field appears without touching this file.
PLACED = ("model.name_or_path", "model.template", "model.dtype", "model.trust_remote_code")
FOUR_BIT_ONLY = ("model.quant_type", "model.double_quant")


def build_model_tab(form: Form, labels) -> dict:
    with gr.Row():
        name = form.control("model.name_or_path", gr.Dropdown, choices=model_choices(), allow_custom_value=True,
                            scale=3)
        form.control("model.template", gr.Dropdown, choices=list_templates(), scale=1)
        form.control("model.dtype", scale=1)
    four_bit = getattr(form.base.model, "quantization", "none") == "4bit"
    with gr.Row():
        others = {dotted: form.control(dotted, visible=four_bit or dotted not in FOUR_BIT_ONLY)
                  for dotted in all_fields() if dotted.startswith("model.") and dotted not in PLACED}
    builtin_note = labels.markdown("model.builtin_note", visible=is_builtin(form.base.model.name_or_path))
    packaged_note = labels.markdown("model.packaged_note", visible=is_packaged(form.base.model.name_or_path))
    trust = form.control("model.trust_remote_code")
    warning = labels.markdown("model.remote_code_warning", visible=form.base.model.trust_remote_code)
    parts = {"name": name, "builtin_note": builtin_note, "packaged_note": packaged_note, "trust": trust,
             "warning": warning}
    if all(dotted in others for dotted in ("model.quantization", *FOUR_BIT_ONLY)):
        parts["quantization"] = others["model.quantization"]
        parts["four_bit"] = [others[dotted] for dotted in FOUR_BIT_ONLY]
    return parts


def wire_model_tab(parts: dict) -> None:
    parts["name"].change(builtin_note, parts["name"], parts["builtin_note"])
    parts["name"].change(packaged_note, parts["name"], parts["packaged_note"])
    parts["trust"].change(remote_code_warning, parts["trust"], parts["warning"])
    if "quantization" in parts:
        parts["quantization"].change(four_bit_visibility, parts["quantization"], parts["four_bit"])


def four_bit_visibility(quantization: str) -> list[dict]:
    """The 4-bit options (number format, double quantization) show only when 4-bit is chosen."""
    return [gr.update(visible=quantization == "4bit") for _ in FOUR_BIT_ONLY]


def builtin_note(name: str | None):
    """The built-in model's caveat shows while it is the chosen model."""
    return gr.update(visible=is_builtin(name or ""))


def packaged_note(name: str | None):
    """What a packaged real model is (a GGUF converted on first use) shows while one is chosen."""
    return gr.update(visible=is_packaged(name or ""))


def model_choices() -> list:
    """The picker's entries: the built-in model, the packaged real models (licence, install hint), the Hub ids."""
    first, *hub = COMMON_MODELS
    return [first, *packaged_choices(), *hub]


def remote_code_warning(trusted: bool):
    return gr.update(visible=bool(trusted))
