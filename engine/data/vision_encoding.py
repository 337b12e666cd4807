"""Conversations with images → token ids, labels and image paths; and the collator that turns images into pixels.

The text is rendered and masked exactly like text-only data (engine/data/encoding.py): only assistant replies
are trained. Each image then stands in the text as one image token (the processor's, e.g. LLaVA's `<image>`);
here it is expanded to the number of vision tokens the model gives that image (16 for `builtin:tiny-vlm`,
size-dependent for Qwen2-VL), every one masked (-100): the model reads the picture, it never predicts it.
Truncation at `cutoff_len` keeps whole images only, as a cut image would not match its vision features.

Pixels are not stored: an example keeps its image paths and the collator runs the image processor per batch.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from engine.data.encoding import IGNORE, EncodeStats, _mask, _tokenizer_fingerprint
from engine.data.conversion import load_vision_samples
from engine.data.images import PLACEHOLDER, VisionSample, load_image
from engine.data.templates import AUTO, ChatTemplate, assistant_spans

# ---------------------------------------------------------------------------------------------------------
# Encoding


def render_parts(messages: list[dict]) -> list[dict]:
    """User text with `<image>` placeholders as content parts ([{"type": "image"}, {"type": "text", ...}]),
    the form a Hub VLM's own chat template renders into its image markup."""
    converted = []
    for message in messages:
        content = message["content"]
        if message["role"] == "assistant" or PLACEHOLDER not in content:
            converted.append(message)
            continue
        parts = []
        for index, text in enumerate(content.split(PLACEHOLDER)):
            if index:
                parts.append({"type": "image"})
            if text:
                parts.append({"type": "text", "text": text})
        converted.append({**message, "content": parts})
    return converted


def render_sample(sample: VisionSample, template: ChatTemplate, processor) -> tuple[str, list[tuple[int, int]]]:
    """(text with one image token per image, assistant character spans). The model's own template (`auto`)
    gets content parts; a file template gets the placeholder text, turned into the processor's image token."""
    tokenizer = processor.tokenizer
    messages = render_parts(sample.messages) if template.name == AUTO else sample.messages
    text, spans = assistant_spans(template, tokenizer, messages)
    if template.name != AUTO and processor.image_token != PLACEHOLDER:
        text, spans = _replace_keeping_spans(text, spans, PLACEHOLDER, processor.image_token)
    return text, spans


def render_vision_prompt(template: ChatTemplate, processor, messages: list[dict]) -> str:
    """The prompt for generation: the conversation so far plus the assistant header, one image token an image."""
    from engine.data.templates import render_messages

    if template.name == AUTO:
        return render_messages(template, processor.tokenizer, render_parts(messages), add_generation_prompt=True)
    text = render_messages(template, processor.tokenizer, messages, add_generation_prompt=True)
    return text.replace(PLACEHOLDER, processor.image_token)


def _replace_keeping_spans(text: str, spans, old: str, new: str):
    """`text` with every `old` replaced by `new`, and the spans moved by the growth of the replacements
    before them (placeholders sit in user turns, never inside a span)."""
    positions = [match.start() for match in re.finditer(re.escape(old), text)]
    grow = len(new) - len(old)
    moved = [(begin + grow * sum(p < begin for p in positions), end + grow * sum(p < begin for p in positions))
             for begin, end in spans]
    return text.replace(old, new), moved


def vision_token_count(processor, image) -> int:
    """How many vision tokens the model gives `image`: the processor expands one image token and we count."""
    encoded = processor(text=[processor.image_token], images=[image])
    return list(encoded["input_ids"][0]).count(_image_token_id(processor))


def _image_token_id(processor) -> int:
    return processor.tokenizer.convert_tokens_to_ids(processor.image_token)


def encode_vision_samples(samples: list[VisionSample], template: ChatTemplate, processor, cutoff_len: int,
                          train_on_prompt: bool = False) -> tuple[list[dict], EncodeStats]:
    """[{"input_ids", "labels", "images"}] per usable sample (images as path strings), and what happened."""
    stats, examples, counts = EncodeStats(), [], {}
    image_id = _image_token_id(processor)
    for sample in samples:
        text, spans = render_sample(sample, template, processor)
        encoded = processor.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = encoded["input_ids"]
        labels = list(ids) if train_on_prompt else _mask(ids, encoded["offset_mapping"], spans)
        sizes = image_token_counts(sample, processor, counts)
        ids, labels, kept, cut = expand_images(ids, labels, sizes, image_id, cutoff_len)
        stats.truncated += cut
        if all(label == IGNORE for label in labels):
            stats.dropped_empty += 1
            continue
        examples.append({"input_ids": ids, "labels": labels, "images": [str(p) for p in sample.images[:kept]]})
        stats.examples += 1
        stats.tokens += len(ids)
        stats.trained_tokens += sum(label != IGNORE for label in labels)
        stats.lengths.append(len(ids))
    return examples, stats


def image_token_counts(sample: VisionSample, processor, cache: dict | None = None) -> list[int]:
    """Vision tokens of each of the sample's images, in order."""
    cache = {} if cache is None else cache
    return [_token_count(processor, path, cache) for path in sample.images]


def _token_count(processor, path: Path, cache: dict) -> int:
    """Vision tokens of the image at `path`; the count depends only on the picture's size, so sizes are cached."""
    image = load_image(path)
    if image.size not in cache:
        cache[image.size] = vision_token_count(processor, image)
    return cache[image.size]


def expand_images(ids: list[int], labels: list[int], sizes: list[int], image_id: int, cutoff_len: int):
    """(ids, labels, images kept, 1 if cut else 0): each image token becomes sizes[k] masked copies; the
    result is cut at `cutoff_len`, never inside an image (an image that does not fit is left out whole)."""
    out_ids, out_labels, kept = [], [], 0
    for token, label in zip(ids, labels):
        width = sizes[kept] if token == image_id else 1
        if len(out_ids) + width > cutoff_len:
            return out_ids, out_labels, kept, 1
        if token == image_id:
            out_ids += [image_id] * width
            out_labels += [IGNORE] * width
            kept += 1
        else:
            out_ids.append(token)
            out_labels.append(label)
    return out_ids, out_labels, kept, 0


# ---------------------------------------------------------------------------------------------------------
# Cached encoding of a registered dataset


def encode_vision_dataset(name: str, template: ChatTemplate, processor, cutoff_len: int, train_on_prompt: bool,
                          max_samples: int = 0):
    """(datasets.Dataset of input_ids/labels/images, summary) for registered dataset `name`, cached like text
    data; the key also covers every image file's name, size and modification time."""
    from datasets import Dataset, disable_progress_bars, load_from_disk

    from engine.data.registry import dataset_file, get_entry
    from engine.paths import cache_dir

    samples = load_vision_samples(name, max_samples)
    entry = get_entry(name)
    key = hashlib.sha256(dataset_file(entry).read_bytes())
    for path in sorted({p for sample in samples for p in sample.images}):
        stat = path.stat()
        key.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    settings = [vars(entry), template.source, cutoff_len, train_on_prompt, max_samples]
    key.update(json.dumps(settings, default=str).encode())  # default=str: the entry's folder is a Path
    key.update(_tokenizer_fingerprint(processor.tokenizer).encode())
    key.update(json.dumps(processor.image_processor.to_dict(), sort_keys=True, default=str).encode())
    folder = cache_dir() / "encoded" / f"{name}-vision-{key.hexdigest()[:16]}"
    if (folder / "summary.json").exists():
        return load_from_disk(str(folder)), json.loads((folder / "summary.json").read_text())
    examples, stats = encode_vision_samples(samples, template, processor, cutoff_len, train_on_prompt)
    columns = ("input_ids", "labels", "images")
    dataset = Dataset.from_dict({column: [example[column] for example in examples] for column in columns})
    disable_progress_bars()
    dataset.save_to_disk(str(folder))
    (folder / "summary.json").write_text(json.dumps(stats.summary()))  # written last: marks the entry complete
    return load_from_disk(str(folder)), stats.summary()


# ---------------------------------------------------------------------------------------------------------
# Batches


class VisionCollator:
    """Pads a batch to its longest example (labels with -100) and adds the image processor's tensors
    (pixel_values, and e.g. Qwen2-VL's image_grid_thw) for the batch's images, in order."""

    def __init__(self, processor):
        self.processor = processor
        self.pad_id = processor.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = processor.tokenizer.eos_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        ids, labels, attention = [], [], []
        for feature in features:
            padding = longest - len(feature["input_ids"])
            ids.append(list(feature["input_ids"]) + [self.pad_id] * padding)
            labels.append(list(feature["labels"]) + [IGNORE] * padding)
            attention.append([1] * len(feature["input_ids"]) + [0] * padding)
        batch = {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(attention),
        }
        images = [load_image(Path(path)) for feature in features for path in feature.get("images") or []]
        if images:
            batch.update(self.processor.image_processor(images=images, return_tensors="pt"))
        return batch
