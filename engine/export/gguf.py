"""GGUF: a merged model folder → .gguf files that llama.cpp (and Ollama) run, made by llama.cpp's own tools.

llama.cpp's converter (convert_hf_to_gguf.py with its conversion/ and gguf-py/ packages) writes the 16-bit file;
llama.cpp's quantizer (llama_model_quantize, through llama-cpp-python) makes the smaller types from it. Both come
from the llama.cpp source tree that llama-cpp-python 0.3.36 vendors, so the runtime that checks a file is the
one it was written for, and every architecture that converter knows is exported. The converter runs in its own
process: it imports torch and ~100 model modules, and a failure in it must not take the studio down.
Where it lives: engine.paths.llama_cpp_dir() (STUDIO_LLAMA_CPP; .ci/run extracts it from the sdist).
"""
from __future__ import annotations

import ast
import ctypes
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.messages import Message, say
from engine.paths import llama_cpp_dir

CONVERTER = "convert_hf_to_gguf.py"
REGISTRY = Path("conversion") / "__init__.py"  # TEXT_MODEL_MAP: architecture name → converter module
ERROR_LINES = 12  # how much of a failed converter's output an error message quotes
WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".gguf"}


class GGUFError(ValueError):
    """A GGUF file llama.cpp's tools could not write; the message says why and what to do."""


@dataclass(frozen=True)
class GGUFType:
    outtype: str = ""  # what the converter writes directly (--outtype)
    ftype: str = ""  # else the llama_cpp constant the quantizer makes it with, from the f16 file


GGUF_TYPES: dict[str, GGUFType] = {
    "f16": GGUFType(outtype="f16"),
    "bf16": GGUFType(outtype="bf16"),
    "q8_0": GGUFType(ftype="LLAMA_FTYPE_MOSTLY_Q8_0"),
    "q4_k_m": GGUFType(ftype="LLAMA_FTYPE_MOSTLY_Q4_K_M"),
}


# ---------------------------------------------------------------------------------------------------------
# What can be converted: asked before the merge, so a refusal costs nothing


@functools.lru_cache(maxsize=4)
def _registry(path: Path, modified: float) -> frozenset[str]:
    # The converter's own table, read as data: importing it would cost seconds of torch in the web process.
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(target, ast.Name) and target.id == "TEXT_MODEL_MAP" for target in targets):
            return frozenset(ast.literal_eval(node.value))
    raise GGUFError(say("export.gguf_no_converter", folder=str(path.parent.parent)))


def supported_architectures() -> frozenset[str]:
    """The model classes (config.json `architectures`) llama.cpp's converter writes as text models."""
    path = llama_cpp_dir() / REGISTRY
    if not (llama_cpp_dir() / CONVERTER).exists() or not path.exists():
        raise GGUFError(say("export.gguf_no_converter", folder=str(llama_cpp_dir())))
    return _registry(path, path.stat().st_mtime)


def model_architecture(location: str) -> str:
    """The model class a folder (or cached Hub id) saves as: what config.json's `architectures` names, or for
    a config without it, the causal-LM class transformers loads it with."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(location)
    return (config.architectures or [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.model_type, "")])[0]


def gguf_refusal(architecture: str, kinds: list[str]) -> Message | None:
    """Why `kinds` cannot be written for a model of `architecture`; None when they can."""
    try:
        supported = supported_architectures()
    except GGUFError as err:
        return err.args[0]
    if architecture not in supported:
        return say("export.gguf_unsupported", architecture=architecture or "?")
    quantized = [kind for kind in kinds if GGUF_TYPES[kind].ftype]
    if quantized and importlib.util.find_spec("llama_cpp") is None:
        return say("export.gguf_no_quantizer", kinds=quantized)
    return None


def vocabulary_refusal(config_location: str, tokenizer_folder: Path) -> Message | None:
    """Why llama.cpp's converter cannot write the vocabulary of a model with this config and tokenizer; None
    when it can. It must know the tokenizer's pre-tokenizer (it recognises one by hashing its output), which
    only its own code can tell: its --vocab-only run on the two, without weights, before anything is merged."""
    from transformers import AutoConfig

    with tempfile.TemporaryDirectory(prefix="studio-gguf-vocab-") as scratch:
        AutoConfig.from_pretrained(config_location).save_pretrained(scratch)  # as the merged model will have it
        for item in Path(tokenizer_folder).iterdir():
            if item.is_file() and item.suffix not in WEIGHT_SUFFIXES and item.name != "config.json":
                shutil.copy(item, Path(scratch) / item.name)
        failure = _run_converter(Path(scratch), Path(scratch) / "vocabulary.gguf", "--vocab-only")
    return say("export.gguf_vocabulary", tail=failure) if failure else None


# ---------------------------------------------------------------------------------------------------------
# Writing the files


def write_gguf_files(model_folder: Path, folder: Path, name: str, kinds: list[str]) -> list[Path]:
    """<name>-<kind>.gguf in `folder` for each kind, from the Hugging Face model in `model_folder`.

    Quantised types are made from an f16 file (the one asked for, or a temporary one). A file appears under
    its name only once complete; a failure raises GGUFError and leaves the files finished before it.
    """
    model_folder, folder = Path(model_folder), Path(folder)
    paths = {kind: folder / f"{name}-{kind}.gguf" for kind in kinds}
    source = paths.get("f16") or folder / f".{name}-f16.source.gguf"
    try:
        for kind in sorted(kinds, key=lambda kind: not GGUF_TYPES[kind].outtype):  # the f16 file first
            spec = GGUF_TYPES[kind]
            if spec.outtype:
                _complete(paths[kind], lambda part, t=spec.outtype: _convert(model_folder, part, t, name))
            else:
                if not source.exists():
                    _complete(source, lambda part: _convert(model_folder, part, "f16", name))
                _complete(paths[kind], lambda part, s=spec: _quantize(source, part, s, kind))
    finally:
        if source not in paths.values():
            source.unlink(missing_ok=True)
    return list(paths.values())


def _complete(path: Path, write) -> None:
    part = path.with_name(f".{path.name}.part")
    try:
        write(part)
        part.rename(path)
    finally:
        part.unlink(missing_ok=True)


def _convert(model_folder: Path, target: Path, outtype: str, name: str) -> None:
    failure = _run_converter(model_folder, target, "--outtype", outtype, "--model-name", name)
    if failure:
        raise GGUFError(say("export.gguf_convert_failed", outtype=outtype, tail=failure))


def _run_converter(model_folder: Path, target: Path, *options: str) -> str:
    """Run llama.cpp's converter; the end of its output when it fails, else ""."""
    command = [sys.executable, str(llama_cpp_dir() / CONVERTER), str(model_folder), "--outfile", str(target), *options]
    # The converter puts its own gguf-py first on the path, unless told not to: it must use its own.
    env = {key: value for key, value in os.environ.items() if key != "NO_LOCAL_GGUF"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        return ""
    return "\n".join((done.stderr or done.stdout).strip().splitlines()[-ERROR_LINES:])


def _quantize(source: Path, target: Path, spec: GGUFType, kind: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, spec.ftype)
    params.nthread = os.cpu_count() or 1
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise GGUFError(say("export.gguf_quantize_failed", kind=kind))


# ---------------------------------------------------------------------------------------------------------
# Ollama


# Ollama's Go-template form of the studio's chat formats, keyed by a marker that identifies each format in
# the Jinja source (so an `auto` template is recognised too). {{ .Messages }} carries the system prompt.
OLLAMA_TEMPLATES = {
    "<|im_start|>": (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
        ["<|im_end|>", "<|im_start|>"],
    ),
    "<|start_header_id|>": (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
        "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
        ["<|eot_id|>", "<|start_header_id|>"],
    ),
    "<|end|>": (
        "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
        ["<|end|>", "<|user|>"],
    ),
}


def ollama_modelfile(gguf_name: str, chat_template: str, stop_words: list[str], system: str = "") -> str:
    """An Ollama Modelfile for `gguf_name` (a file next to it) speaking the format of `chat_template`.

    For a format without a Go translation here, TEMPLATE is left out: Ollama then falls back to the chat
    template stored in the GGUF (which it recognises for common families).
    """
    lines = ["# Ollama: ollama create <name> -f Modelfile && ollama run <name>", f"FROM ./{gguf_name}", ""]
    found = next(((go, stops) for marker, (go, stops) in OLLAMA_TEMPLATES.items() if marker in chat_template), None)
    if found:
        go, stops = found
        lines.append(f'TEMPLATE """{go}"""')
        stop_words = list(dict.fromkeys([*stops, *stop_words]))
    else:
        lines.append("# This chat format has no Ollama template here; Ollama reads the GGUF's own chat template.")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    lines.extend(f'PARAMETER stop "{word}"' for word in stop_words)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Verifying a file in a real runtime


FIRST_TOKENS = 8  # how many greedy tokens the two runtimes must agree on


def verify_gguf(path: Path, prompts: list, reference_model_folder: Path, first_tokens: int = FIRST_TOKENS) -> dict:
    """Load `path` in llama.cpp (llama-cpp-python) and greedy-decode each prompt, next to transformers on the
    Hugging Face model in `reference_model_folder` (the merged model the file was made from).

    A prompt is a text, or a message list rendered with the reference tokenizer's chat template.
    Returns {"file", "runtime", "tokens", "same_tokens": [bool], "llama": [[ids]], "transformers": [[ids]],
    "agreed": [int], "matching": int, "prompts": int}: `same_tokens` says whether llama.cpp tokenised each
    prompt exactly like transformers; `agreed` is the length of the common start of both greedy outputs up
    to the end-of-sequence token, and `matching` how many prompts agree on all of it.
    Raises ImportError when llama-cpp-python is not installed.
    """
    import llama_cpp
    from transformers import AutoTokenizer

    path, reference_model_folder = Path(path), Path(reference_model_folder)
    tokenizer = AutoTokenizer.from_pretrained(reference_model_folder)
    texts = [
        p if isinstance(p, str) else tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    prompt_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    expected = _transformers_first_tokens(reference_model_folder, tokenizer, prompt_ids, first_tokens)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False, seed=0)
    try:
        same_tokens = [
            llm.tokenize(text.encode(), add_bos=False, special=True) == ids for text, ids in zip(texts, prompt_ids)
        ]
        got = [_llama_first_tokens(llm, ids, first_tokens) for ids in prompt_ids]
    finally:
        llm.close()
    eos = tokenizer.eos_token_id
    agreed = [_common_start(until_eos(a, eos), until_eos(b, eos)) for a, b in zip(got, expected)]
    matching = sum(until_eos(a, eos) == until_eos(b, eos) for a, b in zip(got, expected))
    return {
        "file": path.name,
        "runtime": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "tokens": first_tokens,
        "same_tokens": same_tokens,
        "llama": got,
        "transformers": expected,
        "agreed": agreed,
        "matching": matching,
        "prompts": len(texts),
    }


def until_eos(tokens: list[int], eos: int | None) -> list[int]:
    # After the end of the reply the two runtimes need not agree (one stops, one goes on): compare up to it.
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


def _common_start(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _transformers_first_tokens(folder: Path, tokenizer, prompt_ids: list[list[int]], count: int) -> list[list[int]]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    outputs = []
    with torch.inference_mode():
        for ids in prompt_ids:  # one at a time: no padding, so nothing differs from llama.cpp's single sequence
            output = model.generate(
                torch.tensor([ids]),
                max_new_tokens=count,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=tokenizer.pad_token_id,
            )
            outputs.append(output[0, len(ids) :].tolist())
    return outputs


def _llama_first_tokens(llm, ids: list[int], count: int) -> list[int]:
    llm.reset()
    tokens = []
    for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        tokens.append(token)
        if len(tokens) == count:
            break
    return tokens
