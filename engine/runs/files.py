"""The files of a run directory, named once for everything that reads or writes them.

A run lives in saves/<model>/<method>/<run-name>/:
  config.yaml    exactly what ran           events.jsonl   progress, metrics, status of every attempt
  train.log      the worker's stdout+stderr  worker.json    pid, process group and start time of the worker
  worker.lock    locked by the live worker   QUEUED         present while the run waits in the queue
  checkpoint-N/  Trainer checkpoints          final/         the trained adapter or model
  STOP           present once a stop was asked for (its mtime is when)
  tensorboard/   TensorBoard event files
  notes.json     the user's note, tags and archived mark (engine/runs/notes.py); never written by the worker
  llamafactory.json  the output_dir of the LLaMA-Factory YAML it was trained from, which its merge YAML names
"""
from __future__ import annotations

from engine.paths import CONFIG_FILE, FINAL_DIR, TENSORBOARD_DIR

EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"
WORKER_FILE = "worker.json"
LOCK_FILE = "worker.lock"
QUEUED_FILE = "QUEUED"
STOP_FILE = "STOP"
CHECKPOINT_PREFIX = "checkpoint-"
NOTES_FILE = "notes.json"
LLAMAFACTORY_FILE = "llamafactory.json"

__all__ = ["CHECKPOINT_PREFIX", "CONFIG_FILE", "EVENTS_FILE", "FINAL_DIR", "LLAMAFACTORY_FILE", "LOCK_FILE",
           "LOG_FILE", "NOTES_FILE", "QUEUED_FILE", "STOP_FILE", "TENSORBOARD_DIR", "WORKER_FILE"]
