"""The backends a target can be served by, as a table, and starting one.

  transformers  any device: the studio's own loading (a run's adapter on its base, nothing merged; several
                adapters on one base) and templates; requests that arrive together are generated as one batch
  llama.cpp     GGUF files: the llama-cpp-python server's own app, behind the studio's guard
  vllm          a GPU with vLLM installed: vLLM's own OpenAI server, LoRA adapters as its --lora-modules.
                Its limits are vLLM's (--max-num-seqs); the studio's key is handed to it through VLLM_API_KEY.
                Never run here (no GPU with vLLM on the machines the studio is tested on): unmeasured.
Chosen automatically (a GGUF file: llama.cpp; else vLLM when it and a GPU are there; else transformers) and
overridable with --backend.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.config.schema import ModelConfig, RunConfig
from engine.messages import say
from engine.paths import CONFIG_FILE, FINAL_DIR
from engine.serve.guard import Guard, Limits
from engine.serve.targets import Target, is_lora_run


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    key: str | None = None
    limits: Limits = Limits()


@dataclass(frozen=True)
class Backend:
    serves: Callable[[Target], bool]  # can it serve this kind of target at all
    available: Callable[[], bool]  # is it installed (and its device there)
    start: Callable[[Target, Settings], None]  # serve until stopped


# ----------------------------------------------------------------------------------------------- transformers

def load_chats(target: Target) -> dict:
    """{model id: ChatModel}: LoRA runs share one base (and offer it bare as "base"); a full fine-tune or a
    model is loaded on its own."""
    from engine.use.chat import load_adapters_for_chat, load_base_for_chat, load_run_for_chat

    if target.kind == "runs" and all(map(is_lora_run, target.names)):
        return load_adapters_for_chat([Path(name) for name in target.names])
    if target.kind == "runs":
        if len(target.names) > 1:
            raise ValueError(say("serve.adapters_only"))
        return {target.model_ids[0]: load_run_for_chat(Path(target.names[0]))}
    return {target.model_ids[0]: load_base_for_chat(ModelConfig(name_or_path=target.names[0]))}


def start_transformers(target: Target, settings: Settings) -> None:
    from engine.serve.protocol import build_app

    chats = load_chats(target)
    run_app(build_app(chats, settings.limits), settings, list(chats))


# ----------------------------------------------------------------------------------------------- llama.cpp

def start_llama_cpp(target: Target, settings: Settings) -> None:
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    model_id = target.model_ids[0]
    model = ModelSettings(model=target.names[0], model_alias=model_id, n_ctx=4096, verbose=False)
    app = create_app(server_settings=ServerSettings(host=settings.host, port=settings.port),
                     model_settings=[model])
    run_app(app, settings, [model_id])


# ----------------------------------------------------------------------------------------------- vLLM

def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def start_vllm(target: Target, settings: Settings) -> None:
    """Hand over to vLLM's OpenAI server (this process becomes it)."""
    from engine.models.loading import resolve_model

    if target.kind == "runs":
        configs = [RunConfig.load(Path(name) / CONFIG_FILE) for name in target.names]
        base = str(resolve_model(configs[0].model.name_or_path))
        adapters = [f"{Path(name).name}={Path(name) / FINAL_DIR}" for name in target.names]
        extra = ["--enable-lora", "--lora-modules", *adapters] if all(map(is_lora_run, target.names)) else []
        model = base if extra else str(Path(target.names[0]) / FINAL_DIR)
    else:
        model, extra = str(resolve_model(target.names[0])), ["--served-model-name", target.model_ids[0]]
    environment = dict(os.environ, **({"VLLM_API_KEY": settings.key} if settings.key else {}))
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, *extra,
               "--host", settings.host, "--port", str(settings.port),
               "--max-num-seqs", str(settings.limits.max_open_requests)]
    os.execve(sys.executable, command, environment)


# ----------------------------------------------------------------------------------------------- the table

BACKENDS = {
    "transformers": Backend(lambda target: target.kind != "gguf", lambda: True, start_transformers),
    "llama.cpp": Backend(lambda target: target.kind == "gguf",
                         lambda: importlib.util.find_spec("llama_cpp") is not None, start_llama_cpp),
    "vllm": Backend(lambda target: target.kind != "gguf", vllm_available, start_vllm),
}
AUTOMATIC_ORDER = ("llama.cpp", "vllm", "transformers")  # the first that serves the target and is available


def choose_backend(target: Target, requested: str = "auto") -> str:
    if requested == "auto":
        fitting = [name for name in AUTOMATIC_ORDER if BACKENDS[name].serves(target)]
        return next((name for name in fitting if BACKENDS[name].available()), None) or choose_backend(
            target, fitting[0])  # none installed: say which one to install
    backend = BACKENDS[requested]
    if not backend.serves(target):
        raise ValueError(say("serve.backend_cannot", backend=requested, kind=target.kind))
    if not backend.available():
        raise ValueError(say("serve.backend_missing", backend=requested))
    return requested


def run_app(app, settings: Settings, model_ids: list[str]) -> None:
    """Serve `app` behind the guard until stopped (Ctrl+C or SIGTERM)."""
    import uvicorn

    print(say("serve.ready", url=f"http://{settings.host}:{settings.port}/v1", models=", ".join(model_ids)),
          flush=True)
    uvicorn.run(Guard(app, settings.key, settings.limits), host=settings.host, port=settings.port,
                log_level="warning")
