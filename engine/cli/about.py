"""What `llamafactory-cli` has besides training, for a user who types its commands here: `env` and `version`
answer; `webui`, `webchat` and `api` name the studio's own way to do the same."""
from __future__ import annotations

import importlib.metadata
import platform

from engine.messages import say

# llamafactory-cli command -> the studio's way to do it
POINTERS = {
    "webui": "lf.pointer_webui",
    "webchat": "lf.pointer_webchat",
    "api": "lf.pointer_api",
}
# What `env` reports: the libraries a run's behaviour depends on.
LIBRARIES = ("finetune-studio", "torch", "transformers", "peft", "trl", "datasets", "accelerate", "gradio",
             "bitsandbytes", "llama-cpp-python", "deepspeed", "flash-attn", "liger-kernel")


def add_parsers(commands) -> None:
    commands.add_parser("env", help="versions of Python, the training libraries and the devices (for a bug report)")
    commands.add_parser("version", help="the studio's version")
    for name in POINTERS:
        commands.add_parser(name, help=f"llamafactory-cli {name}: says what to use here")


def command_env(args) -> int:
    print(f"- Python: {platform.python_version()} ({platform.platform()})")
    for name in LIBRARIES:
        print(f"- {name}: {_version(name)}")
    import torch

    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    print(f"- devices: {', '.join(devices) if devices else 'CPU only'}")
    return 0


def command_version(args) -> int:
    print(f"Finetune Studio {_version('finetune-studio')}")
    return 0


def command_pointer(args) -> int:
    print(say(POINTERS[args.command]))
    return 0


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
