"""Models loaded for chatting and comparing: a real process resource (slow to load, large), so one cache is
shared by every session of the process.

A source is what a picker chose, as a string: a run directory, or "base:<model section as YAML>" for the
base model of the Model tab. LoRA runs of one base share a single copy of it (engine.use.chat's adapter sets):
switching between them, or to the bare base, reloads nothing.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from engine.config.schema import RunConfig
from engine.paths import CONFIG_FILE, FINAL_DIR
from engine.use.chat import ChatModel, add_adapter, load_adapters_for_chat, load_base_for_chat, load_run_for_chat
from webui import run_view
from webui.form import config_from_values

BASE_PREFIX = "base:"


def source_of(picked: str, model_values: dict) -> str:
    """The cache key for a picker's value; the base model is described by the Model tab's whole model section."""
    if picked == run_view.BASE or not picked:
        return BASE_PREFIX + config_from_values(model_values).to_yaml()
    return picked


def is_lora_run(source: str) -> bool:
    return not source.startswith(BASE_PREFIX) and (Path(source) / FINAL_DIR / "adapter_config.json").exists()


def base_name(source: str) -> str:
    """The base model a source stands on (its name_or_path)."""
    if source.startswith(BASE_PREFIX):
        return RunConfig.from_yaml(source.removeprefix(BASE_PREFIX)).model.name_or_path
    return RunConfig.load(Path(source) / CONFIG_FILE).model.name_or_path


class LoadedModels:
    """At most `capacity` base models in memory, least recently used freed first. Each entry is either an
    adapter set {"base": ..., <run name>: ...} on one shared base, or one plain ChatModel."""

    def __init__(self, capacity: int = 2):
        self.capacity = capacity
        self.entries: OrderedDict[str, dict[str, ChatModel] | ChatModel] = OrderedDict()
        self.lock = threading.Lock()  # loading takes seconds; two sessions must not load the same base twice

    def get(self, source: str) -> ChatModel:
        with self.lock:
            key, chat = self._find_or_load(source)
            self.entries.move_to_end(key)
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)
            return chat

    def _find_or_load(self, source: str) -> tuple[str, ChatModel]:
        if is_lora_run(source):
            key = "adapters:" + base_name(source)
            if key in self.entries:
                return key, add_adapter(self.entries[key], Path(source))  # instant when already there
            self.entries[key] = load_adapters_for_chat([Path(source)])
            return key, self.entries[key][Path(source).name]
        if source.startswith(BASE_PREFIX):
            shared = self.entries.get("adapters:" + base_name(source))
            if shared is not None:  # the base is already in memory under some adapters: use it bare
                return "adapters:" + base_name(source), shared["base"]
        if source not in self.entries:
            self.entries[source] = load_source(source)
        return source, self.entries[source]


def load_source(source: str) -> ChatModel:
    if source.startswith(BASE_PREFIX):
        return load_base_for_chat(RunConfig.from_yaml(source.removeprefix(BASE_PREFIX)).model)
    return load_run_for_chat(Path(source))


def load_pair(source_a: str, source_b: str) -> tuple[ChatModel, ChatModel]:
    """Two models to compare. The second is loaded first, so that when it is a LoRA run and the first is
    the base, the base comes from the run's shared copy (adapter switched off) instead of a second load."""
    chat_b = LOADED.get(source_b)
    return LOADED.get(source_a), chat_b


LOADED = LoadedModels()
