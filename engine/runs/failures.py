"""Why a run failed, in plain words, and the checks that refuse a run before it starts.

A stack trace tells an engineer what broke; a user who pressed Start needs the cause and what to change.
`classify_failure` turns the exception that ended a worker into a reason (the short word shown next to
"failed"), a message and advice. `preflight` catches what can be known before a worker starts: a saves folder
that cannot be written, a disk without room for the checkpoints.
"""
from __future__ import annotations

import errno
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.config.schema import RunConfig
from engine.paths import saves_dir

OUT_OF_MEMORY = "out of memory"
DISK_FULL = "disk full"
NOT_WRITABLE = "not writable"
KILLED = "killed"

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
    OUT_OF_MEMORY: (
        "The model and one training batch did not fit in memory. Try these, one at a time: lower the batch size "
        "(train.per_device_train_batch_size) and raise gradient accumulation to keep the same effective batch; "
        "lower the cutoff length (data.cutoff_len); turn on gradient checkpointing "
        "(train.gradient_checkpointing); train LoRA instead of the full model; load the model in 4-bit (QLoRA) "
        "if your GPU supports it; or pick a smaller model. Resume continues from the last checkpoint."
    ),
    DISK_FULL: (
        "The disk holding the saves folder is full, so a checkpoint or log could not be written. Free some "
        "space (delete old runs or exports), keep fewer checkpoints (train.save_total_limit), or move the saves "
        "folder to a bigger disk; then Resume continues from the last complete checkpoint."
    ),
    NOT_WRITABLE: (
        "The run could not write into its folder. Check that the saves folder exists, is a folder, and that "
        "the user running the studio may write there (or point STUDIO_SAVES_DIR elsewhere)."
    ),
    KILLED: (
        "The training process ended without a word: something killed it (a person, a crash, or the system "
        "when it ran out of memory). Resume continues from the last checkpoint."
    ),
}


@dataclass
class Failure:
    reason: str | None  # one of the constants above; None when the cause is not one we recognise
    message: str
    advice: str = ""


# ---------------------------------------------------------------------------------------------------------
# After a failure


def classify_failure(err: BaseException, run_dir: Path | None = None) -> Failure:
    """The reason, a one-line message and advice for the exception that ended a run. With `run_dir`, an
    error that names no cause while the run's disk is full counts as disk full: torch.save reports ENOSPC
    as "basic_ios::clear: iostream error" or "unexpected pos", which say nothing."""
    for cause in _chain(err):
        text = str(cause).lower()
        if isinstance(cause, MemoryError) or _is_torch_oom(cause) or any(t in text for t in OUT_OF_MEMORY_TEXT):
            return Failure(OUT_OF_MEMORY, f"ran out of memory: {_first_line(cause)}", ADVICE[OUT_OF_MEMORY])
        if _errno(cause) in (errno.ENOSPC, errno.EDQUOT) or any(t in text for t in DISK_FULL_TEXT):
            return Failure(DISK_FULL, f"the disk is full: {_first_line(cause)}", ADVICE[DISK_FULL])
        if _errno(cause) in (errno.EACCES, errno.EPERM, errno.EROFS):
            filename = getattr(cause, "filename", None) or "its folder"
            return Failure(NOT_WRITABLE, f"cannot write {filename}: {cause.strerror}", ADVICE[NOT_WRITABLE])
    if run_dir is not None and disk_nearly_full(run_dir):
        return Failure(DISK_FULL, f"the disk is full ({_first_line(err)})", ADVICE[DISK_FULL])
    return Failure(None, f"{type(err).__name__}: {err}".strip())


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


# ---------------------------------------------------------------------------------------------------------
# Before a start

# What one checkpoint holds besides the weights: Adam keeps two fp32 moments per trained weight.
OPTIMIZER_COPIES = 2
# Room kept free beyond the estimate: logs, the tokenizer, and the rest of the machine.
DISK_MARGIN_BYTES = 200 * 1024**2
# Methods that train (and save) every weight or many of them; the others save a small adapter.
WHOLE_MODEL_METHODS = ("full", "freeze")


class StartRefused(RuntimeError):
    """A run that cannot start; `problems` lists every reason as a plain sentence."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def preflight(config: RunConfig) -> list[str]:
    """Problems that would make `config` fail soon after starting; empty when it may start."""
    problem = saves_dir_problem(saves_dir())
    if problem:
        return [problem]
    needed, free = estimate_disk_bytes(config), shutil.disk_usage(saves_dir()).free
    if free < needed:
        return [
            f"the saves folder's disk has {_gigabytes(free)} free, and this run needs about {_gigabytes(needed)} "
            f"for its checkpoints (up to {_kept_checkpoints(config)}) and final model. Free some space, keep "
            "fewer checkpoints (train.save_total_limit), or train LoRA, which saves far less."
        ]
    return []


def saves_dir_problem(folder: Path) -> str | None:
    """Why run folders cannot be created in `folder`, or None when they can (tested by writing a file)."""
    if folder.exists() and not folder.is_dir():
        return f"the saves folder {folder} is a file, not a folder; move it away or point STUDIO_SAVES_DIR at a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        return f"cannot write to the saves folder {folder}: {err.strerror or err}; {ADVICE[NOT_WRITABLE]}"
    return None


def estimate_disk_bytes(config: RunConfig) -> int:
    """A rough upper bound of what a run writes: kept checkpoints plus the final result plus a margin."""
    weights = _weight_bytes(config.model.name_or_path)
    if config.method.finetuning_type in WHOLE_MODEL_METHODS:
        # Weights, plus fp32 optimizer moments (stored weights are often half precision: ×2 per copy).
        per_checkpoint = weights + OPTIMIZER_COPIES * 2 * weights
        final = weights
    else:
        per_checkpoint = final = weights // 20  # adapters and their optimizer: a few percent of the model
    return per_checkpoint * _kept_checkpoints(config) + final + DISK_MARGIN_BYTES


def _kept_checkpoints(config: RunConfig) -> int:
    """The checkpoints on disk at once: the limit, plus the one written before the oldest is deleted."""
    train = config.train
    if train.save_total_limit:
        return train.save_total_limit + 1
    planned = train.max_steps // train.save_steps if train.max_steps else 3
    return max(planned, 1)


def _weight_bytes(name_or_path: str) -> int:
    """The size of a local model's weight files; 0 for Hub ids, whose size is unknown offline, and for
    built-in models, which are tiny (and asking would build one)."""
    from engine.models.builtin import is_builtin
    from engine.models.loading import ModelLoadError, resolve_model

    if is_builtin(name_or_path):
        return 0
    try:
        folder = Path(resolve_model(name_or_path))
    except (ModelLoadError, ValueError, OSError):
        return 0
    if not folder.is_dir():
        return 0
    patterns = ("*.safetensors", "*.bin", "*.pt", "*.pth")
    return sum(path.stat().st_size for pattern in patterns for path in folder.glob(pattern))


def _gigabytes(size: int) -> str:
    return f"{size / 1024**3:.1f} GB" if size >= 1024**3 / 10 else f"{size / 1024**2:.0f} MB"


def disk_nearly_full(folder: Path, below_bytes: int = 16 * 1024**2) -> bool:
    """True when the disk of `folder` has almost no room left: a worker that died silently there most
    likely died writing."""
    try:
        return shutil.disk_usage(folder).free < below_bytes
    except OSError:
        return False
