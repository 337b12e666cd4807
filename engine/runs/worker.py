"""The training process: claims a run directory, trains (or resumes), and always leaves a final status event.

Started as `python -m engine worker <run>` by engine/runs/process.launch_worker, or ahead of its run as a
standby (`python -m engine standby`, engine/runs/standby.py) that is handed the run later. A directory whose
events.jsonl already holds an attempt is resumed from its newest complete checkpoint, in place. As its last
acts the worker ends any process it started and moves the queue on, so the next queued run starts without a UI.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback
import warnings
from pathlib import Path

from engine.config.schema import ConfigError, RunConfig
from engine.data.registry import DataError
from engine.models.loading import needs_bitsandbytes
from engine.messages import lines, say
from engine.runs.events import RESUMED, EventLog, read_last_status
from engine.runs.failures import classify_failure
from engine.runs.files import CONFIG_FILE, LOG_FILE
from engine.runs.launch import RanksFailed, launch_ranks
from engine.runs.preflight import data_problems, environment_problems, template_problems
from engine.runs.process import RunBusy, claim_run, record_launch, stop_requested
from engine.runs.standby import READY
from engine.runs.status import State
from engine.runs.store import checkpoint_step, newest_checkpoint, set_aside_incomplete_checkpoints

EXIT_FAILED = 1
EXIT_BUSY = 3  # another worker trains the run, or it has completed


class _Tee:
    """Write to the terminal and to train.log at once, for runs started from a terminal."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()

    def isatty(self):
        return False


def _log_to_file(run_dir: Path) -> None:
    """Send output to train.log unless the launcher already pointed stdout there."""
    log_path = run_dir / LOG_FILE
    if log_path.exists() and os.path.samestat(os.fstat(sys.stdout.fileno()), log_path.stat()):
        return
    log = log_path.open("a", encoding="utf-8", buffering=1)
    sys.stdout, sys.stderr = _Tee(sys.__stdout__, log), _Tee(sys.__stderr__, log)


# ---------------------------------------------------------------------------------------------------------


def train_in_this_process(run_dir: Path) -> int:
    """Train the run in `run_dir`; the exit code is 0 for completed or stopped, 1 for failed, 3 when another
    worker already trains it or it has completed."""
    run_dir = Path(run_dir)
    # Libraries' deprecation notices speak to developers; in a user's train.log they only bury the progress.
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        claim = claim_run(run_dir)
    except RunBusy as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BUSY
    previous = read_last_status(run_dir)
    if previous is not None and previous["status"] == State.COMPLETED:
        claim.close()
        print(f"error: run {run_dir.name} has completed already; start a new run to train again", file=sys.stderr)
        return EXIT_BUSY
    try:
        record_launch(run_dir, os.getpid())  # before any event: the run's status is judged from this attempt on
        _log_to_file(run_dir)
        return _train_claimed(run_dir)
    finally:
        _end_my_children()
        claim.close()  # the run is no longer ours: readers see its final status from here on
        _advance_queue()


def _train_claimed(run_dir: Path) -> int:
    log = EventLog(run_dir)
    interrupted = []
    # SIGTERM and Ctrl-C become a stop request: the Trainer finishes its step and saves.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: interrupted.append(True))
    try:
        resume_from = _announce_attempt(run_dir, log)
        config = RunConfig.load(run_dir / CONFIG_FILE)
        skip_unneeded_packages(config)  # before the training libraries load
        from engine.train.distributed import needs_launcher
        from engine.train.trainer import RunContext, run_training

        # Start asked already; a config trained by hand has not. Either way, before a model loads.
        problems = environment_problems(config)
        if problems:
            raise ConfigError(problems)
        problems = data_problems(config)  # failed with reason "data" and the checker's advice
        if problems:
            raise DataError(lines(problems))
        _build_builtin_model(config, log)
        problems = template_problems(config)  # needs the tokenizer, which the line above may have written
        if problems:
            raise DataError(lines(problems))
        fields: dict = {}  # what the outcome adds (an early stop's note), when this process trained
        if needs_launcher(config):  # several processes: they train, this process follows them
            outcome = launch_ranks(run_dir, config, resume_from)
        else:
            context = RunContext(config, run_dir, log, lambda: bool(interrupted) or stop_requested(run_dir),
                                 resume_from)
            outcome = run_training(context)
            fields = context.outcome_fields
    except Exception as err:  # any failure must still end in a readable status
        traceback.print_exc()
        _write_failure(log, err, run_dir)
        return EXIT_FAILED
    log.write("status", status=outcome, **fields)
    print(f"run {outcome}: {run_dir}", flush=True)
    return 0


def train_when_handed_a_run() -> int:
    """A standby worker (engine/runs/standby.py): import what training needs, say so on stdout, then train the
    run directory named on stdin as its worker. End-of-file instead (its keeper ended or let it go) exits."""
    import engine.train.stages.sft  # noqa: F401  (the imports are the point: they are what Start would wait for)
    import engine.train.trainer  # noqa: F401
    import transformers
    import trl  # noqa: F401

    transformers.Trainer  # noqa: B018  (transformers loads its submodules on first access)
    try:
        os.write(sys.stdout.fileno(), READY)
    except BrokenPipeError:
        pass  # nobody listens for it any more (the keeper has handed a run over already, or has ended)
    line = sys.stdin.readline().strip()
    if not line:
        return 0
    run_dir = Path(line)
    _output_to(run_dir / LOG_FILE)
    return train_in_this_process(run_dir)


def _output_to(log_path: Path) -> None:
    """What a launched worker has from its start: stdout and stderr appended to the run's train.log, no stdin."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((log, 1), (log, 2), (null, 0)):
        os.dup2(source, target)
    os.close(log)
    os.close(null)


def skip_unneeded_packages(config: RunConfig) -> None:
    """A run whose model never needs bitsandbytes gets a process where it is absent: peft (and so the Trainer)
    imports it whenever it is installed, ~2 s of start-up on an idle CPU for nothing. A None entry in
    sys.modules makes find_spec() report the package missing and an import of it fail, as if not installed."""
    if not needs_bitsandbytes(config.model) and "bitsandbytes" not in sys.modules:
        sys.modules["bitsandbytes"] = None


def _announce_attempt(run_dir: Path, log: EventLog) -> str | None:
    """Write "running" for a first attempt, or "resumed" from the newest complete checkpoint for a later
    one; returns that checkpoint for the Trainer (None: train from the start)."""
    previous = read_last_status(run_dir)
    if previous is None:
        log.write("status", status=State.RUNNING)
        return None
    for folder in set_aside_incomplete_checkpoints(run_dir):
        print(f"set aside a checkpoint the last attempt did not finish writing: {folder.name}", flush=True)
    checkpoint = newest_checkpoint(run_dir)
    step = checkpoint_step(checkpoint) if checkpoint else 0
    log.write("status", status=RESUMED, from_step=step, checkpoint=checkpoint.name if checkpoint else None)
    return str(checkpoint) if checkpoint else None


def _build_builtin_model(config: RunConfig, log: EventLog) -> None:
    """Build the built-in model, or convert a GGUF base model, up front when it is not cached yet, as a phase
    the run view can name: it is the longest wait of a first run."""
    from engine.models.builtin import builtin_path, needs_build
    from engine.models.gguf_base import gguf_model_folder, needs_conversion

    name = config.model.name_or_path
    if needs_build(name):
        log.write("phase", phase="build_model")
        builtin_path(name)
    elif needs_conversion(name):
        log.write("phase", phase="convert_model")
        gguf_model_folder(name, announce=lambda line: print(line, flush=True))


def _write_failure(log: EventLog, err: Exception, run_dir: Path) -> None:
    if isinstance(err, ConfigError):
        problems = lines([say("failure.problem_line", problem=problem) for problem in err.problems])
        fields = {"error": say("failure.config_problems", problems=problems)}
    elif isinstance(err, RanksFailed):
        fields = err.fields
        print(f"\n{fields['error']}\n{fields['advice']}", flush=True)
    else:
        failure = classify_failure(err, run_dir)
        fields = {"error": failure.message}
        if failure.reason:
            fields.update(reason=failure.reason, advice=failure.advice)
            print(f"\n{failure.message}\n{failure.advice}", flush=True)
    try:
        log.write("status", status=State.FAILED, traceback=traceback.format_exc()[-4000:], **fields)
    except OSError as write_err:  # a full disk may refuse even this line; the queue then records the death
        print(f"could not record the failure in events.jsonl: {write_err}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------
# Leaving nothing behind


def _end_my_children() -> None:
    """Kill any process this worker started that is still running (data loader workers, torchrun workers):
    a finished run must not leave anything holding memory or the GPU."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=5)


def _advance_queue() -> None:
    try:
        from engine.runs.scheduler import advance

        advance()
    except Exception as err:  # the run itself is done; a queue hiccup must not change its exit code
        print(f"could not start the next queued run: {err}", file=sys.stderr)
