"""What the studio says to a person, as a stable code with parameters.

The engine speaks English (the CLI prints it); the web UI shows the same message in the page's language. So a
sentence a user can read is never built in place as an f-string: it is `say("code", name=value, ...)`, which
looks up the English template here. The result is a `Message`: a `str` holding the English text, so code that
prints, joins or searches messages keeps working, plus `.code` and `.params` so that the UI can render it in
another language (webui/i18n.py holds the Chinese of every code; a test fails when one is missing).

Parameters are plain values or other Messages (rendered in the same language).
"""
from __future__ import annotations

import string


class Message(str):
    """English text of `code` with `params` filled in; `.code` and `.params` travel with it."""

    code: str
    params: dict

    def __new__(cls, code: str, **params):
        if code not in ENGLISH:
            raise KeyError(f"no English text for message code {code!r}; add it to engine/messages.py")
        message = super().__new__(cls, render(ENGLISH[code], params, ENGLISH))
        message.code, message.params = code, params
        return message

    def __reduce__(self):  # pickled by code and parameters, like it is built (multiprocessing, gr.State)
        return _rebuild, (self.code, self.params)

    def as_dict(self) -> dict:
        """{"code", "params"} for JSON files (events.jsonl): a reader re-renders it in its own language."""
        return {"code": self.code, "params": {k: v.as_dict() if isinstance(v, Message) else v
                                               for k, v in self.params.items()}}


def _rebuild(code: str, params: dict) -> Message:
    return Message(code, **params)


def say(code: str, **params) -> Message:
    return Message(code, **params)


def from_dict(record: dict) -> Message:
    """The Message that `Message.as_dict()` wrote."""
    params = {k: from_dict(v) if isinstance(v, dict) and "code" in v else v for k, v in record["params"].items()}
    return Message(record["code"], **params)


def render(template: str, params: dict, catalog: dict[str, str]) -> str:
    """`template` with `params` filled in; parameters that are Messages are rendered from `catalog` too."""
    values = {name: render(catalog[v.code], v.params, catalog) if isinstance(v, Message) else v
              for name, v in params.items()}
    return template.format(**values) if values else template


def placeholders(template: str) -> set[str]:
    """The parameter names a template uses (translations must use the same ones)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# ---------------------------------------------------------------------------------------------------------
# The English catalog, grouped by the part of the engine that speaks. Codes are stable: the UI's
# translations are keyed by them.

ENGLISH: dict[str, str] = {
    # engine/data: what a dataset holds (engine/data/formats.py FormatSpec.holds, describe_kind)
    "data.holds.alpaca": "alpaca instructions",
    "data.holds.sharegpt": "sharegpt conversations",
    "data.holds.openai": "OpenAI-style messages",
    "data.holds.preference": "preference pairs (chosen/rejected)",
    "data.holds.kto": "answers marked good or bad (KTO)",
    "data.holds.text": "plain text",
    "data.kind.conversation": "conversations",
    "data.kind.preference": "preference pairs (chosen/rejected)",
    "data.kind.kto": "unpaired answers marked good or bad (KTO)",
    "data.kind.text": "plain text",
    "data.kinds_either": "{first} or {rest}",
    "data.stage_needs": "stage {stage} needs {needs}; {dataset} is {holds}",
    # -- distributed: several processes and machines (engine/config/schema.py, engine/runs/launch.py) --
    "distributed.node_rank_out_of_range":
        "distributed.node_rank ({node_rank}) must be below distributed.nodes ({nodes}): nodes count from 0",
    "distributed.no_master_address":
        "distributed.master_address is empty; training on several machines needs the address of node 0",
    "distributed.offload_parameters_needs_sharding":
        "distributed.offload_parameters needs weights that are sharded: pick strategy zero3 or fsdp "
        "(got {strategy})",
    "distributed.offload_optimizer_needs_zero":
        "distributed.offload_optimizer is DeepSpeed's: pick strategy zero2 or zero3 (got {strategy}); FSDP "
        "offloads the optimizer together with the parameters (offload_parameters)",
    "distributed.quantized_sharding":
        "model.quantization {quantization} cannot be combined with distributed.strategy {strategy} here: the "
        "quantised weights cannot be sharded. Use ddp or zero2 with QLoRA, or set quantization to none",
    "distributed.too_many_for_gpus":
        "{processes} processes per node asked, {gpus} GPUs visible: set distributed.processes_per_node to "
        "{gpus} or fewer (0 = one per GPU)",
    "distributed.too_many_for_cpus":
        "{processes} processes asked on a machine without a GPU and with {cores} CPU cores: with gloo each "
        "process needs a core of its own; set distributed.processes_per_node to {cores} or fewer",
    "distributed.deepspeed_missing":
        "distributed.strategy {strategy} uses DeepSpeed, which is not installed: pip install deepspeed "
        "(on a machine with CUDA), or pick ddp or fsdp",
    "distributed.deepspeed_needs_gpu":
        "distributed.strategy {strategy} uses DeepSpeed, which trains on GPUs only and this machine has none: "
        "pick ddp to train in several processes on the CPU",
    "distributed.fsdp_needs_gpu":
        "distributed.strategy fsdp needs a GPU: the Trainer's accelerate turns FSDP on only for GPUs and other "
        "accelerators, so on this machine without one the run would quietly be plain DDP; pick ddp",
    "distributed.rank_failed":
        "rank {rank} of {world_size} failed, so the run was stopped on every rank: {error}",
    "distributed.rank_failed_advice":
        "One training process failed and the others were ended with it. Its error is above and its output in "
        "train.log (lines from that rank). Fix the cause, then Resume continues from the last checkpoint.",
    "distributed.rank_killed":
        "it was killed by {signal} (by a person, a crash, or the system when memory ran out)",
    "distributed.rank_killed_advice":
        "One training process was killed and the others were ended with it. If memory ran out, lower the batch "
        "size or cutoff, or shard the model (zero3 or fsdp). Resume continues from the last checkpoint.",
    "data.holds.mllm": "conversations with images",
    "data.kind.vision": "conversations with images",
    "data.vision_needs_vision_model": "{dataset} holds images, which {model} cannot read; pick a vision model "
                                      "such as builtin:tiny-vlm",
    # images in datasets (engine/data/images.py)
    "images.not_a_path": "an image entry must be a file path relative to the data folder; got {value}",
    "images.outside": "image {name!r} points outside the data folder; keep images inside it",
    "images.not_a_list": "field {column!r} must be a list of image paths",
    "images.count_mismatch": "{placeholders} <image> placeholder(s) in the text but {images} image(s) listed; "
                             "there must be one image per placeholder, in order",
    "images.missing": "image {name} was not found in the data folder; upload it with the dataset",
    "images.not_an_image": "{name} is not an image file (PNG, JPEG, WebP, BMP or GIF)",
    "images.unreadable": "image {name} could not be read ({error}); it may be truncated or damaged",
    "images.too_large": "image {name} is {width}×{height} pixels; the largest side may be at most {limit} pixels, "
                        "so shrink it first",
    # chat with images (engine/use/chat.py)
    "chat.images_need_vision_model": "{model} reads text only; pick a vision model (e.g. builtin:tiny-vlm) or a "
                                     "run trained on one to chat about images",
    "export.gguf_vision": "GGUF export writes the language model only; a vision model's image encoder would be "
                          "lost, so export it without GGUF",

    # engine/config, engine/train: experiments (early stopping, trackers)
    "config.best_needs_validation": (
        "eval.early_stopping_patience and eval.load_best_model_at_end judge checkpoints by the validation loss; "
        "set data.val_size above 0 to hold out examples for it"
    ),
    "train.early_stop": "early stop at step {step}, best step {best}",
    "train.tracker_missing": (
        "train.report_to names {tracker}, which is not installed: pip install {tracker}, or take it off the list"
    ),
    # names a user gives (engine/paths.py is_plain_name)
    "names.run_name_unusable": "train.run_name {name!r} is not usable as a run name: use letters (any language), "
                               "digits, '-', '_' and '.', starting with a letter or digit, at most 100 characters",
    "names.dataset_name_unusable": "the dataset name {name!r} is not usable (the file is fine): use letters (any "
                                   "language), digits, '_', '-' or '.', starting with a letter or digit, at most "
                                   "100 characters",
    # JSON that does not parse (engine/data/json_problems.py): the likely mistake and where the fix goes
    "json.invalid_file": "invalid JSON: {problem}",
    "json.invalid_line": "line {line} is not valid JSON: {problem}",
    "json.array_in_jsonl": "line 1 is not valid JSON: the file looks like a JSON array; name it .json",
    "json.trailing_comma": "a comma before `{closer}` on line {line} (JSON allows no comma after the last item): "
                           "remove the comma at line {line}, column {column}",
    "json.missing_comma": "a comma `,` is probably missing after the value that ends on line {line} (the next one "
                          "starts on line {next_line})",
    "json.single_quotes": "line {line} uses single quotes ('); JSON needs double quotes (\") around names and text",
    "json.unclosed_text": "the text that starts at line {line}, column {column} has no closing double quote (\")",
    "json.control_character": "line {line} has a line break or tab inside quoted text; write it as \\n or \\t",
    "json.unexpected_end": "the file ends too early: a closing bracket `]` or brace is probably missing at the end",
    "json.several_values": "a second value starts on line {line}; the file looks like JSON Lines (one object per "
                           "line): name it .jsonl",
    "json.error_at": "{detail} at line {line}, column {column}",
    "names.dataset_name_taken": "the dataset name {name!r} is already registered (the file is fine); pick another "
                                "name",
    "data.media_unsupported": (
        "dataset {dataset} declares {columns} columns; the studio cannot train on video or audio yet, and would "
        "silently drop them, so this dataset is refused (images: use a vision model with the mllm format)"
    ),
    # engine/config/llamafactory.py: reading a LLaMA-Factory YAML
    "lf.mapped": "{key} → {field} = {value}",
    "lf.defaults": "left out, so LLaMA-Factory's defaults apply: {keys}",
    "lf.automatic": "handled by the studio itself (nothing to set): {keys}",
    "lf.ignored": "{key}: no equivalent in the studio yet; ignored",
    "lf.stage_unknown": "stage {stage} has no equivalent in the studio; pick one of {stages} (GRPO replaces PPO)",
    "lf.pref_loss_unknown": "pref_loss {loss} has no equivalent in the studio; pick one of {losses}",
    "lf.template_auto": "template {name} → model.template = auto (the model's own chat template)",
    "lf.template_unknown": (
        "template {name} is not a studio template and the model ships no chat template of its own; "
        "close names: {close} (all: {all})"
    ),
    "lf.merge_without_adapter": (
        "this merge YAML names no adapter_name_or_path; set it to the output_dir of the training run to merge"
    ),
    "lf.merge_mapped": "{key}: {value}",
    "lf.merge_run_missing": (
        "adapter_name_or_path {adapter} is not a studio run: train the LLaMA-Factory YAML here first (its "
        "output_dir names the run), or give the run folder under {saves}"
    ),
    "lf.converted": "LLaMA-Factory YAML {source} converted; the studio config is saved as {target}",
    "lf.merge_converted": "LLaMA-Factory merge YAML {source}: the same as  {command}",
    # engine/runs/preflight.py: what a config names, checked at Start
    "preflight.no_own_template": (
        "model.template is auto, but {model} ships no chat template of its own; pick one of: {names}"
    ),
    "preflight.lora_target": (
        "method.lora_target names modules this model does not have: {missing}; its linear modules are {names} "
        "(or use all-linear)"
    ),
    "preflight.template_unknown": "model.template {name} is not a studio template; close names: {close} (all: {all})",
    "preflight.data_rows": "dataset {dataset} has {count} problem rows, e.g. {first}",
}
