"""Does the vision demo learn to read pictures? Loss and held-out answer accuracy before and after training.

Trains examples/sft_vlm_demo.yaml (builtin:tiny-vlm, LoRA on demo_vision) in-process, as the CLI's worker
does, with its saves in a temporary folder; then asks the base model and the trained run the first question
of every row of demo_vision_heldout (pictures never trained on), greedy, and counts a reply right when it
contains the reference answer (e.g. "The shape is red."). Prints one JSON object.

    python bench/vlm_demo_accuracy.py                       # the preset as it ships
    python bench/vlm_demo_accuracy.py --set method.freeze_projector=false --set train.num_train_epochs=10
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")

HELD_OUT = "demo_vision_heldout"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", default=[], help="section.field=value, e.g. train.max_steps=50")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy small CPU)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    config = _config(options.set)
    os.environ.setdefault("STUDIO_SAVES_DIR", tempfile.mkdtemp(prefix="vlm-bench-"))
    run_dir, losses = _train(config)
    from engine.use.chat import load_base_for_chat, load_run_for_chat

    result = {
        "model": config.model.name_or_path, "datasets": config.data.datasets, "steps": losses[-1][0],
        "loss_first": losses[0][1], "loss_last": losses[-1][1],
        "base": _accuracy(load_base_for_chat(config.model)),
        "trained": _accuracy(load_run_for_chat(run_dir)),
    }
    print(json.dumps(result, indent=2))


def _config(settings: list[str]):
    from engine.config.parsing import load_yaml
    from engine.config.schema import RunConfig

    config = RunConfig.load(PROJECT / "examples" / "sft_vlm_demo.yaml")
    for setting in settings:
        dotted, value = setting.split("=", 1)
        section, name = dotted.split(".")
        setattr(getattr(config, section), name, load_yaml(value))
    return config


def _train(config):
    from engine.runs.events import EventLog, read_events
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training

    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    return run_dir, [(event["step"], event["loss"]) for event in read_events(run_dir) if event["event"] == "log"]


def _accuracy(chat) -> dict:
    """Share of held-out questions answered with the reference answer, overall and per question."""
    import torch

    from engine.data.conversion import load_vision_samples
    from engine.use.chat import prompt_inputs

    right = defaultdict(list)
    for sample in load_vision_samples(HELD_OUT):
        question, answer = sample.messages[0], sample.messages[1]["content"]
        inputs = prompt_inputs(chat, [question], sample.images)
        with torch.no_grad():
            output = chat.model.generate(**inputs, max_new_tokens=12, do_sample=False)
        reply = chat.tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        right[question["content"].removeprefix("<image>")].append(answer.lower() in reply.lower())
    every = [ok for answers in right.values() for ok in answers]
    return {"accuracy": round(sum(every) / len(every), 3), "questions": len(every),
            **{question: round(sum(answers) / len(answers), 3) for question, answers in right.items()}}


if __name__ == "__main__":
    main()
