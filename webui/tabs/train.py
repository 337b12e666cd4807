"""Train tab: hyperparameters, the run config as YAML and as a command, Start/Stop, and the live view."""
from __future__ import annotations

import functools
import hashlib
import html
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from engine.config.llamafactory import convert_file, is_llamafactory, read_yaml
from engine.config.schema import ConfigError, RunConfig
from engine.models.loading import ships_chat_template
from engine.paths import PathEscapeError, scratch_dir
from engine.runs import scheduler as queue
from engine.runs.preflight import StartRefused
from engine.runs.scheduler import RunHandle
from engine.runs.store import checkpoint_step, newest_checkpoint
from engine.train.speed import plan_speed

from webui import compare_panel, devices_panel, history_panel, memory_panel, next_steps, run_view
from webui.form import Form, config_from_values, every_problem, values_from_config
from webui.i18n import Labels, localize, text

SPEED_FIELDS = ("speed.packing", "speed.pack_length", "speed.attention", "speed.liger", "speed.torch_compile")
# Every open page ticks each second, but the queue is one per machine: moving it on every few seconds is
# enough (a worker also moves it on as it exits), so ticks of all sessions share one clock.
ADVANCE_EVERY_S = 2.0


# ---------------------------------------------------------------------------------------------------------
# Layout


def build_train_tab(form: Form, labels: Labels) -> dict:
    with gr.Row():
        for dotted in ("train.num_train_epochs", "train.max_steps", "train.learning_rate",
                       "train.per_device_train_batch_size", "train.gradient_accumulation_steps"):
            form.control(dotted)
    with gr.Row():
        form.control("data.cutoff_len")
        form.control("data.val_size", gr.Slider, minimum=0.0, maximum=0.5, step=0.05)
        form.control("train.lr_scheduler_type")
        form.control("train.warmup_ratio", gr.Slider, minimum=0.0, maximum=0.5, step=0.01)
        form.control("train.seed")
    with labels.add(gr.Accordion(text("train.advanced", labels.lang), open=False), "train.advanced"):
        with gr.Row():
            for dotted in ("train.logging_steps", "train.save_steps", "train.save_total_limit",
                           "eval.eval_steps", "eval.per_device_eval_batch_size"):
                form.control(dotted)
        with gr.Row():
            form.control("train.weight_decay")
            form.control("train.max_grad_norm")
            form.control("train.gradient_checkpointing")
            form.control("train.run_name")
        with gr.Row():
            form.control("eval.early_stopping_patience")
            form.control("eval.load_best_model_at_end")
            form.control("train.report_to")
        with gr.Row():
            form.control("train.neftune_noise_alpha", scale=1)
            form.control("train.extra_args", lines=2, scale=3)
    devices = devices_panel.build_devices_panel(form, labels)
    with labels.add(gr.Accordion(text("train.speed", labels.lang), open=False), "train.speed") as speed_group:
        with gr.Row():
            for dotted in SPEED_FIELDS:
                form.control(dotted)
        speed_plan = gr.Markdown(elem_id="speed-plan")
    memory = memory_panel.build_memory_panel(labels)
    with gr.Row():
        parts = {
            "devices": devices["info"],
            "devices_group": devices["group"],
            "memory_estimate": memory["estimate"],
            "auto": memory["auto"],
            "start": labels.button("train.start", variant="primary", elem_id="start-button"),
            "stop": labels.button("train.stop", variant="stop", elem_id="stop-button"),
            "resume": labels.button("train.resume", interactive=False, elem_id="resume-button"),
            "save": labels.labelled(gr.DownloadButton, "train.save_config"),
            "load": labels.labelled(gr.UploadButton, "train.load_config", file_types=[".yaml", ".yml"],
                                    elem_id="load-config"),
        }
    parts["speed_plan"], parts["speed_group"] = speed_plan, speed_group
    parts["message"] = gr.Markdown(elem_id="train-message")
    parts["command"] = labels.labelled(gr.Textbox, "train.command", interactive=False, elem_id="train-command")
    with labels.add(gr.Accordion(text("train.preview", labels.lang), open=False), "train.preview"):
        parts["preview"] = gr.Code(language="yaml", interactive=False, show_label=False)
    parts["progress"] = gr.HTML(elem_id="run-progress")
    with gr.Row():
        with gr.Column(scale=3):
            # Until the run logs a loss the plot would be a bare axis: a sentence stands in its place.
            parts["curve_empty"] = gr.HTML(empty_curve_html(labels.lang), elem_id="curve-empty")
            # A drawn figure, not a gr.LinePlot: that draws lines only, so eval points could not be marked.
            parts["curve"] = labels.labelled(gr.Plot, "train.curve", elem_id="loss-curve", visible=False)
            with gr.Row():
                parts["smoothing"] = labels.labelled(gr.Slider, "experiments.smoothing", minimum=0.0, maximum=0.95,
                                                     step=0.05, value=0.6, elem_id="curve-smoothing")
                parts["log_scale"] = labels.labelled(gr.Checkbox, "experiments.log_scale", value=False,
                                                     elem_id="curve-log-scale")
        with gr.Column(scale=2):
            parts["log"] = labels.labelled(gr.Textbox, "train.log", lines=12, max_lines=12, autoscroll=True,
                                           elem_id="readable-log")
            with labels.add(gr.Accordion(text("train.raw_log", labels.lang), open=False), "train.raw_log"):
                parts["raw_log"] = gr.Textbox(lines=12, max_lines=12, autoscroll=True, show_label=False,
                                              elem_id="raw-log")
    parts["metrics"] = labels.labelled(
        gr.LinePlot, "train.metrics", x="step", y="value", color="metric", height=280, elem_id="stage-metrics",
        x_title=text("column.step", labels.lang), visible=False,
    )
    with gr.Row():  # drawn once the run has recorded resources (at every log point)
        for name, key, unit in (("memory", "resources.memory", "MB"), ("use", "resources.use", "%")):
            parts[name] = labels.labelled(gr.LinePlot, key, x="step", y="value", color="series", y_title=unit,
                                          x_title=text("column.step", labels.lang), height=240,
                                          color_title=text("resources.legend", labels.lang),
                                          visible=False, elem_id=f"resources-{name}")
    parts["runs"] = history_panel.build_history_panel(labels)
    parts["history"], parts["refresh"] = parts["runs"]["history"], parts["runs"]["refresh"]
    parts["compare"] = compare_panel.build_compare_panel(labels)
    return parts


# ---------------------------------------------------------------------------------------------------------
# Handlers: plain functions from values to values


@functools.cache
def downloads() -> Path:
    """The folder of YAML files offered for download, made on first use (importing the tab makes nothing)."""
    scratch_dir().mkdir(parents=True, exist_ok=True)  # inside the workspace: emptied when the studio starts
    return Path(tempfile.mkdtemp(prefix="configs-", dir=scratch_dir()))


def speed_markdown(values: dict, lang: str) -> str:
    """What the speed settings switch on for these values on this machine, and why, one line each."""
    try:
        plan = plan_speed(config_from_values(values))
    except ConfigError as err:
        return "\n".join(f"- {localize(problem, lang)}" for problem in err.problems)
    return "\n".join(f"- {localize(note, lang)}" for note in plan.notes)


def preview_config(values: dict) -> tuple[str, str | None]:
    """(YAML shown in the preview, path of the same YAML for download); problems instead when unreadable."""
    try:
        config = config_from_values(values)
    except ConfigError as err:
        return "# " + "\n# ".join(err.problems), None
    yaml_text = config.to_yaml()
    folder = downloads() / hashlib.sha1(yaml_text.encode()).hexdigest()[:12]
    folder.mkdir(exist_ok=True)
    (folder / "run.yaml").write_text(yaml_text, encoding="utf-8")
    return yaml_text, str(folder / "run.yaml")


def start_training(values: dict, lang: str) -> tuple[str, str | None]:
    """(message, run directory or None). The run is queued; it starts at once when nothing else trains.
    Problems (invalid values, an unwritable saves folder, a full disk) are listed instead of starting."""
    try:
        handle = queue.submit(config_from_values(values))
    except ConfigError:
        return refused(every_problem(values), lang), None
    except StartRefused as err:
        return refused(err.problems, lang), None
    return submitted("train.started", handle, lang), str(handle.run_dir)


def resume_training(run_dir: str, lang: str) -> str:
    """Queue the page's run to continue from its newest checkpoint."""
    if not run_dir:
        return text("train.nothing_to_resume", lang)
    checkpoint = newest_checkpoint(Path(run_dir))
    try:
        handle = queue.resume_run(run_dir)
    except StartRefused as err:
        return refused(err.problems, lang)
    except (FileNotFoundError, PathEscapeError):  # a folder deleted meanwhile, or a hand-edited state
        return text("train.nothing_to_resume", lang)
    step = checkpoint_step(checkpoint) if checkpoint else 0
    return submitted("train.resumed", handle, lang, step=step)


def submitted(started_key: str, handle: RunHandle, lang: str, **fields) -> str:
    """'Started ...' or, when another run holds the machine, 'Queued ..., position N'."""
    position = run_view.queue_position(handle.run_dir)
    if position is not None:
        return text("train.queued", lang, name=handle.run_dir.name, position=position)
    return text(started_key, lang, name=handle.run_dir.name, **fields)


def refused(problems: list[str], lang: str) -> str:
    return text("train.problems", lang) + "\n" + "\n".join(f"- {localize(p, lang)}" for p in problems)


STOP_MESSAGES = {"cancelled": "train.cancelled", "stopping": "train.stop_requested",
                 "not running": "train.nothing_to_stop"}


def stop_training(run_dir: str, lang: str) -> str:
    """A queued run is cancelled, a training one asked to save and stop; pressing twice changes nothing."""
    try:
        outcome = queue.stop_run(run_dir) if run_dir else "not running"
    except (FileNotFoundError, PathEscapeError):
        outcome = "not running"
    return text(STOP_MESSAGES[outcome], lang)


def load_config_file(path: str, fields: list[str], lang: str) -> tuple[list | None, str]:
    """(values for `fields`, message); values is None when the file cannot be used. A LLaMA-Factory YAML is
    converted, and the message lists what carried over and what was ignored."""
    try:
        if is_llamafactory(read_yaml(Path(path))):
            return _load_llamafactory(Path(path), fields, lang)
        config = RunConfig.load(path)
    except (OSError, ConfigError) as err:
        problems = getattr(err, "problems", [str(err)])
        return None, text("train.load_failed", lang) + "\n" + "\n".join(f"- {localize(p, lang)}" for p in problems)
    return values_from_config(config, fields), text("train.loaded", lang, file=Path(path).name)


def _load_llamafactory(path: Path, fields: list[str], lang: str) -> tuple[list | None, str]:
    conversion = convert_file(path, ships_chat_template, save=False)  # an upload's folder is gradio's own
    lines = "\n".join(f"- {localize(line, lang)}" for line in conversion.report())
    if conversion.config is None:
        command = f"python -m engine train {path.name}"
        return None, text("train.loaded_lf_merge", lang, file=path.name, command=command) + "\n" + lines
    return values_from_config(conversion.config, fields), text("train.loaded_lf", lang, file=path.name) + "\n" + lines


_advanced = {"at": 0.0, "lock": threading.Lock()}  # when this process last moved the queue on


def advance_queue(every_s: float = ADVANCE_EVERY_S) -> None:
    """Start the next queued run when the machine is free, and escalate stops nobody followed up; at most
    once per `every_s` in this process, however many pages tick."""
    with _advanced["lock"]:
        if time.monotonic() - _advanced["at"] < every_s:
            return
        _advanced["at"] = time.monotonic()
    try:
        queue.advance()
    except StartRefused:
        pass  # the saves folder cannot be written now; the run list shows it, and Start explains it


class RunView(NamedTuple):
    """What the timer redraws, by name: the wiring lists its outputs from these fields, so the values a tick
    returns and the components they go to are in one order by construction. `shown` is the gr.State of what
    was drawn last, `timer` the timer itself (stopped once the run has ended and is drawn); every other field
    names a part of the tab."""

    progress: Any
    curve: Any
    curve_empty: Any
    log: Any
    raw_log: Any
    command: Any
    history: Any
    metrics: Any
    memory: Any
    use: Any
    resume: Any
    next_steps: Any
    shown: Any
    timer: Any


def refresh_view(run_dir: str, lang: str, shown: tuple | None, smoothing: float | None = None,
                 log_scale: bool = False, search: str | None = "", tag: str | None = "",
                 archived: bool = False) -> RunView:
    """Timer tick: the run's view, gr.skip() for every part when nothing changed; the timer stops once the run
    has ended (or there is none) and is drawn, so an idle page asks the server nothing. `smoothing` and
    `log_scale` are how the loss curve is drawn (the controls under it); `search`, `tag` and `archived` filter
    the history (the controls above it; None while the tab has not been drawn)."""
    advance_queue()
    now = run_view.snapshot(run_dir)
    ticking = bool(run_dir) and now[-1].active
    if now == tuple(shown or ()):
        skipped = (gr.skip(),) * (len(RunView._fields) - 2)
        return RunView(*skipped, shown=shown, timer=gr.skip() if ticking else gr.Timer(active=False))
    events = run_view.current_events(run_view.read_events(Path(run_dir))) if run_dir else []
    status = now[-1] if run_dir else None
    status_changed = not shown or len(shown) < 4 or shown[0] != now[0] or shown[-1] != status
    return RunView(
        progress=run_view.progress_html(run_dir, lang, events, status),
        curve=curve_update(events, smoothing, log_scale, lang),
        curve_empty=gr.update(value=empty_curve_html(lang), visible=not run_view.has_loss(events)),
        log=run_view.readable_log(events, lang),
        raw_log=run_view.log_tail(run_dir),
        command=run_view.command_for(run_dir),
        history=run_view.history_table(lang, search, tag, archived) if status_changed else gr.skip(),
        metrics=_metrics_update(events, lang),
        **_resources_update(events, lang),
        resume=gr.update(interactive=run_view.can_resume(run_dir, status)) if status_changed else gr.skip(),
        next_steps=gr.update(visible=next_steps.completed(run_dir)) if status_changed else gr.skip(),
        shown=now,
        timer=gr.skip() if ticking else gr.Timer(active=False),
    )


def curve_update(events: list[dict], smoothing: float | None, log_scale: bool, lang: str):
    return gr.update(value=run_view.curve_figure(events, smoothing, log_scale, lang),
                     visible=run_view.has_loss(events))


def empty_curve_html(lang: str) -> str:
    return f"<div class='curve-empty'>{html.escape(text('curve.empty', lang))}</div>"


def _metrics_update(events: list[dict], lang: str):
    metrics = run_view.stage_metrics(events)
    return gr.update(value=metrics, visible=not metrics.empty, x_title=text("column.step", lang))


def _resources_update(events: list[dict], lang: str) -> dict:
    memory, use = run_view.resource_curves(events, lang)
    titles = {"color_title": text("resources.legend", lang), "x_title": text("column.step", lang)}
    return {"memory": gr.update(value=memory, visible=not memory.empty, **titles),
            "use": gr.update(value=use, visible=not use.empty, **titles)}


# ---------------------------------------------------------------------------------------------------------
# Wiring


def wire_train_tab(parts: dict, form: Form, lang: gr.Radio, run_dir: gr.State, shown: gr.State, timer: gr.Timer,
                   next_row: gr.Row):
    fields, controls = form.fields, form.components

    def values(*raw):
        return dict(zip(fields, raw))

    # One listener for all controls, run once for the last of a burst of changes (a restored form sets them all).
    changes = {"triggers": [control.change for control in controls], "show_progress": "hidden",
               "trigger_mode": "always_last"}
    gr.on(fn=lambda *raw: preview_config(values(*raw)), inputs=controls, outputs=[parts["preview"], parts["save"]],
          **changes)
    gr.on(fn=lambda *raw: memory_panel.estimate_markdown(values(*raw[:-1]), raw[-1]), inputs=[*controls, lang],
          outputs=parts["memory_estimate"], **{**changes, "triggers": [*changes["triggers"], lang.change]})

    def speed(*raw):
        return speed_markdown(values(*raw[:-1]), raw[-1])

    parts["speed_group"].expand(speed, [*controls, lang], parts["speed_plan"])
    gr.on([form.controls[dotted].change for dotted in (*SPEED_FIELDS, "method.stage", "data.cutoff_len",
                                                       "model.dtype", "train.gradient_checkpointing")],
          speed, [*controls, lang], parts["speed_plan"], show_progress="hidden", trigger_mode="always_last")

    def devices(*raw):
        return devices_panel.devices_markdown(values(*raw[:-1]), raw[-1])

    parts["devices_group"].expand(devices, [*controls, lang], parts["devices"])
    gr.on([form.controls[dotted].change for row in devices_panel.FIELDS for dotted in row], devices,
          [*controls, lang], parts["devices"], show_progress="hidden", trigger_mode="always_last")

    def auto(*raw):
        new_values, message = memory_panel.auto_configured_values(values(*raw[:-1]), fields, raw[-1])
        return [message, *new_values]

    parts["auto"].click(auto, [*controls, lang], [parts["message"], *controls])

    def start(*raw):
        message, new_run = start_training(values(*raw[:-2]), raw[-1])
        return message, new_run or raw[-2], None  # None forgets what was drawn: redraw at the next tick

    for button in parts.get("starts", [parts["start"]]):  # the tab's own, and the one beside the summary line
        button.click(start, [*controls, run_dir, lang], [parts["message"], run_dir, shown])
    parts["stop"].click(stop_training, [run_dir, lang], parts["message"])
    # Forgetting what was drawn redraws the run at the next tick: queued, then running again.
    parts["resume"].click(lambda chosen, current_lang: (resume_training(chosen, current_lang), None),
                          [run_dir, lang], [parts["message"], shown])

    def load(path, current_lang):
        loaded, message = load_config_file(path, fields, current_lang)
        return [message, *(loaded if loaded is not None else [gr.skip()] * len(fields))]

    parts["load"].upload(load, [parts["load"], lang], [parts["message"], *controls])
    wire_timer(parts, lang, run_dir, shown, timer, next_row)
    for control in (parts["smoothing"], parts["log_scale"]):  # forgetting what was drawn redraws at the next tick
        control.change(lambda: None, None, shown, show_progress="hidden")
    history_panel.wire_history_panel(parts["runs"], lang, run_dir, shown)
    compare_panel.wire_compare_panel(parts["compare"], lang, parts["history"], parts["refresh"])


def wire_timer(parts: dict, lang: gr.Radio, run_dir: gr.State, shown: gr.State, timer: gr.Timer, next_row: gr.Row):
    """The tick redraws what changed; a new run for the page (run_dir) or a forgotten drawing (shown = None:
    a new language, Start, Resume, the curve's controls) starts the timer again."""
    named = {"shown": shown, "timer": timer, "next_steps": next_row}
    outputs = [named.get(name) or parts[name] for name in RunView._fields]
    history_filters = [parts["runs"][name] for name in ("search", "tag", "archived")]
    timer.tick(refresh_view, [run_dir, lang, shown, parts["smoothing"], parts["log_scale"], *history_filters],
               outputs, show_progress="hidden")
    run_dir.change(lambda: gr.Timer(active=True), None, timer, show_progress="hidden")
    shown.change(lambda drawn: gr.Timer(active=True) if drawn is None else gr.skip(), shown, timer,
                 show_progress="hidden")
