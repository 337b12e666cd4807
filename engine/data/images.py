"""Images in conversation data: LLaMA-Factory's `mllm` shape, checked and resolved inside the data folder.

A row is a sharegpt / OpenAI-style conversation whose user turns hold `<image>` placeholders, plus an
`images` column (registry `columns.images`) listing one file per placeholder, in order, as paths relative to
the data folder. OpenAI-style content parts ({"type": "image_url", "image_url": {"url": ...}} or
{"type": "image", "image": ...} next to {"type": "text", "text": ...}) are turned into the same form: the
part becomes a placeholder and its path joins the image list.

A path can never leave the data folder (no `..`, no absolute paths, no symlinks out), so a shared studio
does not read other files through a dataset.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.messages import say
from engine.paths import PathEscapeError, data_dir, inside

PLACEHOLDER = "<image>"
MAX_IMAGE_SIDE = 4096  # pixels; a larger picture is shrunk by the processor anyway but costs memory to decode
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


class ImageError(ValueError):
    """An image reference that cannot be used; the message names the row and the file."""


@dataclass
class VisionSample:
    """One conversation ({"role", "content"} messages, `<image>` placeholders in the text) and its images."""

    messages: list[dict]
    images: list[Path]


# ---------------------------------------------------------------------------------------------------------
# Rows


def image_column(columns: dict) -> str | None:
    """The registry's images column, or None for text-only data."""
    return columns.get("images")


def flatten_parts(row: dict, turns_column: str, content_tag: str, images_column: str = "images") -> dict:
    """The row with OpenAI-style content parts replaced by text with placeholders, their paths appended
    to row[images_column] (a copy; a row without parts comes back unchanged)."""
    turns = row.get(turns_column)
    if not isinstance(turns, list) or not any(isinstance(turn, dict) and isinstance(turn.get(content_tag), list)
                                              for turn in turns):
        return row
    images, flat = list(row_image_names(row, images_column)), []
    for turn in turns:
        content = turn.get(content_tag) if isinstance(turn, dict) else None
        if isinstance(content, list):
            turn = {**turn, content_tag: "".join(_part_text(part, images) for part in content)}
        flat.append(turn)
    return {**row, turns_column: flat, images_column: images}


def _part_text(part, images: list) -> str:
    if not isinstance(part, dict):
        return str(part)
    if part.get("type") in ("image", "image_url"):
        source = part.get("image") or part.get("image_url")
        images.append(source.get("url") if isinstance(source, dict) else source)
        return PLACEHOLDER
    return str(part.get("text", ""))


def rebase_images(row: dict, turns_column: str, content_tag: str, images_column: str, folder: str) -> dict:
    """The row with `folder/` put in front of every image path it holds (the images column and OpenAI-style
    content parts): paths relative to an unpacked upload become paths relative to the data folder."""
    def moved(name):
        return f"{folder}/{name}" if isinstance(name, str) else name

    def part(item):
        if not isinstance(item, dict) or item.get("type") not in ("image", "image_url"):
            return item
        key = "image" if "image" in item else "image_url"
        source = item.get(key)
        moved_source = {**source, "url": moved(source.get("url"))} if isinstance(source, dict) else moved(source)
        return {**item, key: moved_source}

    row = dict(row)
    if images_column in row:
        value = row[images_column]
        row[images_column] = moved(value) if isinstance(value, str) else [moved(name) for name in value or []]
    if isinstance(row.get(turns_column), list):
        row[turns_column] = [
            {**turn, content_tag: [part(item) for item in turn[content_tag]]}
            if isinstance(turn, dict) and isinstance(turn.get(content_tag), list) else turn
            for turn in row[turns_column]
        ]
    return row


def row_image_names(row: dict, column: str) -> list:
    """The row's image list as written (a single path counts as a list of one)."""
    value = row.get(column)
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def placeholder_count(messages: list[dict]) -> int:
    return sum(m["content"].count(PLACEHOLDER) for m in messages if isinstance(m.get("content"), str))


def resolve_image(name, root: Path | None = None) -> Path:
    """The file of image `name` inside the data folder; ImageError when it is not text or leaves the folder."""
    root = root or data_dir()
    if not isinstance(name, str) or not name.strip():
        raise ImageError(say("images.not_a_path", value=repr(name)[:60]))
    try:
        return inside(root, name, "image")
    except PathEscapeError:
        raise ImageError(say("images.outside", name=name)) from None


# ---------------------------------------------------------------------------------------------------------
# Checking one row's images: the checker reports each as a row problem


def image_problems(row: dict, column: str, messages_text: list[str], root: Path | None = None) -> list[str]:
    """Every problem with the row's images: the count against the placeholders, then each file in turn."""
    names = row_image_names(row, column)
    if not isinstance(names, list):
        return [say("images.not_a_list", column=column)]
    placeholders = sum(text.count(PLACEHOLDER) for text in messages_text)
    problems = []
    if placeholders != len(names):
        problems.append(say("images.count_mismatch", placeholders=placeholders, images=len(names)))
    for name in names:
        try:
            problem = file_problem(resolve_image(name, root))
        except ImageError as err:
            problem = str(err)
        if problem:
            problems.append(problem)
    return problems


def file_problem(path: Path) -> str | None:
    """Why the file at `path` is not a usable image (missing, not an image, unreadable, too large), or None."""
    from PIL import Image, UnidentifiedImageError

    name = path.name
    if not path.is_file():
        return say("images.missing", name=name)
    try:
        with Image.open(path) as image:
            width, height = image.size
            image.verify()  # reads the whole file: a truncated PNG fails here, not in the middle of training
    except UnidentifiedImageError:
        return say("images.not_an_image", name=name)
    except (OSError, SyntaxError, ValueError) as err:
        return say("images.unreadable", name=name, error=str(err)[:120])
    if max(width, height) > MAX_IMAGE_SIDE:
        return say("images.too_large", name=name, width=width, height=height, limit=MAX_IMAGE_SIDE)
    return None


# ---------------------------------------------------------------------------------------------------------
# Samples for training


def vision_sample(messages: list[dict], names: list, where: str, root: Path | None = None) -> VisionSample:
    """A checked sample: one image per placeholder, every file a readable picture inside the data folder."""
    if placeholder_count(messages) != len(names):
        raise ImageError(f"{where}: " + say("images.count_mismatch", placeholders=placeholder_count(messages),
                                            images=len(names)))
    paths = [resolve_image(name, root) for name in names]
    for path in paths:
        if problem := file_problem(path):
            raise ImageError(f"{where}: {problem}")
    return VisionSample(messages, paths)


def thumbnail(path: Path, side: int = 96):
    """A small RGB copy of the picture (at most `side` pixels a side) for previews."""
    image = load_image(path)
    image.thumbnail((side, side))
    return image


def load_image(path: Path):
    """The picture as RGB (PNG palettes, greyscale and alpha all become three channels)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")
