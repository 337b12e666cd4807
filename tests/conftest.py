"""Shared test setup: offline, every root in a temporary folder, the built-in model built once per session."""
import os
import tempfile
import time
from pathlib import Path

import pytest

for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ[variable] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# The built-in model takes ~30 s to build; CI points this at a cache that lives for the whole run.
os.environ.setdefault("STUDIO_CACHE_DIR", tempfile.mkdtemp(prefix="studio-cache-"))
# Whatever a test registers, trains or exports without its own folders lands here, never in the project.
os.environ.setdefault("STUDIO_WORKSPACE", tempfile.mkdtemp(prefix="studio-workspace-"))

PROJECT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout: float = 600.0, poll: float = 0.1) -> None:
    """Poll `predicate` until it is true; TimeoutError after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise TimeoutError("condition not met in time")


@pytest.fixture
def data_dirs(tmp_path, monkeypatch):
    """A writable copy of the bundled data and registry, and empty saves."""
    import shutil

    shutil.copytree(PROJECT / "data", tmp_path / "data")
    shutil.copy(PROJECT / "dataset_info.json", tmp_path / "dataset_info.json")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_REGISTRY", str(tmp_path / "dataset_info.json"))
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(tmp_path / "saves"))
    yield tmp_path
    end_workers(tmp_path / "saves", os.environ["STUDIO_SAVES_DIR"])  # also a saves folder the test moved to


def end_workers(*saves_folders) -> None:
    """Kill the process group of every worker still training under the saves folders: a test that started
    one ends it, pass or fail, so no worker outlives its test (and its temporary folder)."""
    import signal

    for process in {p for saves in set(map(str, saves_folders)) for p in worker_processes(saves)}:
        try:
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def demo_config(values: dict | None = None):
    """The CPU demo preset (examples/sft_lora_demo.yaml) with `{"train.max_steps": 2, ...}` applied."""
    from engine.config.schema import RunConfig

    return RunConfig.load(PROJECT / "examples" / "sft_lora_demo.yaml").replace(values or {})


def short_run_config(max_steps: int, save_steps: int = 1000):
    """The demo preset cut down for process-level tests: 32 short examples, a loss point every step."""
    return demo_config({"data.val_size": 0.0, "data.max_samples": 32, "data.cutoff_len": 128,
                        "train.max_steps": max_steps, "train.logging_steps": 1, "train.save_steps": save_steps,
                        "train.per_device_train_batch_size": 2})


def worker_processes(saves: str) -> list:
    """Training worker processes on this machine whose run lives under `saves`."""
    import psutil

    return [process for process in psutil.process_iter(["cmdline"]) if worker_run(process, saves)]


def worker_run(process, saves) -> str | None:
    """The run folder under `saves` that `process` trains as its worker, or None. A worker names its run on
    its command line; a standby worker (engine/runs/standby.py) was handed its run later, and holds the run's
    worker.lock open."""
    import psutil

    saves = str(saves)
    try:
        cmdline = process.info["cmdline"] if hasattr(process, "info") else process.cmdline()
        cmdline = cmdline or []
        if "worker" in cmdline and cmdline[-1].startswith(saves):
            return cmdline[-1]
        if cmdline[-1:] == ["standby"] and "engine" in cmdline:
            locks = [f.path for f in process.open_files() if f.path.endswith("/worker.lock")]
            return next((str(Path(lock).parent) for lock in locks if lock.startswith(saves)), None)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    return None


@pytest.fixture
def studio_dirs(tmp_path, monkeypatch):
    """Saves and exports in tmp_path; the bundled data and registry as they ship."""
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(tmp_path / "saves"))
    monkeypatch.setenv("STUDIO_EXPORTS_DIR", str(tmp_path / "exports"))
    yield tmp_path
    end_workers(tmp_path / "saves", os.environ["STUDIO_SAVES_DIR"])  # also a saves folder the test moved to


@pytest.fixture
def started(studio_dirs, tiny_model):
    """Run handles a test started; teardown kills each one's process group and every rank it recorded
    (the ranks of a multi-process run are not the worker's children once the launcher is gone)."""
    import signal

    import psutil

    from engine.runs.launch import rank_records
    from engine.runs.process import launch_record

    handles = []
    yield handles
    for handle in handles:
        if record := launch_record(handle.run_dir):
            try:
                os.killpg(record["pgid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        for rank in rank_records(handle.run_dir):
            if rank.get("pid") and psutil.pid_exists(rank["pid"]):
                psutil.Process(rank["pid"]).kill()


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from engine.models.builtin import builtin_path

    return builtin_path("builtin:tiny-demo")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def train_demo_run(max_steps: int = 12, **train) -> Path:
    """A completed LoRA run of the demo preset, trained in this process; returns its run directory."""
    from engine.runs.events import EventLog
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training

    config = demo_config({"data.val_size": 0.0, "train.max_steps": max_steps,
                          **{f"train.{name}": value for name, value in train.items()}})
    run_dir = create_run(config)
    log = EventLog(run_dir)
    assert run_training(RunContext(config, run_dir, log, lambda: False)) == "completed"
    log.write("status", status="completed")  # what the worker process writes when training returns
    return run_dir


@pytest.fixture
def trained_run(studio_dirs, tiny_model) -> Path:
    return train_demo_run()


@pytest.fixture(autouse=True)
def no_server_tracebacks(request):
    """Every browser test fails on a server traceback written while it ran: an error the page swallows (a timer's
    tick, a handler sending a table to a plot) is still an error. Browser tests whose studio is the shared one of
    tests/e2e/browser.py (a dict with its log); the fault-injection tests kill their studio on purpose."""
    if request.node.get_closest_marker("browser") is None or "studio" not in request.fixturenames:
        yield
        return
    studio = request.getfixturevalue("studio")
    log = studio.get("log") if isinstance(studio, dict) else None
    if log is None:
        yield
        return
    before = log.stat().st_size
    yield
    with log.open("rb") as written:
        written.seek(before)
        new = written.read().decode("utf-8", errors="replace")
    if "Traceback" in new:
        start = new.index("Traceback")
        pytest.fail("the studio wrote a traceback while this test ran:\n" + new[start:start + 4000])
