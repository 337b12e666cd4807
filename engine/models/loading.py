"""Finding and loading base models and tokenizers: built-in, GGUF file or packaged model (converted once),
local folder, or Hugging Face Hub id."""
from __future__ import annotations

import functools
import json
from pathlib import Path

from engine.models.builtin import builtin_path, is_builtin, is_builtin_vision
from engine.models.gguf_base import gguf_file, gguf_model_folder, is_gguf_model
from engine.models.packaged import PREFIX as PACKAGED_PREFIX
from engine.config.schema import ModelConfig, RunConfig
from engine.messages import say
from engine.paths import CONFIG_FILE, FINAL_DIR


class ModelLoadError(RuntimeError):
    pass


def resolve_model(name_or_path: str) -> str:
    """A loadable location: the built-in model's folder, a GGUF model's converted folder, a local folder, or the
    Hub id unchanged."""
    if is_builtin(name_or_path):
        return str(builtin_path(name_or_path))
    if is_gguf_model(name_or_path):
        try:
            return str(gguf_model_folder(name_or_path))
        except FileNotFoundError as err:
            raise ModelLoadError(str(err)) from None
    local = Path(name_or_path).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise ModelLoadError(f"{local} is a folder but holds no config.json; point to a Hugging Face model folder")
        return str(local.resolve())
    return name_or_path


def needs_bitsandbytes(config: ModelConfig) -> bool:
    """Whether loading this model can need bitsandbytes: quantisation asked for, or a checkpoint saved quantised.
    A Hub id's files are not read here, so it may. (peft imports bitsandbytes whenever it is installed, ~2 s of
    torch._inductor; a worker whose model never needs it treats it as absent: engine/runs/worker.py.)"""
    if config.quantization != "none":
        return True
    if is_builtin(config.name_or_path) or is_gguf_model(config.name_or_path):
        return False  # both become plain float folders
    model_config = Path(config.name_or_path).expanduser() / "config.json"
    if not model_config.is_file():
        return True
    return "quantization_config" in json.loads(model_config.read_text(encoding="utf-8"))


def short_name(name_or_path: str) -> str:
    """A folder-safe model name for saves/<model>/...: builtin:tiny-demo → tiny-demo, org/Model → Model. A local
    path is resolved first, so `data/..` names the folder it means; a name of only dots never names a folder."""
    name = name_or_path.removeprefix("builtin:").removeprefix(PACKAGED_PREFIX)
    if name.lower().endswith(".gguf"):
        name = name[:-len(".gguf")]
    elif not is_builtin(name_or_path) and Path(name).expanduser().exists():
        name = str(Path(name).expanduser().resolve())
    base = name.rstrip("/").split("/")[-1]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in base)
    return safe if safe.strip(".") else "model"


def ships_chat_template(name_or_path: str) -> bool | None:
    """Whether the model's tokenizer has a chat template of its own: True / False where its files can be read
    here (built-in, local folder, Hub cache), None when only the network would tell (checked at load then)."""
    if is_builtin(name_or_path):
        return True  # the built-in models ship ChatML
    if is_gguf_model(name_or_path):
        return _gguf_ships_template(name_or_path)
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return _template_in(lambda filename: folder / filename)
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> Path | None:
        found = try_to_load_from_cache(name_or_path, filename)
        return Path(found) if isinstance(found, str) else None

    if cached("tokenizer_config.json") is None:
        return None
    return _template_in(cached)


def _gguf_ships_template(name: str) -> bool | None:
    """A GGUF file keeps its chat template in its metadata (read without loading a tensor); a packaged base model
    without one gets the studio template its catalogue entry names."""
    from gguf import GGUFReader

    from engine.models.packaged import is_packaged, packaged_entry

    if is_packaged(name) and packaged_entry(name).template != "auto":
        return True
    try:
        return "tokenizer.chat_template" in GGUFReader(gguf_file(name)).fields
    except (OSError, ValueError):
        return None


def _template_in(locate) -> bool:
    """A chat template in chat_template.jinja / .json, or in tokenizer_config.json's "chat_template"."""
    for filename in ("chat_template.jinja", "chat_template.json"):
        path = locate(filename)
        if path is not None and path.is_file():
            return True
    config = locate("tokenizer_config.json")
    if config is None or not config.is_file():
        return False
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError):
        return False


def linear_module_names(config: ModelConfig) -> set[str] | None:
    """The last name parts of the model's linear layers (q_proj, ...), read by building it on the meta device
    (no weights, no memory); None for a Hub model not on this machine."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    location = Path(resolve_model(config.name_or_path))
    if not location.is_dir():
        return None
    shape = AutoConfig.from_pretrained(str(location), trust_remote_code=config.trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(shape, trust_remote_code=config.trust_remote_code)
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name != "lm_head"}


def sliding_window(name_or_path: str) -> int | None:
    """The attention window of the model's sliding-window layers (Gemma 2 and 3, gpt-oss, Mistral 7B v0.1), read
    from its config.json; None when it has none or the config is not on this machine."""
    try:
        folder = Path(resolve_model(name_or_path))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (ModelLoadError, OSError, ValueError):
        return None
    config = config.get("text_config") or config
    layer_types = config.get("layer_types")
    if config.get("use_sliding_window") is False or (layer_types and "sliding_attention" not in layer_types):
        return None
    return config.get("sliding_window") or None


# attn_implementation -> the class flag transformers checks before it accepts it (eager always works).
ATTENTION_FLAGS = {"sdpa": "_supports_sdpa", "flash_attention_2": "_supports_flash_attn",
                   "flex_attention": "_supports_flex_attn"}


def attention_support(config: ModelConfig) -> tuple[str, set[str]] | None:
    """(model class name, the attention implementations it accepts), read from the class transformers would build
    (its _supports_sdpa / _supports_flash_attn / _supports_flex_attn: Gemma 2 and gpt-oss refuse sdpa); None
    where the config cannot be read here (a Hub id not on this machine, a class of remote code)."""
    return _attention_support(config.name_or_path, config.trust_remote_code)


@functools.lru_cache(maxsize=32)
def _attention_support(name_or_path: str, trust_remote_code: bool) -> tuple[str, set[str]] | None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    try:
        location = resolve_model(name_or_path)
        if not Path(location).is_dir():
            return None
        model_config = AutoConfig.from_pretrained(location, trust_remote_code=trust_remote_code)
        factory = AutoModelForImageTextToText if getattr(model_config, "vision_config", None) else AutoModelForCausalLM
        model_class = factory._model_mapping[type(model_config)]
    except (ModelLoadError, OSError, ValueError, KeyError):
        return None
    accepted = {"eager"} | {name for name, flag in ATTENTION_FLAGS.items() if getattr(model_class, flag, False)}
    return model_class.__name__, accepted


def torch_dtype(name: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def load_tokenizer(config: ModelConfig, location: str | None = None):
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, config, location)
    if tokenizer.pad_token is None:  # many base models ship none; padding with eos is the usual choice
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_vision_model(location: str) -> bool:
    """Whether the model at `location` (a folder, or a Hub id in the local cache) reads images: its config
    has a vision part (LLaVA, Qwen2-VL, Gemma 3, ... all name it vision_config)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(location)
    except (OSError, ValueError):
        return False
    return getattr(config, "vision_config", None) is not None


def reads_images(name_or_path: str) -> bool:
    """is_vision_model by name: a built-in model is answered from its recipe, so nothing is built to ask."""
    if is_builtin(name_or_path):
        return is_builtin_vision(name_or_path)
    if is_gguf_model(name_or_path):
        return False  # converted as a causal LM: its vision part, if any, is a separate file
    try:
        return is_vision_model(resolve_model(name_or_path))
    except ModelLoadError:
        return False


def load_processor(config: ModelConfig, location: str | None = None):
    """A vision model's processor (tokenizer + image processor + chat template); without torchvision
    transformers picks the PIL/numpy image processor."""
    from transformers import AutoProcessor

    processor = _from_pretrained(AutoProcessor, config, location)
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return processor


def load_text_processing(config: ModelConfig, location: str | None = None):
    """What turns a conversation into model inputs: the processor of a vision model, else the tokenizer.
    Saved next to a trained or merged model, it makes the folder load like the base did."""
    if is_vision_model(resolve_model(config.name_or_path)):
        return load_processor(config, location)
    return load_tokenizer(config, location)


def load_model(config: ModelConfig, location: str | None = None, quantize: bool = False, reward_head: bool = False,
               attention: str | None = None):
    """The causal LM, or a vision model's image-text-to-text model (or, with `reward_head`, the same body with a
    one-score head for reward modelling); `attention` is the attn_implementation (None = transformers' default).

    `quantize` applies config.quantization; only training asks for it: chat and export load full-precision
    weights, as a 4-bit model that has generated gives wrong gradients, and merging needs real weights.
    """
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoModelForSequenceClassification,
    )

    location = location or resolve_model(config.name_or_path)
    if not config.allow_pickle_weights:
        refuse_pickle_only_folder(config.name_or_path, Path(location))
    # use_safetensors=True makes transformers refuse .bin weights everywhere, the Hub included.
    kwargs = {"dtype": torch_dtype(config.dtype), "use_safetensors": True if not config.allow_pickle_weights else None}
    if attention:
        kwargs["attn_implementation"] = attention
    if quantize and config.quantization != "none":
        kwargs["quantization_config"] = quantization_config(config)
    if reward_head:
        model = _from_pretrained(AutoModelForSequenceClassification, config, location, num_labels=1, **kwargs)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = model.config.eos_token_id  # the head reads the last non-pad token
        return model
    factory = AutoModelForImageTextToText if is_vision_model(location) else AutoModelForCausalLM
    return _from_pretrained(factory, config, location, **kwargs)


def merged_model(run_dir: Path):
    """A run's trained model as one plain transformers model: LoRA merged into the base weights. A reward
    model keeps its score head: whether it has one is read from what the run saved."""
    config = RunConfig.load(Path(run_dir) / CONFIG_FILE)
    final = Path(run_dir) / FINAL_DIR
    if not final.exists():
        raise FileNotFoundError(f"run {Path(run_dir).name} has no trained result to export ({FINAL_DIR}/ is missing)")
    reward_head = _has_score_head(final)
    if (final / "adapter_config.json").exists():
        from peft import PeftModel

        base = load_model(config.model, reward_head=reward_head)
        return PeftModel.from_pretrained(base, str(final)).merge_and_unload()
    return load_model(config.model, location=str(final), reward_head=reward_head)


def _has_score_head(final: Path) -> bool:
    """A saved adapter of task SEQ_CLS, or a saved model whose class scores sequences."""
    import json

    adapter = final / "adapter_config.json"
    if adapter.exists():
        return json.loads(adapter.read_text()).get("task_type") == "SEQ_CLS"
    architectures = json.loads((final / "config.json").read_text()).get("architectures") or []
    return any(name.endswith("ForSequenceClassification") for name in architectures)


def refuse_non_finite_weights(folder: Path) -> None:
    """Refuse a trained result holding NaN or infinite weights (a run that diverged before this check
    existed): chatting with it gives garbage and exporting it spreads it. Reads each tensor once, lazily."""
    from safetensors import safe_open

    broken = 0
    for weights in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(weights), framework="pt") as tensors:
            for key in tensors.keys():
                tensor = tensors.get_tensor(key)
                if tensor.is_floating_point():
                    broken += int((~tensor.isfinite()).sum())
    if broken:
        raise ModelLoadError(say("use.weights_not_finite", path=Path(folder).parent.name, count=broken))


# Weight files that Python's pickle reads: loading one can run any code its author put in it.
PICKLE_WEIGHT_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")  # where transformers reads safetensors from


def refuse_pickle_only_folder(name: str, folder: Path) -> None:
    """A clear refusal for a local model folder whose weights exist only as pickle files. Any other .safetensors
    file (an adapter, a decoy) does not count: transformers reads a model's weights only from SAFE_WEIGHTS."""
    if not folder.is_dir() or any((folder / weights).is_file() for weights in SAFE_WEIGHTS):
        return
    pickled = sorted(p.name for pattern in PICKLE_WEIGHT_PATTERNS for p in folder.glob(pattern))
    if not pickled:
        return
    refusal = say("model.pickle_only", name=repr(name), files=", ".join(pickled))
    others = sorted(p.name for p in folder.glob("*.safetensors"))
    if others:
        refusal = say("model.pickle_only_beside", refusal=refusal, others=", ".join(others),
                      weights=" or ".join(SAFE_WEIGHTS))
    raise ModelLoadError(refusal)


def quantization_config(config: ModelConfig):
    from transformers import BitsAndBytesConfig

    if config.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=config.quant_type,
        bnb_4bit_use_double_quant=config.double_quant,
        bnb_4bit_compute_dtype=torch_dtype(config.dtype),  # bf16 on GPUs that have it: the QLoRA recipe
    )


def _from_pretrained(factory, config: ModelConfig, location: str | None = None, **kwargs):
    location = location or resolve_model(config.name_or_path)
    try:
        return factory.from_pretrained(location, trust_remote_code=config.trust_remote_code, **kwargs)
    except OSError as err:
        raise ModelLoadError(
            f"could not load {config.name_or_path!r}: {err}. There is no local folder of that name, so it would "
            "come from the Hugging Face Hub, which this machine cannot reach; download it where there is network "
            "and enter the folder's path instead."
        ) from None
    except ValueError as err:
        if "trust_remote_code" in str(err):
            raise ModelLoadError(
                f"{config.name_or_path!r} ships its own Python code; tick 'trust remote code' in the Model tab only "
                "if you trust its authors"
            ) from None
        raise
