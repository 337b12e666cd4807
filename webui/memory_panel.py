"""The Train tab's memory estimate (weights, gradients, optimizer, activations vs the device) and its
Auto-configure button, both over engine/train/memory.py."""
from __future__ import annotations

import gradio as gr

from engine.config.schema import ConfigError
from engine.train import distributed
from engine.train.memory import GIB, HEADROOM, auto_configure, device_memory, estimate_memory, strategy_that_fits

from webui.form import config_from_values, values_from_config
from webui.i18n import Labels, text

# The controls Auto-configure may change.
TUNED_FIELDS = ("train.per_device_train_batch_size", "train.gradient_accumulation_steps",
                "train.gradient_checkpointing", "model.quantization", "data.cutoff_len")


def build_memory_panel(labels: Labels) -> dict:
    with labels.add(gr.Accordion(text("memory.title", labels.lang), open=False), "memory.title"):
        parts = {"estimate": gr.Markdown(elem_id="memory-estimate"),
                 "auto": labels.button("memory.auto", size="sm", elem_id="auto-configure")}
    return parts


def estimate_markdown(values: dict, lang: str) -> str:
    """A table of the estimate in GiB and one sentence on whether it fits the detected device."""
    try:
        config = config_from_values(values)
        estimate = estimate_memory(config)
    except (ConfigError, OSError, KeyError, ValueError) as err:
        return text("memory.unknown", lang, reason=str(err).splitlines()[0])
    device, available = device_memory()
    unit, scale = ("GiB", 1) if estimate.total >= GIB else ("MiB", 1024)  # the demo model is a few MiB
    rows = "\n".join(f"| {text('memory.' + part, lang)} | {gib * scale:.2f} |" for part, gib in estimate.table())
    fits = estimate.total <= available * HEADROOM
    verdict = text("memory.fits" if fits else "memory.too_big", lang, device=device, available=available / GIB)
    return (f"| {text('memory.part', lang)} | {unit} |\n|---|---:|\n{rows}\n\n" + verdict
            + ("" if fits else _strategy_advice(config, available, lang)))


def _strategy_advice(config, available: float, lang: str) -> str:
    """With several processes, the fastest strategy (and offload) that would make the run fit, if any."""
    world = distributed.world_size(config)
    found = strategy_that_fits(config, available) if world > 1 else None
    if found is None:
        return ""
    strategy, offload_optimizer, offload_parameters = found
    parts = [name for name, on in (("optimizer", offload_optimizer), ("parameters", offload_parameters)) if on]
    offload = text("memory.with_offload", lang, parts=", ".join(parts)) if parts else ""
    return " " + text("memory.strategy_fits", lang, world=world, strategy=strategy, offload=offload)


def auto_configured_values(values: dict, fields: list[str], lang: str) -> tuple[list, str]:
    """(new values for every form field, message) after fitting the config to the detected device."""
    config = config_from_values(values)
    device, available = device_memory()
    fitted, estimate = auto_configure(config, available)
    changed = [f for f in TUNED_FIELDS if fitted.get(f) != config.get(f)]
    message = text("memory.auto_done", lang, device=device, total=estimate.total / GIB,
                   changes=", ".join(f"{f} = {fitted.get(f)}" for f in changed) or "—")
    return values_from_config(fitted, fields), message
