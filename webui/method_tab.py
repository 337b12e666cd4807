"""Method tab: training stage and fine-tuning type, showing only the controls the chosen pair uses."""
from __future__ import annotations

import gradio as gr

from engine.config import all_fields

from .form import Form

# When a method field matters: (fine-tuning types, stages); None = any. Fields not listed always show,
# so a field added to the config appears here without a code change.
RELEVANT: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = {
    "method.lora_rank": (("lora", "adalora"), None),
    "method.lora_alpha": (("lora", "adalora"), None),
    "method.lora_dropout": (("lora", "adalora"), None),
    "method.lora_target": (("lora", "adalora"), None),
    "method.use_rslora": (("lora",), None),
    "method.use_dora": (("lora",), None),
    "method.pissa_init": (("lora",), None),
    "method.loraplus_lr_ratio": (("lora",), None),
    "method.modules_to_save": (("lora", "adalora", "ia3"), None),
    "method.adalora_init_rank": (("adalora",), None),
    "method.num_virtual_tokens": (("prefix", "prompt", "ptuning"), None),
    "method.freeze_trainable_layers": (("freeze",), None),
    "method.pref_beta": (None, ("dpo", "orpo", "kto")),
    "method.pref_loss": (None, ("dpo",)),
    "method.simpo_gamma": (None, ("dpo",)),
}
CHOOSERS = ("method.stage", "method.finetuning_type")
SLIDERS = {"method.lora_dropout": {"minimum": 0.0, "maximum": 0.9, "step": 0.05}}
PER_ROW = 4


def is_relevant(dotted: str, stage: str, finetuning_type: str) -> bool:
    types, stages = RELEVANT.get(dotted, (None, None))
    return (types is None or finetuning_type in types) and (stages is None or stage in stages)


def parameter_fields() -> list[str]:
    return [f for f in all_fields() if f.startswith("method.") and f not in CHOOSERS]


def build_method_tab(form: Form) -> dict:
    with gr.Row():
        stage = form.control("method.stage", scale=1)
        kind = form.control("method.finetuning_type", gr.Radio, scale=2)
    stage_now, kind_now = form.base.method.stage, form.base.method.finetuning_type
    fields = parameter_fields()
    controls = []
    for start in range(0, len(fields), PER_ROW):
        with gr.Row():
            for dotted in fields[start:start + PER_ROW]:
                options = {"visible": is_relevant(dotted, stage_now, kind_now)}
                slider = SLIDERS.get(dotted)
                controls.append(form.control(dotted, gr.Slider, **slider, **options) if slider
                                else form.control(dotted, **options))
    return {"stage": stage, "kind": kind, "fields": fields, "controls": controls}


def wire_method_tab(parts: dict) -> None:
    def show(stage, finetuning_type):
        return method_visibility(stage, finetuning_type, parts["fields"])

    for chooser in (parts["stage"], parts["kind"]):
        chooser.change(show, [parts["stage"], parts["kind"]], parts["controls"])


def method_visibility(stage: str, finetuning_type: str, fields: list[str] | None = None) -> list[dict]:
    """One visibility update per method parameter field (in `fields` order) for a stage and type."""
    return [gr.update(visible=is_relevant(f, stage, finetuning_type)) for f in fields or parameter_fields()]
