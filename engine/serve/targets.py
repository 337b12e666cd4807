"""What `python -m engine serve TARGET...` names, and the models it serves under which ids.

TARGET is one of: run folders (a LoRA run's adapter on its base, nothing merged; several LoRA runs of one base
share it, each adapter its own model id), an export folder (a merged model), a GGUF file (llama.cpp serves it)
or a model name (builtin:tiny-demo, a Hub id, a folder of weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.messages import say
from engine.paths import CONFIG_FILE, FINAL_DIR


@dataclass(frozen=True)
class Target:
    kind: str  # "runs", "gguf" or "model" (a merged export folder counts as a model)
    names: tuple[str, ...]  # the run folders, the GGUF file or the model, as given

    @property
    def model_ids(self) -> list[str]:
        """The `model` ids a client sends: run folder names, the GGUF file's or export folder's name."""
        if self.kind == "runs":
            return [Path(name).name for name in self.names]
        return [Path(self.names[0]).name if self.kind == "gguf" or Path(self.names[0]).is_dir() else self.names[0]]


def resolve_target(names: list[str]) -> Target:
    """The Target `names` stand for; ValueError with what to do when they mix kinds or are not servable."""
    runs = [name for name in names if (Path(name) / CONFIG_FILE).is_file()]
    if runs and len(runs) < len(names):
        raise ValueError(say("serve.mixed_targets", names=", ".join(n for n in names if n not in runs)))
    if runs:
        for name in runs:
            if not (Path(name) / FINAL_DIR).is_dir():
                raise ValueError(say("serve.run_unfinished", run=Path(name).name))
        if len({Path(name).name for name in runs}) < len(runs):
            raise ValueError(say("serve.same_run_names"))
        return Target("runs", tuple(runs))
    if len(names) > 1:
        raise ValueError(say("serve.one_model"))
    name = names[0]
    if name.endswith(".gguf"):
        if not Path(name).is_file():
            raise ValueError(say("serve.no_such_file", path=name))
        return Target("gguf", (name,))
    return Target("model", (name,))


def is_lora_run(name: str) -> bool:
    return (Path(name) / FINAL_DIR / "adapter_config.json").is_file()
