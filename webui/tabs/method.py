"""Method tab: training stage and fine-tuning type, showing only the controls the chosen pair uses."""
from __future__ import annotations

import gradio as gr

from engine.config.schema import all_fields
from engine.models.methods import METHODS
from engine.paths import FINAL_DIR, saves_dir
from engine.runs.store import list_runs
from engine.train.stages import STAGES

from webui.form import Form

CHOOSERS = ("method.stage", "method.finetuning_type")
REWARD_RUN = "method.grpo_reward_run"
ADAPTER_RUN = "method.adapter_run"
SLIDERS = {"method.lora_dropout": {"minimum": 0.0, "maximum": 0.9, "step": 0.05}}
PER_ROW = 4


def is_relevant(dotted: str, stage: str, finetuning_type: str) -> bool:
    """A method field shows when the chosen fine-tuning type or stage reads it (their table entries say which)."""
    name = dotted.removeprefix("method.")
    return name in METHODS[finetuning_type].fields or name in STAGES[stage].fields


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
                if slider:
                    controls.append(form.control(dotted, gr.Slider, **slider, **options))
                elif dotted in (REWARD_RUN, ADAPTER_RUN):
                    runs = reward_runs() if dotted == REWARD_RUN else adapter_runs()
                    controls.append(form.control(dotted, gr.Dropdown, choices=["", *runs], allow_custom_value=True,
                                                 **options))
                else:
                    controls.append(form.control(dotted, **options))
    return {"stage": stage, "kind": kind, "fields": fields, "controls": controls}


def wire_method_tab(parts: dict) -> None:
    def show(stage, finetuning_type):
        return method_visibility(stage, finetuning_type, parts["fields"])

    for chooser in (parts["stage"], parts["kind"]):
        chooser.change(show, [parts["stage"], parts["kind"]], parts["controls"])
    if REWARD_RUN in parts["fields"]:  # reward-model runs finished since the page loaded become choosable
        reward_run = parts["controls"][parts["fields"].index(REWARD_RUN)]
        parts["stage"].change(lambda: gr.update(choices=["", *reward_runs()]), None, reward_run)
    if ADAPTER_RUN in parts["fields"]:  # so do LoRA runs, when LoRA is picked again
        adapter_run = parts["controls"][parts["fields"].index(ADAPTER_RUN)]
        parts["kind"].change(lambda: gr.update(choices=["", *adapter_runs()]), None, adapter_run)


def reward_runs() -> list[str]:
    """Finished reward-model runs, as GRPO's reward_model reward names them: their folder under saves/."""
    return [str(run.run_dir.relative_to(saves_dir())) for run in list_runs()
            if run.stage == "rm" and (run.run_dir / FINAL_DIR).is_dir()]


def adapter_runs() -> list[str]:
    """Finished LoRA runs whose adapter training can continue from: their folder under saves/."""
    return [str(run.run_dir.relative_to(saves_dir())) for run in list_runs()
            if (run.run_dir / FINAL_DIR / "adapter_config.json").is_file()]


def method_visibility(stage: str, finetuning_type: str, fields: list[str] | None = None) -> list[dict]:
    """One visibility update per method parameter field (in `fields` order) for a stage and type."""
    return [gr.update(visible=is_relevant(f, stage, finetuning_type)) for f in fields or parameter_fields()]
