"""Vision-language fine-tuning: the built-in VLM, image data (checks, masking), and real training on CPU."""
import json
from pathlib import Path

import pytest
import torch

from engine.data.images import MAX_IMAGE_SIDE, ImageError, image_problems, resolve_image
from engine.data.vision_encoding import (IGNORE, encode_vision_samples, expand_images, load_vision_samples,
                                         render_sample)
from engine.data.templates import load_template

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_vlm() -> Path:
    from engine.models.builtin import builtin_path

    return builtin_path("builtin:tiny-vlm")


@pytest.fixture(scope="session")
def processor(tiny_vlm):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_vlm)


# ---------------------------------------------------------------------------------------------------------
# The built-in model


def test_builtin_vlm_loads_like_a_hub_vlm(tiny_vlm, processor):
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(processor.image_processor).__name__.endswith("Pil")  # works without torchvision
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\n<image>What colour?<|im_end|>\n<|im_start|>assistant\n"
    batch = processor(text=[text], images=[Image.new("RGB", (50, 40), "red")], return_tensors="pt")
    assert (batch["input_ids"] == model.config.image_token_id).sum() == 16  # (32 / 8)² patches
    assert batch["pixel_values"].shape == (1, 3, 32, 32)
    generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > batch["input_ids"].shape[1]


def test_builtin_vlm_builds_the_same_weights_every_time(tiny_vlm, tmp_path):
    from safetensors.torch import load_file

    from engine.models.builtin import BUILTIN_MODELS, builtin_path
    from engine.models.builtin_vlm import build_vlm

    (tmp_path / "again").mkdir()
    build_vlm(BUILTIN_MODELS["tiny-vlm"], builtin_path("builtin:tiny-demo"), tmp_path / "again")
    first, second = load_file(tiny_vlm / "model.safetensors"), load_file(tmp_path / "again" / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


# ---------------------------------------------------------------------------------------------------------
# Demo data


def test_shipped_demo_images_are_what_the_generator_draws(tmp_path):
    from PIL import Image

    from engine.data.demo_vision import IMAGE_FOLDER, SPLITS, write_demo

    write_demo(tmp_path)
    for file_name in SPLITS:
        assert json.loads((tmp_path / file_name).read_text()) == json.loads((PROJECT / "data" / file_name).read_text())
    shipped = sorted((PROJECT / "data" / IMAGE_FOLDER).iterdir())
    assert [p.name for p in shipped] == sorted(p.name for p in (tmp_path / IMAGE_FOLDER).iterdir())
    for path in shipped:
        with Image.open(path) as ours, Image.open(tmp_path / IMAGE_FOLDER / path.name) as drawn:
            assert ours.convert("RGB").tobytes() == drawn.convert("RGB").tobytes(), path.name
    total = sum(p.stat().st_size for p in shipped) + sum((PROJECT / "data" / f).stat().st_size for f in SPLITS)
    assert total < 200_000


def test_demo_dataset_loads_in_llamafactory_mllm_shape():
    samples = load_vision_samples("demo_vision")
    assert len(samples) == 288
    assert all(len(s.images) == 1 and s.messages[0]["content"].startswith("<image>") for s in samples)
    assert all(p.is_file() for s in samples for p in s.images)


# ---------------------------------------------------------------------------------------------------------
# Checking image references


def _row(images, text="<image>What is it?"):
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "A cat."}],
            "images": images}


def _problems(row, root):
    return image_problems(row, "images", [m["content"] for m in row["messages"]], root)


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8), "blue").save(tmp_path / "good.png")
    Image.new("RGB", (MAX_IMAGE_SIDE + 1, 2), "blue").save(tmp_path / "wide.png")
    (tmp_path / "notes.png").write_text("this is not a picture")
    (tmp_path / "cut.png").write_bytes((tmp_path / "good.png").read_bytes()[:60])
    return tmp_path


def test_a_good_row_has_no_image_problems(image_folder):
    assert _problems(_row(["good.png"]), image_folder) == []


@pytest.mark.parametrize("images, expected", [
    (["absent.png"], "absent.png was not found"),
    (["notes.png"], "notes.png is not an image file"),
    (["cut.png"], "image cut.png could not be read"),
    (["wide.png"], f"wide.png is {MAX_IMAGE_SIDE + 1}×2 pixels"),
    (["good.png", "good.png"], "1 <image> placeholder(s) in the text but 2 image(s) listed"),
    ([], "1 <image> placeholder(s) in the text but 0 image(s) listed"),
    (["../outside.png"], "points outside the data folder"),
    (["/etc/passwd"], "points outside the data folder"),
])
def test_each_bad_image_reference_is_a_row_problem(image_folder, images, expected):
    problems = _problems(_row(images), image_folder)
    assert any(expected in problem for problem in problems), problems


def test_the_checker_reports_image_problems_per_row(image_folder, monkeypatch):
    from engine.data.checker import check_file

    monkeypatch.setenv("STUDIO_DATA_DIR", str(image_folder))
    rows = [_row(["good.png"]), _row(["absent.png"]), _row(["good.png"], text="No picture here."),
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "notes.png"}},
                                                       {"type": "text", "text": "What is it?"}]},
                          {"role": "assistant", "content": "A cat."}], "images": []}]
    path = image_folder / "pictures.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    report = check_file(path)
    assert report.detection.formatting == "mllm"
    found = sorted((p.row, p.field, p.message.split(";")[0]) for p in report.problems)
    assert found == [
        (2, "images", "image absent.png was not found in the data folder"),
        (3, "images", "0 <image> placeholder(s) in the text but 1 image(s) listed"),
        (4, "images", "notes.png is not an image file (PNG, JPEG, WebP, BMP or GIF)"),
    ]


def test_image_paths_never_leave_the_data_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    (tmp_path / "data" / "link.png").symlink_to(tmp_path / "secret.png")
    for name in ("../secret.png", "link.png", str(tmp_path / "secret.png")):
        with pytest.raises(ImageError):
            resolve_image(name, tmp_path / "data")


# ---------------------------------------------------------------------------------------------------------
# Encoding: images expanded to their vision tokens, masked; only replies trained


def test_masking_golden_with_an_image_row(processor):
    from engine.data.images import VisionSample

    image = PROJECT / "data" / "demo_vision" / "demo_vision-circle-red-0.png"
    messages = [
        {"role": "user", "content": "<image>What colour is the shape?"},
        {"role": "assistant", "content": "The shape is red."},
        {"role": "user", "content": "What shape is in the picture?"},
        {"role": "assistant", "content": "It is a circle."},
    ]
    sample = VisionSample(messages, [image])
    template = load_template("auto", processor.tokenizer)
    text, _ = render_sample(sample, template, processor)
    assert text == ("<|im_start|>user\n<image>What colour is the shape?<|im_end|>\n<|im_start|>assistant\n"
                    "The shape is red.<|im_end|>\n<|im_start|>user\nWhat shape is in the picture?<|im_end|>\n"
                    "<|im_start|>assistant\nIt is a circle.<|im_end|>\n")
    [example], stats = encode_vision_samples([sample], template, processor, cutoff_len=512)
    ids, labels = example["input_ids"], example["labels"]
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    image_positions = [i for i, token in enumerate(ids) if token == image_id]
    assert len(image_positions) == 16 and image_positions == list(range(image_positions[0], image_positions[0] + 16))
    assert all(labels[i] == IGNORE for i in image_positions)
    trained = processor.tokenizer.decode([t for t, label in zip(ids, labels) if label != IGNORE])
    assert trained == "The shape is red.<|im_end|>It is a circle.<|im_end|>"
    assert all(label in (IGNORE, token) for token, label in zip(ids, labels))
    assert example["images"] == [str(image)]
    assert stats.examples == 1 and stats.trained_tokens == sum(label != IGNORE for label in labels)


def test_token_view_shows_each_image_as_its_masked_vision_tokens(processor):
    from engine.data.images import VisionSample
    from engine.data.token_view import vision_token_view

    image = PROJECT / "data" / "demo_vision" / "demo_vision-square-green-0.png"
    messages = [{"role": "user", "content": "<image>What shape is in the picture?"},
                {"role": "assistant", "content": "It is a square."}]
    view = vision_token_view(VisionSample(messages, [image]), "auto", processor)
    assert [piece for piece, _ in view].count("<image>") == 16
    assert not any(trained for piece, trained in view if piece == "<image>")
    assert "".join(piece for piece, trained in view if trained) == "It is a square.<|im_end|>"
    assert "".join(piece for piece, _ in view).startswith("<|im_start|>user\n" + "<image>" * 16 + "What shape")


def test_truncation_never_cuts_an_image():
    ids, labels = [1, 9, 2, 3, 9, 4], [IGNORE, IGNORE, IGNORE, 3, IGNORE, 4]
    full = expand_images(ids, labels, [4, 4], 9, 100)
    assert full[0] == [1, 9, 9, 9, 9, 2, 3, 9, 9, 9, 9, 4] and full[2:] == (2, 0)
    cut_ids, cut_labels, kept, cut = expand_images(ids, labels, [4, 4], 9, 10)
    assert cut_ids == [1, 9, 9, 9, 9, 2, 3] and kept == 1 and cut == 1  # the second image left out whole
    assert cut_labels == [IGNORE] * 6 + [3]


# ---------------------------------------------------------------------------------------------------------
# Training


def vlm_config(**method):
    from engine.config.schema import RunConfig

    config = RunConfig.load(PROJECT / "examples" / "sft_vlm_demo.yaml")
    config.data.val_size = 0.0
    config.data.max_samples = 64
    config.train.max_steps = 24
    config.train.logging_steps = 1
    config.train.save_steps = 1000
    for name, value in method.items():
        setattr(config.method, name, value)
    return config


@pytest.fixture(scope="module")
def one_thread():
    """On a small shared CPU, one torch thread trains this tiny model several times faster than two that
    wait for each other (measured: 1.6 s vs 10–40 s for three steps under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vlm_run(tmp_path_factory, tiny_vlm, one_thread):
    """A finished LoRA run of the demo preset, trained in-process exactly as the CLI's worker trains
    `python -m engine train examples/sft_vlm_demo.yaml` (shortened): through the stage table."""
    import os

    from engine.runs.events import EventLog
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training

    root = tmp_path_factory.mktemp("vlm")
    saved = {name: os.environ.get(name) for name in ("STUDIO_SAVES_DIR", "STUDIO_EXPORTS_DIR")}
    os.environ.update(STUDIO_SAVES_DIR=str(root / "saves"), STUDIO_EXPORTS_DIR=str(root / "exports"))
    try:
        run_dir = create_run(vlm_config())
        assert run_training(RunContext(vlm_config(), run_dir, EventLog(run_dir), lambda: False)) == "completed"
        yield run_dir
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_vlm_sft_learns_and_adapts_only_the_language_model(vlm_run):
    from safetensors.torch import load_file

    from engine.runs.events import read_events

    events = read_events(vlm_run)
    start = next(e for e in events if e["event"] == "start")
    assert start["speed"][0] == "packing: off, a vision model keeps one conversation per row with its own pictures"
    assert "packed_rows" not in start["data"]
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert len(losses) == 24
    start, end = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert end < start - 3.0, f"loss went {start:.3f} → {end:.3f}"
    final = vlm_run / "final"
    assert (final / "processor_config.json").exists() and (final / "chat_template.jinja").exists()
    adapter = load_file(final / "adapter_model.safetensors")
    assert adapter and all("language_model" in name for name in adapter)  # vision tower, projector: frozen
    assert all(tensor.abs().sum() > 0 for name, tensor in adapter.items() if "lora_B" in name)


def test_chat_about_an_image_with_the_trained_run(vlm_run):
    from engine.use.chat import build_messages, load_run_for_chat, stream_reply

    chat = load_run_for_chat(vlm_run)
    image = PROJECT / "data" / "demo_vision" / "demo_vision_heldout-circle-red-0.png"
    messages = build_messages("", [], "What colour is the shape?", images=1)
    assert messages[-1]["content"] == "<image>What colour is the shape?"
    replies = list(stream_reply(chat, messages, max_new_tokens=8, temperature=0, images=[image]))
    assert replies and replies[-1].strip()
    with pytest.raises(ValueError, match="placeholder"):
        list(stream_reply(chat, messages, max_new_tokens=2, temperature=0, images=[]))


def test_chat_tab_sends_uploaded_pictures_with_the_message(tiny_vlm):
    from engine.config.schema import ModelConfig
    from webui import run_view
    import gradio as gr

    from webui.tabs.chat import load_chat, plain_messages, reply_with_images

    values = {f"model.{name}": value for name, value in vars(ModelConfig(name_or_path="builtin:tiny-vlm")).items()}
    _, sources, _ = load_chat(run_view.BASE, "", values, "en")
    image = str(PROJECT / "data" / "demo_vision" / "demo_vision_heldout-circle-red-0.png")
    steps = list(reply_with_images([image], [], "What colour is the shape?", [], [], sources, "", 6, 0.0, 1.0, "en"))
    history, _, box, files, pictures = steps[-1]
    # The chatbot shows the picture itself, then the text; the model read an <image> in its place.
    assert history[0]["content"] == [{"path": image, "alt_text": image.rsplit("/", 1)[-1]},
                                     {"type": "text", "text": "What colour is the shape?"}]
    assert history[-1]["role"] == "assistant" and box == "" and files is None and pictures == [image]
    # The page sends the history back in gradio's own shape: the picture is still its placeholder there.
    chatbot = gr.Chatbot()
    history = chatbot.preprocess(chatbot.postprocess(history))
    assert history[0]["content"][0]["file"]["mime_type"] == "image/png"
    assert plain_messages(history, "")[0]["content"] == "<image>What colour is the shape?"
    # A follow-up without a new picture still carries the first one (its placeholder is in the history).
    history, *_, pictures = list(reply_with_images(None, pictures, "Describe the picture.", history, [], sources,
                                                   "", 6, 0.0, 1.0, "en"))[-1]
    assert len(history) == 4 and history[2]["content"] == "Describe the picture." and pictures == [image]


def test_merged_export_reloads_and_generates_like_adapter_on_base(vlm_run):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from engine.data.images import load_image
    from engine.export.merge import export_run
    from engine.use.chat import load_run_for_chat, prompt_inputs

    chat = load_run_for_chat(vlm_run)
    image = load_image(PROJECT / "data" / "demo_vision" / "demo_vision_heldout-square-blue-1.png")
    messages = [{"role": "user", "content": "<image>Describe the picture."}]
    inputs = prompt_inputs(chat, messages, [image])
    expected = chat.model.generate(**inputs, max_new_tokens=8, do_sample=False)
    result = export_run(vlm_run)
    merged = AutoModelForImageTextToText.from_pretrained(result.folder).eval()
    processor = AutoProcessor.from_pretrained(result.folder)
    assert type(processor.image_processor).__name__ == type(chat.processor.image_processor).__name__
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the picture."}]}],
        add_generation_prompt=True, tokenize=False)
    reloaded = processor(text=[text], images=[image], return_tensors="pt")
    assert torch.equal(reloaded["input_ids"], inputs["input_ids"])
    assert torch.equal(merged.generate(**reloaded, max_new_tokens=8, do_sample=False), expected)


@pytest.mark.parametrize("finetuning_type, freeze_tower, freeze_projector", [
    ("lora", True, False),
    ("full", True, True),
    ("full", False, False),
    ("freeze", True, False),
])
def test_vision_switches_decide_what_trains(tiny_vlm, finetuning_type, freeze_tower, freeze_projector):
    from engine.config.schema import ModelConfig
    from engine.models.loading import load_model
    from engine.models.methods import apply_method

    config = vlm_config(finetuning_type=finetuning_type, freeze_vision_tower=freeze_tower,
                        freeze_projector=freeze_projector)
    model = apply_method(load_model(ModelConfig(name_or_path="builtin:tiny-vlm")), config.method)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    tower = [n for n, _ in model.named_parameters() if "vision_tower" in n]
    projector = [n for n, _ in model.named_parameters() if "multi_modal_projector" in n and "original_module" not in n]
    assert all((n in trainable) != freeze_tower for n in tower)
    assert all((n in trainable) != freeze_projector for n in projector)
    assert any("language_model" in n or "lm_head" in n for n in trainable)


# ---------------------------------------------------------------------------------------------------------
# Memory estimate


def test_memory_estimate_counts_the_vision_tower_and_what_trains(tiny_vlm):
    from transformers import AutoModelForImageTextToText

    from engine.models.shape import model_shape
    from engine.train.memory import estimate_memory

    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    shape = model_shape("builtin:tiny-vlm")
    assert shape.vision.tokens_per_image == 16
    real = {part: sum(p.numel() for n, p in model.named_parameters() if part in n)
            for part in ("vision_tower", "multi_modal_projector")}
    assert shape.vision.tower_params == pytest.approx(real["vision_tower"], rel=0.05)
    assert shape.vision.projector_params == pytest.approx(real["multi_modal_projector"], rel=0.05)
    assert shape.total_params == pytest.approx(sum(p.numel() for p in model.parameters()), rel=0.05)
    frozen = estimate_memory(vlm_config(finetuning_type="full"))
    trained = estimate_memory(vlm_config(finetuning_type="full", freeze_vision_tower=False, freeze_projector=False))
    vision = shape.vision.tower_params + shape.vision.projector_params
    assert trained.trainable_params - frozen.trainable_params == vision
    assert trained.activations > frozen.activations  # a training tower keeps its activations for backward
    lora = estimate_memory(vlm_config(freeze_projector=False))
    assert lora.trainable_params - estimate_memory(vlm_config()).trainable_params == shape.vision.projector_params


def test_packing_stays_off_for_a_vision_model_even_when_asked():
    from engine.train.speed import plan_speed

    config = vlm_config()
    config.speed.packing = "on"
    plan = plan_speed(config, cuda=False)
    assert not plan.packing and plan.notes[0].startswith("packing: off, a vision model")


def test_data_tab_token_view_shows_a_vision_row_with_its_picture_tokens(tiny_vlm):
    from webui.tabs.data_inspect import show_tokens

    shown, counts = show_tokens("demo_vision", 2, "builtin:tiny-vlm", "auto", False, False, "en")
    spans = shown["value"]
    assert [piece for piece, kind in spans if kind == "picture (masked)"] == ["<image>"] * 16
    assert "".join(piece for piece, kind in spans if kind == "trained").startswith("The shape is")
    assert "Row 2 of 288" in counts
    _, refusal = show_tokens("demo_vision", 1, "builtin:tiny-demo", "auto", False, False, "en")
    assert "demo_vision has pictures: pick a vision model" in refusal


def test_data_tab_length_histogram_counts_each_picture_as_its_vision_tokens(tiny_vlm, processor):
    from engine.data.token_view import vision_token_view
    from webui.tabs.data_inspect import show_lengths

    # What the token view shows row by row: each picture as its 16 vision tokens.
    lengths = [len(vision_token_view(sample, "auto", processor)) for sample in load_vision_samples("demo_vision")]
    truncated = sum(length > 48 for length in lengths)
    assert min(lengths) > 16 and 0 < truncated < 288
    figure, sentence = show_lengths("demo_vision", "builtin:tiny-vlm", "auto", False, 48, "en")
    assert f"**{truncated} of 288 rows would be truncated**" in sentence and f"longest {max(lengths)})" in sentence
    assert sum(bar.get_height() for bar in figure.axes[0].patches) == 288  # every row is in a bar
    figure, refusal = show_lengths("demo_vision", "builtin:tiny-demo", "auto", False, 48, "en")
    assert figure is None and "demo_vision has pictures: pick a vision model" in refusal


def test_evaluate_a_vision_run_from_the_cli_and_the_evaluate_tab(vlm_run, tmp_path, capsys):
    from engine.cli import main
    from engine.use.predict import read_predictions
    from webui.tabs.evaluate import stream_evaluate

    output = tmp_path / "eval"
    assert main(["evaluate", str(vlm_run), "--dataset", "demo_vision_heldout", "--max-samples", "6", "--generate",
                 "--max-new-tokens", "6", "--batch-size", "4", "--output-dir", str(output)]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["complete"] and metrics["examples"] == 6 and 0 < metrics["eval_loss"] < 3.0
    assert {"bleu-4", "rouge-l"} <= set(metrics) and metrics["rouge-l"] > 0
    rows = read_predictions(output)
    assert len(rows) == 6 and all(len(row["images"]) == 1 and row["prediction"] for row in rows)
    assert "loss" in capsys.readouterr().out
    # The Evaluate tab streams the same: loss first, then the rows with their pictures named.
    *_, (progress, table, frame) = stream_evaluate(str(vlm_run), "builtin:tiny-vlm", ["demo_vision_heldout"], "all",
                                                  2, 2, 4, True, "en")
    assert "data-done='2'" in progress and "eval loss" in table and "ROUGE-L" in table
    assert frame.iloc[0, 0].startswith("<image>") and frame.iloc[0, 0].endswith(".png]")


def test_a_lora_run_shared_on_its_base_still_reads_pictures(vlm_run):
    """The Chat tab loads LoRA runs onto one shared base; that path must keep the processor (it once did not)."""
    from engine.use.chat import build_messages, load_adapters_for_chat, stream_reply

    chats = load_adapters_for_chat([vlm_run])
    image = PROJECT / "data" / "demo_vision" / "demo_vision_heldout-circle-red-0.png"
    messages = build_messages("", [], "What colour is the shape?", images=1)
    for chat in chats.values():
        assert chat.processor is not None
        assert list(stream_reply(chat, messages, max_new_tokens=4, temperature=0, images=[image]))[-1].strip()
