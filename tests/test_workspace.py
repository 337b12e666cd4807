"""The workspace: uploads, the user's registry, runs and exports live there; the project checkout is only read."""
import json
import os
from pathlib import Path

import pytest

from conftest import PROJECT

IGNORED = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", "test-artifacts"}


def project_files() -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file of the project checkout, caches aside."""
    found = {}
    for folder, subfolders, files in os.walk(PROJECT):
        subfolders[:] = [name for name in subfolders if name not in IGNORED and not name.endswith(".egg-info")]
        for name in files:
            stat = (Path(folder) / name).stat()
            found[str(Path(folder, name).relative_to(PROJECT))] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    for variable in ("STUDIO_DATA_DIR", "STUDIO_REGISTRY", "STUDIO_SAVES_DIR", "STUDIO_EXPORTS_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "workspace"))
    return tmp_path / "workspace"


def test_importing_training_and_exporting_never_write_into_the_project(workspace, tiny_model):
    from engine.config.schema import RunConfig
    from engine.data.registry import get_entry, read_registry
    from engine.data.uploads import import_dataset
    from engine.export.merge import export_run
    from engine.runs.events import EventLog
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training

    before = project_files()
    import_dataset(PROJECT / "tests" / "data" / "星湾岛问答.json", "星湾岛问答")
    config = RunConfig.load(PROJECT / "examples" / "quick_demo.yaml")
    config.data.datasets = ["星湾岛问答", "demo_quick"]  # the user's file and a shipped demo, side by side
    config.train.max_steps = 2
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    export_run(run_dir)
    assert project_files() == before
    assert (workspace / "data" / "星湾岛问答.json").exists() and run_dir.is_relative_to(workspace / "saves")
    assert any((workspace / "exports").iterdir())
    assert list(json.loads((workspace / "dataset_info.json").read_text(encoding="utf-8"))) == ["星湾岛问答"]
    assert {"demo_quick", "demo_alpaca_zh", "星湾岛问答"} <= set(read_registry())
    assert get_entry("demo_quick").folder == PROJECT / "data"


def test_a_demo_name_cannot_be_taken_and_the_launcher_sets_the_workspace(workspace, monkeypatch, tmp_path):
    from engine.data.registry import DataError
    from engine.data.uploads import import_dataset
    from engine.paths import data_dir, saves_dir

    with pytest.raises(DataError, match="already registered"):
        import_dataset(PROJECT / "tests" / "data" / "星湾岛问答.json", "demo_quick")
    assert not (workspace / "data").exists() or not any((workspace / "data").iterdir())
    import launch

    monkeypatch.setattr("webui.app.build_app", lambda lang: (_ for _ in ()).throw(SystemExit("stop here")))
    with pytest.raises(SystemExit, match="stop here"):
        launch.main(["--workspace", str(tmp_path / "elsewhere")])
    assert data_dir() == tmp_path / "elsewhere" / "data" and saves_dir() == tmp_path / "elsewhere" / "saves"
