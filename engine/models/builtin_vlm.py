"""The embedded vision-language model: `builtin:tiny-vlm`, a LLaVA built offline, deterministically, in seconds.

LLaVA's architecture as transformers ships it (LlavaForConditionalGeneration): a small CLIP vision encoder
and a two-layer projector, both random-initialised, in front of the pre-trained `builtin:tiny-demo` Llama
(its weights and tokenizer, plus one `<image>` token). A 32×32 image is cut into 8×8 patches, so each image
becomes 16 vision tokens. The folder holds the model, the tokenizer, the processor (a PIL/numpy image
processor: no torchvision needed) and a chat template that renders images, so AutoModelForImageTextToText and
AutoProcessor load it like a Hub VLM.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.paths import PROJECT_DIR

IMAGE_TOKEN = "<image>"
VISION_TEMPLATE = PROJECT_DIR / "templates" / "vision" / "chatml.jinja"


@dataclass(frozen=True)
class TinyVlmSpec:
    language_model: str = "builtin:tiny-demo"
    image_size: int = 32  # pixels per side after resizing
    patch_size: int = 8  # (32 / 8)² = 16 vision tokens per image
    vision_hidden_size: int = 64
    vision_intermediate_size: int = 128
    vision_layers: int = 2
    vision_heads: int = 2
    recipe_version: int = 1

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def fingerprint(self, language_folder: Path) -> str:
        """Changes with the recipe, the template and the language model it is built on."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        digest.update(VISION_TEMPLATE.read_bytes())
        digest.update(language_folder.name.encode())  # tiny-demo-<its own fingerprint>
        return digest.hexdigest()[:12]


def build_vlm(spec: TinyVlmSpec, language_folder: Path, staging: Path) -> None:
    """Write the model, tokenizer and processor of `spec` into the (empty) folder `staging`."""
    processor = _processor(spec, language_folder)
    model = _model(spec, language_folder, processor.tokenizer)
    model.save_pretrained(staging)
    processor.save_pretrained(staging)  # tokenizer, image processor, chat template


def _processor(spec: TinyVlmSpec, language_folder: Path):
    from transformers import AutoTokenizer, LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import (
        LlavaImageProcessorPil,
    )

    tokenizer = AutoTokenizer.from_pretrained(language_folder)
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    template = VISION_TEMPLATE.read_text(encoding="utf-8")
    tokenizer.chat_template = template
    # Squash every image to image_size² (no crop): shapes near the border stay in the picture.
    side = {"height": spec.image_size, "width": spec.image_size}
    images = LlavaImageProcessorPil(size=side, crop_size=side, do_center_crop=False)
    return LlavaProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",  # drop CLIP's class token: 16 tokens, not 17
        num_additional_image_tokens=1,
        image_token=IMAGE_TOKEN,
        chat_template=template,
    )


def _model(spec: TinyVlmSpec, language_folder: Path, tokenizer):
    """LLaVA with the tiny-demo Llama as its language model; vision encoder and projector random (seed 0)."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        CLIPVisionConfig,
        GenerationConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    torch.manual_seed(0)
    language = AutoModelForCausalLM.from_pretrained(language_folder, dtype=torch.float32)
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden_size,
        intermediate_size=spec.vision_intermediate_size,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=language.config,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
        tie_word_embeddings=language.config.tie_word_embeddings,
    )
    model = LlavaForConditionalGeneration(config)
    model.model.language_model.load_state_dict(language.model.state_dict())
    model.lm_head.load_state_dict(language.lm_head.state_dict())
    # One new row for <image>: its embedding is replaced by vision features, so its value never matters.
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.generation_config = GenerationConfig.from_dict(language.generation_config.to_dict())
    model.eval()
    return model
