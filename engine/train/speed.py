"""What makes a run fast, decided once from the config and this machine: packing, the attention kernel, Liger
kernels, the output head at labelled tokens only, torch.compile, gradient checkpointing.

Each choice comes with its reason as a sentence ("packing: on, rows of 512 tokens", "Liger: not installed"),
which the run's start event records and the Train tab's speed group shows. A choice that needs a GPU or a
package this machine lacks switches off and says so, whether it was automatic or asked for: the same config
then runs on a laptop and on a GPU server. Only settings that can never work are refused (`speed_problems`).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from engine.config.schema import RunConfig
from engine.models.loading import attention_support, reads_images, sliding_window
from engine.models.methods import METHODS
from engine.messages import Message, say
from engine.train.stages import stage_of


@dataclass
class SpeedPlan:
    packing: bool
    row_length: int  # tokens per packed row
    attention: str  # attn_implementation for from_pretrained
    liger: bool
    label_logits: bool  # the output head and loss at labelled tokens only (engine/train/label_logits.py)
    torch_compile: bool
    notes: list[Message] = field(default_factory=list)  # one sentence per choice, saying why


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def plan_speed(config: RunConfig, cuda: bool | None = None) -> SpeedPlan:
    """The speed choices for `config` on this machine (`cuda` overrides the detection, for tests)."""
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    packing, row_length, packing_note = _packing(config)
    attention, attention_note = _attention(config, cuda)
    liger, liger_note = _liger(config, cuda)
    label_logits, label_note = _label_logits(config, liger)
    notes = [packing_note, attention_note, liger_note, label_note,
             say("speed.compile_on" if config.speed.torch_compile else "speed.compile_off"),
             say("speed.checkpointing_on" if config.train.gradient_checkpointing else "speed.checkpointing_off")]
    return SpeedPlan(packing, row_length, attention, liger, label_logits, config.speed.torch_compile, notes)


def _packing(config: RunConfig) -> tuple[bool, int, Message]:
    row_length = config.speed.pack_length or config.data.cutoff_len
    if not stage_of(config).packing:
        return False, row_length, say("speed.packing_stage", stage=config.method.stage)
    if config.speed.packing == "off":
        return False, row_length, say("speed.packing_off")
    if reads_images(config.model.name_or_path):  # a row's vision tokens must stay with its own pixels
        return False, row_length, say("speed.packing_vision")
    if "num_virtual_tokens" in METHODS[config.method.finetuning_type].fields:  # prefix / prompt / P-tuning
        return False, row_length, say("speed.packing_virtual_tokens", method=config.method.finetuning_type)
    window = sliding_window(config.model.name_or_path)
    if window and window < row_length:  # a 4D mask replaces the window: a long example would see too far back
        return False, row_length, say("speed.packing_sliding_window", window=window, length=row_length)
    return True, row_length, say("speed.packing_on", length=row_length)


def _attention(config: RunConfig, cuda: bool) -> tuple[str, Message]:
    chosen = config.speed.attention
    if chosen == "flash_attention_2" and not (cuda and installed("flash_attn")):
        return _supported(config, "sdpa", say("speed.attention_fallback"))
    if chosen != "auto":
        return chosen, say("speed.attention_chosen", name=chosen)  # one the model refuses: preflight says so
    if not cuda:
        return _supported(config, "sdpa", say("speed.attention_no_gpu"))
    if not installed("flash_attn"):
        return _supported(config, "sdpa", say("speed.attention_no_flash"))
    if config.model.dtype == "float32":
        return _supported(config, "sdpa", say("speed.attention_float32"))  # FlashAttention computes in 16-bit only
    return _supported(config, "flash_attention_2", say("speed.attention_flash"))


def _supported(config: RunConfig, wanted: str, note: Message) -> tuple[str, Message]:
    """`wanted` when the model's class accepts it (or it cannot be asked here); else sdpa or eager, whichever it
    accepts first, and why: transformers refuses sdpa for Gemma 2 (soft-capping) and gpt-oss (attention sinks)."""
    support = attention_support(config.model)
    if support is None or wanted in support[1]:
        return wanted, note
    model_class, accepted = support
    fallback = "sdpa" if "sdpa" in accepted else "eager"
    return fallback, say("speed.attention_model", model=model_class, wanted=wanted, chosen=fallback)


def attention_problem(config: RunConfig) -> str | None:
    """An attention implementation asked for by name that the model's class refuses (transformers would raise
    a ValueError after the model had started loading)."""
    chosen, support = config.speed.attention, attention_support(config.model)
    if chosen == "auto" or support is None or chosen in support[1]:
        return None
    if chosen == "flash_attention_2" and not installed("flash_attn"):
        return None  # it falls back to sdpa or eager (plan_speed)
    return say("speed.problem_attention", model=support[0], name=chosen, accepted=", ".join(sorted(support[1])))


def _liger(config: RunConfig, cuda: bool) -> tuple[bool, Message]:
    if config.speed.liger == "off":
        return False, say("speed.liger_off")
    if not stage_of(config).liger:
        return False, say("speed.liger_stage", stage=config.method.stage)
    if config.speed.liger == "on" and not (cuda and installed("liger_kernel")):
        return False, say("speed.liger_unavailable")
    if not installed("liger_kernel"):
        return False, say("speed.liger_missing")
    if not cuda:
        return False, say("speed.liger_no_gpu")
    return True, say("speed.liger_on")


def _label_logits(config: RunConfig, liger: bool) -> tuple[bool, Message]:
    """Always on where it applies: it changes no result, only skips logits nobody reads."""
    if not stage_of(config).liger:  # the same condition as Liger's: a plain causal-LM loss
        return False, say("speed.label_logits_stage", stage=config.method.stage)
    if liger:
        return False, say("speed.label_logits_liger")
    return True, say("speed.label_logits_on")


def training_options(plan: SpeedPlan) -> dict:
    """TrainingArguments for the plan. With packing the Trainer's own token count would sum the 4D mask, so it
    is switched off; the packing collator counts real tokens instead."""
    options = {"use_liger_kernel": plan.liger, "torch_compile": plan.torch_compile}
    if plan.packing:
        options["include_num_input_tokens_seen"] = "no"
    return options


def speed_problems(config: RunConfig) -> list[str]:
    """Speed settings that can never work, whatever the machine (pure: rules.validate calls it)."""
    speed, problems = config.speed, []
    if speed.packing == "on" and not stage_of(config).packing:
        problems.append(say("speed.problem_packing_stage", stage=config.method.stage))
    if speed.pack_length and speed.pack_length < config.data.cutoff_len:
        problems.append(say("speed.problem_pack_length", length=speed.pack_length, cutoff=config.data.cutoff_len))
    return problems
