"""The Train tab's devices group: processes, strategy, offload and machines, shown with what this machine
has and what the choice resolves to; and each rank's state for the run view. All of it over
engine/train/distributed.py and engine/runs/launch.py."""
from __future__ import annotations

import html
import os
from pathlib import Path

import gradio as gr

from engine.config.schema import ConfigError
from engine.runs.launch import rank_records
from engine.runs.preflight import distributed_problems
from engine.train import distributed

from webui.form import Form, config_from_values
from webui.i18n import Labels, localize, text
from webui.texts import TEXT

FIELDS = (("distributed.processes_per_node", "distributed.strategy", "distributed.offload_optimizer",
           "distributed.offload_parameters"),
          ("distributed.nodes", "distributed.node_rank", "distributed.master_address", "distributed.master_port"))


def build_devices_panel(form: Form, labels: Labels) -> dict:
    """The controls of the distributed section, and a line on what they mean here; the line is filled when
    the group opens (asking for GPUs loads torch, which the page itself never imports)."""
    with labels.add(gr.Accordion(text("devices.title", labels.lang), open=False), "devices.title") as group:
        for row in FIELDS:
            with gr.Row():
                for dotted in row:
                    form.control(dotted)
        return {"group": group, "info": gr.Markdown(elem_id="devices-info")}


def devices_markdown(values: dict, lang: str) -> str:
    """This machine's GPUs and cores, the world size and strategy the form resolves to, and what this
    machine cannot run of it."""
    gpus, cores = distributed.visible_gpus(), os.cpu_count() or 1
    if gpus:
        machine = text("devices.gpus", lang, gpus=gpus, cores=cores)
    else:
        machine = text("devices.cpu_only", lang, cores=cores)
    try:
        config = config_from_values(values)
    except ConfigError:
        return machine  # the form's own message names the bad field
    lines = [machine, text("devices.plan", lang, processes=distributed.processes_per_node(config),
                           nodes=config.distributed.nodes, world=distributed.world_size(config),
                           strategy=distributed.strategy(config))]
    lines += [f"- {localize(problem, lang)}" for problem in distributed_problems(config)]
    if config.distributed.nodes > 1:
        lines.append(text("devices.nodes_note", lang))
    return "\n\n".join(lines)


def ranks_html(run_dir: str | Path, lang: str) -> str:
    """'world size 2 · rank 0: running · rank 1: running' for a run trained in several processes; empty
    for a one-process run."""
    records = rank_records(Path(run_dir))
    if not records:
        return ""
    parts = [text("devices.ranks", lang, world=len(records))]
    parts += [text("devices.rank", lang, rank=r["rank"], status=_status(r["status"], lang)) for r in records]
    return f"<div class='run-ranks' data-ranks='{len(records)}'>{html.escape(' · '.join(parts))}</div>"


def _status(status: str, lang: str) -> str:
    return text(f"status.{status}", lang) if f"status.{status}" in TEXT else status
