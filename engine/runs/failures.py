"""Why a run failed, in plain words.

A stack trace tells an engineer what broke; a user who pressed Start needs the cause and what to change.
`classify_failure` turns the exception that ended a worker into a reason (the short word shown next to
"failed"), a message and advice. What can be known before a worker starts is engine/runs/preflight.py's.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from engine.messages import Message, message_of, say
from engine.data.registry import DataError
from engine.runs.status import Reason, disk_nearly_full
from engine.train.trainer import TrainingNotFinite

# Substrings of the errors PyTorch and the OS raise when an allocation fails; torch.OutOfMemoryError is a
# RuntimeError, and CPU allocations fail with a plain RuntimeError that only the text identifies.
OUT_OF_MEMORY_TEXT = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "failed to allocate",
)
# safetensors reports a full disk inside its own error type; torch.save as a stream-writer failure.
DISK_FULL_TEXT = ("no space left on device", "storagefull", "disk quota exceeded", "file write failed")

# What to do about each recognised cause; the English is in engine/messages/english.py, the UI shows it localized.
ADVICE = {reason: say(f"failure.advice.{code}") for reason, code in (
    (Reason.OUT_OF_MEMORY, "out_of_memory"),
    (Reason.DISK_FULL, "disk_full"),
    (Reason.NOT_WRITABLE, "not_writable"),
    (Reason.DATA, "data"),
    (Reason.KILLED, "killed"),
    (Reason.NOT_SUPPORTED, "not_supported"),
)}
# transformers' words when a model class refuses an attn_implementation, and the name the config gives it.
ATTENTION_REFUSALS = {
    "scaled_dot_product_attention": "sdpa",
    "flex_attention": "flex_attention",
    "does not support flash attention": "flash_attention_2",
}


@dataclass
class Failure:
    reason: Reason | None  # None when the cause is not one we recognise
    message: str
    advice: str = ""


# ---------------------------------------------------------------------------------------------------------
# After a failure


def classify_failure(err: BaseException, run_dir: Path | None = None) -> Failure:
    """The reason, a one-line message and advice for the exception that ended a run. With `run_dir`, an
    error that names no cause while the run's disk is full counts as disk full: torch.save reports ENOSPC
    as "basic_ios::clear: iostream error" or "unexpected pos", which say nothing."""
    for cause in _chain(err):
        if isinstance(cause, TrainingNotFinite):
            return Failure(Reason.NOT_FINITE, cause.message)
        text = str(cause).lower()
        if isinstance(cause, DataError):
            return _known(Reason.DATA, message_of(cause))
        if isinstance(cause, ValueError) and (refused := _refused_attention(str(cause))):
            return _known(Reason.NOT_SUPPORTED, say("failure.attention", model=refused[0], name=refused[1]))
        if isinstance(cause, MemoryError) or _is_torch_oom(cause) or any(t in text for t in OUT_OF_MEMORY_TEXT):
            return _known(Reason.OUT_OF_MEMORY, say("failure.out_of_memory", error=_first_line(cause)))
        if _errno(cause) in (errno.ENOSPC, errno.EDQUOT) or any(t in text for t in DISK_FULL_TEXT):
            return _known(Reason.DISK_FULL, say("failure.disk_full", error=_first_line(cause)))
        if _errno(cause) in (errno.EACCES, errno.EPERM, errno.EROFS):
            filename = getattr(cause, "filename", None) or say("failure.its_folder")
            return _known(Reason.NOT_WRITABLE, say("failure.not_writable", file=filename, error=cause.strerror))
    if run_dir is not None and disk_nearly_full(run_dir):
        return _known(Reason.DISK_FULL, say("failure.disk_full_unnamed", error=_first_line(err)))
    if isinstance(getattr(err, "message", None), Message):  # the engine's own words already (NothingToTrain)
        return Failure(None, err.message)
    return Failure(None, f"{type(err).__name__}: {err}".strip())


def _refused_attention(text: str) -> tuple[str, str] | None:
    """(model class, attention name) when `text` is transformers refusing an attention implementation."""
    lowered = text.lower()
    if " does not support " not in lowered:
        return None
    for words, name in ATTENTION_REFUSALS.items():
        if words in lowered:
            return text.split(" ", 1)[0], name
    return None


def _known(reason: Reason, message: str) -> Failure:
    return Failure(reason, message, ADVICE[reason])


def _chain(err: BaseException):
    """The exception and what it was raised from: libraries often wrap the real cause."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _is_torch_oom(err: BaseException) -> bool:
    import sys

    torch = sys.modules.get("torch")  # never import torch just to ask: the worker has it loaded already
    return torch is not None and isinstance(err, getattr(torch, "OutOfMemoryError", ()))


def _errno(err: BaseException) -> int | None:
    return err.errno if isinstance(err, OSError) else None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:300]
