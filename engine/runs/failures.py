"""Why a run failed, in plain words.

A stack trace tells an engineer what broke; a user who pressed Start needs the cause and what to change.
`classify_failure` turns the exception that ended a worker into a reason (the short word shown next to
"failed"), a message and advice. What can be known before a worker starts is engine/runs/preflight.py's.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from engine.messages import Message
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

ADVICE = {
    Reason.OUT_OF_MEMORY: (
        "The model and one training batch did not fit in memory. Try these, one at a time: lower the batch size "
        "(train.per_device_train_batch_size) and raise gradient accumulation to keep the same effective batch; "
        "lower the cutoff length (data.cutoff_len); turn on gradient checkpointing "
        "(train.gradient_checkpointing); train LoRA instead of the full model; load the model in 4-bit (QLoRA) "
        "if your GPU supports it; or pick a smaller model. Resume continues from the last checkpoint."
    ),
    Reason.DISK_FULL: (
        "The disk holding the saves folder is full, so a checkpoint or log could not be written. Free some "
        "space (delete old runs or exports), keep fewer checkpoints (train.save_total_limit), or move the saves "
        "folder to a bigger disk; then Resume continues from the last complete checkpoint."
    ),
    Reason.NOT_WRITABLE: (
        "The run could not write into its folder. Check that the saves folder exists, is a folder, and that "
        "the user running the studio may write there (or point STUDIO_SAVES_DIR elsewhere)."
    ),
    Reason.DATA: (
        "The training data cannot be used as it is. Open the Data tab (or run python -m engine data check NAME) "
        "to see every problem row; fix the file, pick a dataset of the kind the stage needs, or change the stage. "
        "Nothing was trained, so Start again once the data is fixed."
    ),
    Reason.KILLED: (
        "The training process ended without a word: something killed it (a person, a crash, or the system "
        "when it ran out of memory). Resume continues from the last checkpoint."
    ),
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
            return _known(Reason.DATA, str(cause))
        if isinstance(cause, MemoryError) or _is_torch_oom(cause) or any(t in text for t in OUT_OF_MEMORY_TEXT):
            return _known(Reason.OUT_OF_MEMORY, f"ran out of memory: {_first_line(cause)}")
        if _errno(cause) in (errno.ENOSPC, errno.EDQUOT) or any(t in text for t in DISK_FULL_TEXT):
            return _known(Reason.DISK_FULL, f"the disk is full: {_first_line(cause)}")
        if _errno(cause) in (errno.EACCES, errno.EPERM, errno.EROFS):
            filename = getattr(cause, "filename", None) or "its folder"
            return _known(Reason.NOT_WRITABLE, f"cannot write {filename}: {cause.strerror}")
    if run_dir is not None and disk_nearly_full(run_dir):
        return _known(Reason.DISK_FULL, f"the disk is full ({_first_line(err)})")
    if isinstance(getattr(err, "message", None), Message):  # the engine's own words already (NothingToTrain)
        return Failure(None, err.message)
    return Failure(None, f"{type(err).__name__}: {err}".strip())


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
