"""The vision demo data: small drawn pictures of a coloured shape, and questions about them.

`python -m engine.data.demo_vision` writes data/demo_vision/ (32×32 PNGs of a red / green / blue / yellow
circle / square / triangle, random size and place) and two datasets in LLaMA-Factory's `mllm` shape:
demo_vision.json to train on and demo_vision_heldout.json (other pictures) to measure answers on. Each row
is sharegpt-style `messages` whose user turn holds an `<image>` placeholder, and an `images` list of paths
relative to the data folder. The same seed always draws the same pictures.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from engine.paths import PROJECT_DIR

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30)}
SHAPES = ("circle", "square", "triangle")
SIDE = 32  # pixels
IMAGE_FOLDER = "demo_vision"
SPLITS = {"demo_vision.json": (24, 1), "demo_vision_heldout.json": (3, 2)}  # file: (pictures per kind, seed)

QUESTIONS = {
    "colour": ("<image>What colour is the shape?", "The shape is {colour}."),
    "shape": ("<image>What shape is in the picture?", "It is a {shape}."),
    "describe": ("<image>Describe the picture.", "A {colour} {shape}."),
}


def draw(shape: str, colour: str, rng: random.Random):
    """One picture: the shape filled with the colour, 12–26 px wide, anywhere inside a light background."""
    from PIL import Image, ImageDraw

    grey = rng.randint(225, 255)
    image = Image.new("RGB", (SIDE, SIDE), (grey, grey, grey))
    size = rng.randint(12, 26)
    left, top = rng.randint(0, SIDE - size), rng.randint(0, SIDE - size)
    box = (left, top, left + size - 1, top + size - 1)
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse(box, fill=COLOURS[colour])
    elif shape == "square":
        pen.rectangle(box, fill=COLOURS[colour])
    else:
        pen.polygon([(left + size // 2, top), (left, box[3]), (box[2], box[3])], fill=COLOURS[colour])
    return image


def demo_rows(stem: str, per_kind: int, seed: int, image_dir: Path) -> list[dict]:
    """Rows for every shape × colour × `per_kind` pictures; drawing each picture into `image_dir`."""
    rng = random.Random(seed)
    rows = []
    for shape in SHAPES:
        for colour in COLOURS:
            for index in range(per_kind):
                name = f"{stem}-{shape}-{colour}-{index}.png"
                draw(shape, colour, rng).save(image_dir / name, optimize=True)
                rows.append(_row(shape, colour, f"{IMAGE_FOLDER}/{name}", rng))
    return rows


def _row(shape: str, colour: str, image: str, rng: random.Random) -> dict:
    """One image, one question (or, one time in four, a follow-up question in a second turn)."""
    kinds = rng.sample(list(QUESTIONS), 2)
    messages = []
    for number, kind in enumerate(kinds[: 2 if rng.random() < 0.25 else 1]):
        question, answer = QUESTIONS[kind]
        # The image comes once, in the first user turn; a follow-up asks about the same picture.
        question = question if number == 0 else question.replace("<image>", "")
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.format(shape=shape, colour=colour)},
        ]
    return {"messages": messages, "images": [image]}


def write_demo(data: Path) -> None:
    image_dir = data / IMAGE_FOLDER
    image_dir.mkdir(parents=True, exist_ok=True)
    for file_name, (per_kind, seed) in SPLITS.items():
        rows = demo_rows(Path(file_name).stem, per_kind, seed, image_dir)
        lines = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)  # one row a line: small diffs
        (data / file_name).write_text(f"[\n{lines}\n]\n", encoding="utf-8")


if __name__ == "__main__":
    write_demo(PROJECT_DIR / "data")
