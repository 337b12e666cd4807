"""Data tab, "see the data as the model sees it": one row token by token, the token-length histogram, stats.

The tokenizer, template, cutoff and train-on-prompt switch come from the run form (Model, Train and Data
tabs), so what is shown is what training will use. The engine does the work (engine/data/token_view.py); this
file turns its results into components and words in the page's language.
"""
from __future__ import annotations

import threading

import gradio as gr

from engine.config.schema import field_info
from engine.data.formats import FORMATS, formats_of_kind
from engine.data.registry import DataError, dataset_folder, read_registry, using_dataset_dir
from webui.i18n import Labels, localize, text
from webui.run_view import PLOT_FONTS

# Which registry labels (engine.data.formats.registry_label) each view can show.
CONVERSATIONS = formats_of_kind("conversation")
VISION = formats_of_kind("vision")
LENGTHS = (*CONVERSATIONS, *formats_of_kind("text"))
TOKEN_COLORS = ("#86efac", "#cbd5e1", "#93c5fd")  # trained (green), masked (grey), image (blue, masked too)
PROBLEMS = (ValueError, OSError, RuntimeError)  # DataError, a bad template, a tokenizer that cannot be found
HAN_FONTS = PLOT_FONTS["font.family"]  # matplotlib's default font has no Han glyphs: one font set for every figure


def with_dataset_dir(handler):
    """`handler` with the form's data.dataset_dir as a first input: it reads registries with that folder's
    entries (a folder without a dataset_info.json is left out here; Start says why)."""

    def run(dataset_dir, *args):
        try:
            folder = dataset_folder(dataset_dir) if dataset_dir else None
        except DataError:
            folder = None
        with using_dataset_dir(folder):
            return handler(*args)

    return run


# ---------------------------------------------------------------------------------------------------------
# The tokenizer: a real process resource, shared by every page


MAX_TOKENIZERS = 4  # a few models at most; the oldest is forgotten first
_tokenizers: dict[tuple[str, str, bool], object] = {}  # (kind, model name or path, trust_remote_code) -> it
_tokenizers_lock = threading.Lock()


def tokenizer_for(model: str, trust_remote_code: bool = False):
    """The model's tokenizer, loaded once per process; tokenizers are not changed after loading."""
    from engine.models.loading import load_tokenizer

    return _loaded(load_tokenizer, model, trust_remote_code)


def processor_for(model: str, trust_remote_code: bool = False):
    """A vision model's processor (tokenizer + image processor), loaded once per process like tokenizers."""
    from engine.models.loading import load_processor

    return _loaded(load_processor, model, trust_remote_code)


def _loaded(load, model: str, trust_remote_code: bool):
    key = (load.__name__, model, bool(trust_remote_code))
    # One load at a time: the three outputs of "Show" ask for the same tokenizer at once on a first click.
    with _tokenizers_lock:
        if key not in _tokenizers:
            from engine.config.schema import ModelConfig

            if len(_tokenizers) >= MAX_TOKENIZERS:
                _tokenizers.pop(next(iter(_tokenizers)))
            _tokenizers[key] = load(ModelConfig(name_or_path=model, trust_remote_code=bool(trust_remote_code)))
        return _tokenizers[key]


def dataset_label(name: str) -> str | None:
    """alpaca, sharegpt, openai, preference, kto or text; None when `name` is not registered (a stale picker)."""
    from engine.data.formats import registry_label

    raw = read_registry().get(name)
    return registry_label(raw) if raw is not None else None


def cannot_show(name: str, wanted: tuple[str, ...], lang: str) -> str | None:
    """Why `name` cannot be shown by a view that reads `wanted` data, or None when it can."""
    label = dataset_label(name) if name else None
    if not name or label is None:
        return text("data.pick_dataset", lang)
    if label not in wanted:
        return text("data.wrong_kind", lang, name=name, kind=label, wanted=", ".join(wanted))
    return None


# ---------------------------------------------------------------------------------------------------------
# Handlers: plain functions from values to values


def token_categories(lang: str) -> tuple[str, str, str]:
    """(trained, masked, image) legend names in `lang`."""
    return text("data.trained", lang), text("data.masked", lang), text("data.image_tokens", lang)


def show_tokens(dataset: str, row, model: str, template: str, trust: bool, train_on_prompt: bool, lang: str,
                mask_history: bool = False):
    """(HighlightedText update: one span per token, trained, masked or a picture's vision token; a sentence
    with the counts)."""
    if refusal := cannot_show(dataset, (*CONVERSATIONS, *VISION), lang) or _needs_vision_model(dataset, model, lang):
        return gr.update(value=None), refusal
    try:
        if dataset_label(dataset) in VISION:
            tokens, rows, number, image_piece = _vision_tokens(dataset, row, model, template, trust, train_on_prompt)
        else:
            tokens, rows, number = _text_tokens(dataset, row, model, template, trust, train_on_prompt, mask_history)
            image_piece = None
    except PROBLEMS as err:
        return gr.update(value=None), text("data.view_failed", lang, error=err)
    trained_name, masked_name, image_name = token_categories(lang)
    spans = [(piece, image_name if piece == image_piece else trained_name if trained else masked_name)
             for piece, trained in tokens]
    trained = sum(trained for _, trained in tokens)
    counts = text(
        "data.token_counts",
        lang,
        row=number,
        rows=rows,
        tokens=len(tokens),
        trained=trained,
        masked=len(tokens) - trained,
        template=template,
        model=model,
    )
    shown = (trained_name, masked_name, image_name) if image_piece else (trained_name, masked_name)
    colors = dict(zip(shown, TOKEN_COLORS))
    return gr.update(value=spans, color_map=colors), counts


def _needs_vision_model(dataset: str, model: str, lang: str) -> str | None:
    """A dataset with pictures is tokenised by a vision model's processor; a text model cannot show it."""
    from engine.models.loading import reads_images

    if dataset_label(dataset) in VISION and not reads_images(model):
        return text("data.view_needs_vision_model", lang, dataset=dataset, model=model)
    return None


def _text_tokens(dataset: str, row, model: str, template: str, trust: bool, train_on_prompt: bool,
                 mask_history: bool):
    """([(piece, trained?)], rows in the dataset, the row shown); only the shown row is held."""
    from engine.data.conversion import conversation_at
    from engine.data.token_view import token_view

    messages, number, rows = conversation_at(dataset, int(row or 1))
    tokens = token_view(messages, template, tokenizer_for(model, trust), bool(train_on_prompt), bool(mask_history))
    return tokens, rows, number


def _vision_tokens(dataset: str, row, model: str, template: str, trust: bool, train_on_prompt: bool):
    """As _text_tokens, plus the text of an image token: each picture shows as that many vision tokens."""
    from engine.data.conversion import vision_sample_at
    from engine.data.token_view import vision_token_view

    sample, number, rows = vision_sample_at(dataset, int(row or 1))
    processor = processor_for(model, trust)
    tokens = vision_token_view(sample, template, processor, bool(train_on_prompt))
    return tokens, rows, number, processor.image_token


def show_lengths(dataset: str, model: str, template: str, trust: bool, cutoff_len, lang: str):
    """(matplotlib Figure of token lengths with the cutoff drawn, or None; a sentence with the truncation count)."""
    if refusal := cannot_show(dataset, (*LENGTHS, *VISION), lang) or _needs_vision_model(dataset, model, lang):
        return None, refusal
    from engine.data.token_view import length_histogram

    cutoff = int(cutoff_len or 0) or field_info("data.cutoff_len")["default"]  # an emptied box: the default
    # A dataset with pictures is counted by the processor: each picture as the vision tokens it becomes.
    counter = processor_for if dataset_label(dataset) in VISION else tokenizer_for
    try:
        figure, stats = length_histogram(dataset, template, counter(model, trust), cutoff)
    except PROBLEMS as err:
        return None, text("data.view_failed", lang, error=err)
    if lang == "zh":
        _label_in_chinese(figure, dataset, stats)
    return figure, text("data.truncated", lang, **stats)


PACKING_FIELDS = ("data.cutoff_len", "train.per_device_train_batch_size", "speed.packing", "speed.pack_length",
                  "method.stage", "method.finetuning_type")
PACKED_ROWS_SHOWN = 8


def show_packing(dataset: str, row, model: str, template: str, trust: bool, cutoff_len, batch_size, packing: str,
                 pack_length, stage: str, finetuning_type: str, lang: str) -> str:
    """Markdown: whether the run would pack, and if so which rows share a packed row (the shown row's first),
    how full the packed rows are, and the padding and steps an epoch saves."""
    if refusal := cannot_show(dataset, LENGTHS, lang):
        return refusal
    from engine.config.schema import RunConfig
    from engine.data.token_view import token_lengths
    from engine.train.packing import packing_preview
    from engine.train.speed import plan_speed

    config = RunConfig()
    config.data.cutoff_len = int(cutoff_len or 0) or field_info("data.cutoff_len")["default"]
    config.speed.packing, config.speed.pack_length = packing, int(pack_length or 0)
    config.method.stage, config.method.finetuning_type = stage, finetuning_type
    plan = plan_speed(config, cuda=False)  # packing does not depend on the device
    if not plan.packing:
        return text("data.packing_off", lang, reason=localize(plan.notes[0], lang))
    try:
        full = token_lengths(dataset, template, tokenizer_for(model, trust))
        lengths = [min(n, config.data.cutoff_len) for n in full]  # as encoding cuts them
    except PROBLEMS as err:
        return text("data.view_failed", lang, error=err)
    preview = packing_preview(lengths, plan.row_length, max(1, int(batch_size or 1)))
    return "\n\n".join([_packing_summary(preview, plan.row_length, int(batch_size or 1), lang),
                         _packed_rows_table(preview, int(row or 1) - 1, lang)])


def _packing_summary(preview: dict, row_length: int, batch_size: int, lang: str) -> str:
    return text("data.packing_on", lang, length=row_length, examples=preview["examples"],
                rows=len(preview["rows"]), per_row=round(preview["examples"] / max(1, len(preview["rows"])), 1),
                fill=f"{preview['fill']:.0%}", batch=batch_size, before=preview["padding_unpacked"],
                after=preview["padding_packed"], steps_before=preview["steps_unpacked"],
                steps_after=preview["steps_packed"])


def _packed_rows_table(preview: dict, shown: int, lang: str) -> str:
    """The packed row holding the shown row first, then the others, up to PACKED_ROWS_SHOWN; rows 1-based."""
    numbered = list(enumerate(zip(preview["rows"], preview["row_tokens"]), start=1))
    numbered.sort(key=lambda item: shown not in item[1][0])  # stable: the rest keep their order
    lines = [text("data.packing_table", lang), "|---|---|---|"]
    for number, (members, tokens) in numbered[:PACKED_ROWS_SHOWN]:
        names = ", ".join(f"**{i + 1}**" if i == shown else str(i + 1) for i in members)
        lines.append(f"| {number} | {names} | {tokens} |")
    if len(numbered) > PACKED_ROWS_SHOWN:
        lines.append(f"| … | {text('data.packing_more', lang, count=len(numbered) - PACKED_ROWS_SHOWN)} | |")
    return "\n".join(lines)


def _label_in_chinese(figure, dataset: str, stats: dict) -> None:
    axes = figure.axes[0]
    font = {"fontfamily": HAN_FONTS}
    axes.set_xlabel("每行 token 数", **font)
    axes.set_ylabel("行数", **font)
    axes.set_title(
        f"{dataset}：{stats['rows']} 行中有 {stats['truncated']} 行将在 {stats['cutoff_len']} 处截断", **font
    )
    axes.legend([f"截断长度 {stats['cutoff_len']}"], prop={"family": HAN_FONTS})


def show_stats(dataset: str, lang: str) -> str:
    """Markdown: rows, turns per conversation, languages by script, average lengths in characters."""
    if refusal := cannot_show(dataset, tuple(FORMATS), lang):
        return refusal
    from engine.data.token_view import dataset_stats

    try:
        stats = dataset_stats(dataset)
    except PROBLEMS as err:
        return text("data.view_failed", lang, error=err)
    languages = ", ".join(f"{language} {count}" for language, count in stats["languages"].items())
    lines = [text("data.stats_rows", lang, rows=stats["rows"], languages=languages, chars=stats["average_chars"])]
    if "turns" in stats:
        lines.append(
            text(
                "data.stats_turns",
                lang,
                **stats["turns"],
                prompt=stats["average_prompt_chars"],
                response=stats["average_response_chars"],
            )
        )
    return "\n\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Layout and wiring


def build_inspect_section(labels: Labels, datasets: list[str], chosen: list[str]) -> dict:
    """`datasets`: the registered names; `chosen`: those the run trains on, the first of which is shown."""
    labels.markdown("data.inspect_heading")
    first = next((name for name in chosen if name in datasets), datasets[0] if datasets else None)
    with gr.Row():
        parts = {
            "dataset": labels.labelled(
                gr.Dropdown, "data.inspect_dataset", choices=datasets, value=first, scale=3, elem_id="inspect-dataset"
            ),
            "row": labels.labelled(
                gr.Number, "data.row", value=1, minimum=1, precision=0, scale=1, elem_id="inspect-row"
            ),
        }
        parts["show"] = labels.button("data.inspect", variant="primary", scale=1, elem_id="inspect-show")
    parts["tokens"] = labels.labelled(
        gr.HighlightedText,
        "data.tokens",
        show_legend=True,
        combine_adjacent=False,
        color_map=dict(zip(token_categories(labels.lang), TOKEN_COLORS)),
        elem_id="token-view",
    )
    parts["token_counts"] = gr.Markdown(elem_id="token-counts")
    with gr.Row():
        with gr.Column(scale=3):
            # No label box: it would cover the figure's own title, which already says what is drawn.
            parts["histogram"] = labels.labelled(
                gr.Plot, "data.histogram", show_label=False, elem_id="length-histogram"
            )
            parts["lengths"] = gr.Markdown(elem_id="length-summary")
            parts["packing"] = gr.Markdown(elem_id="packing-view")
        with gr.Column(scale=2):
            labels.markdown("data.stats_heading")
            parts["stats"] = gr.Markdown(elem_id="dataset-stats")
    return parts


def wire_inspect_section(parts: dict, controls: dict, lang: gr.Radio) -> None:
    """`controls`: the run form's controls by dotted field name (those of other tabs included)."""
    model = [controls[name] for name in ("model.name_or_path", "model.template", "model.trust_remote_code")]
    folder = controls["data.dataset_dir"]
    token_inputs = [folder, parts["dataset"], parts["row"], *model, controls["data.train_on_prompt"], lang,
                    controls["data.mask_history"]]
    token_outputs = [parts["tokens"], parts["token_counts"]]
    parts["show"].click(with_dataset_dir(show_tokens), token_inputs, token_outputs)
    parts["row"].submit(with_dataset_dir(show_tokens), token_inputs, token_outputs)
    length_inputs = [folder, parts["dataset"], *model, controls["data.cutoff_len"], lang]
    parts["show"].click(with_dataset_dir(show_lengths), length_inputs, [parts["histogram"], parts["lengths"]])
    parts["show"].click(with_dataset_dir(show_stats), [folder, parts["dataset"], lang], parts["stats"])
    packing_inputs = [folder, parts["dataset"], parts["row"], *model, *(controls[name] for name in PACKING_FIELDS),
                      lang]
    parts["show"].click(with_dataset_dir(show_packing), packing_inputs, parts["packing"])
    parts["row"].submit(with_dataset_dir(show_packing), packing_inputs, parts["packing"])
