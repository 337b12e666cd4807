"""The run-config form: each control is bound to exactly one config field ("train.learning_rate").

Tabs ask the form for a control by dotted name; the form builds it from the field's metadata (type,
choices, default, help), registers its label for the language switch, and remembers it. Turning control
values into a RunConfig, and a RunConfig back into control values, are plain functions that the tests
call without a browser.
"""
from __future__ import annotations

import typing

import gradio as gr

from engine.config.schema import ConfigError, RunConfig, field_info
from engine.paths import PROJECT_DIR

from webui.i18n import Labels, field_help, field_label, option_choices

DEMO_PRESET = PROJECT_DIR / "examples" / "quick_demo.yaml"


def default_config() -> RunConfig:
    """The UI's starting point: the quick demo preset (built-in tiny model, demo_quick, LoRA: learns it in minutes)."""
    try:
        return RunConfig.load(DEMO_PRESET)
    except (OSError, ConfigError):
        return RunConfig()


# ---------------------------------------------------------------------------------------------------------
# Values <-> config (no gradio involved)


def config_from_values(values: dict[str, object], base: RunConfig | None = None) -> RunConfig:
    """`base` (the demo preset) with each control's value applied; raises ConfigError naming bad fields."""
    return (base or default_config()).replace(values)


def every_problem(values: dict[str, object], base: RunConfig | None = None) -> list:
    """Why `values` make no config, all at once: the values of the wrong type (an emptied number box), then what
    validate() says of the rest with those fields left at `base`'s values, so one typo hides nothing else."""
    from engine.train.rules import validate  # the trainer's rules load on first use, not with the page

    try:
        return validate(config_from_values(values, base))
    except ConfigError as err:
        wrong = {getattr(problem, "params", {}).get("field") for problem in err.problems}
        try:
            rest = config_from_values({k: v for k, v in values.items() if k not in wrong}, base)
        except ConfigError:
            return list(err.problems)
        return [*err.problems, *validate(rest)]


def values_from_config(config: RunConfig, fields: list[str]) -> list:
    """The value each control of `fields` shows for `config`, in the same order."""
    return [config.get(dotted) for dotted in fields]


# ---------------------------------------------------------------------------------------------------------
# The controls


class Form:
    def __init__(self, labels: Labels, lang: str, base: RunConfig | None = None):
        self.labels, self.lang = labels, lang
        self.base = base or default_config()
        self.controls: dict[str, gr.components.Component] = {}

    @property
    def fields(self) -> list[str]:
        return list(self.controls)

    @property
    def components(self) -> list:
        return list(self.controls.values())

    def control(self, dotted: str, kind=None, **options):
        """Create the control for `dotted` here in the layout; `kind` overrides the component type."""
        if dotted in self.controls:
            raise ValueError(f"{dotted} already has a control; each field is bound exactly once")
        info = field_info(dotted)
        options = {
            "label": field_label(dotted, self.lang),
            "info": field_help(dotted, self.lang),
            "value": self.base.get(dotted),
            "elem_id": "field-" + dotted.replace(".", "-").replace("_", "-"),  # e.g. field-train-max-steps
            **options,
        }
        chosen = _kind_options(kind, info)
        if "choices" in chosen:
            chosen["choices"] = option_choices(dotted, self.lang)
        component = (kind or _default_kind(info))(**{**chosen, **options})
        self.controls[dotted] = component
        self.labels.add(component, f"field:{dotted}")
        return component

    def config(self, values: list) -> RunConfig:
        return config_from_values(dict(zip(self.fields, values)), self.base)


def _default_kind(info: dict):
    if info["choices"]:
        return gr.Dropdown
    kind = info["type"]
    if kind is bool:
        return gr.Checkbox
    if kind in (int, float):
        return gr.Number
    if typing.get_origin(kind) is list:
        return gr.Dropdown
    return gr.Textbox


def _kind_options(kind, info: dict) -> dict:
    """Options implied by the field's metadata: choices for any chooser, the rest for default kinds only."""
    if info["choices"] and kind in (None, gr.Dropdown, gr.Radio):
        many = typing.get_origin(info["type"]) is list
        return {"choices": list(info["choices"]), **({"multiselect": True} if many else {})}
    if kind is not None:
        return {}
    if typing.get_origin(info["type"]) is list:
        return {"multiselect": True, "allow_custom_value": True}
    if info["type"] is int:
        return {"precision": 0}
    return {}
