"""Every path a user gives stays inside its root (`..`, absolute paths and symlinks out are refused with a clear
message), and model weights load from safetensors only unless pickle files are explicitly allowed."""
import json
import shutil

import pytest

from engine.config.schema import RunConfig
from engine.train.rules import validate
from engine.data.conversion import load_conversations
from engine.runs.preflight import StartRefused
from engine.models.loading import ModelLoadError, load_model
from engine.paths import PathEscapeError
from engine.runs.scheduler import resume_run, stop_run, submit
from engine.runs.store import create_run


@pytest.fixture
def outside(tmp_path):
    """A folder next to every root, that nothing may reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.json").write_text(json.dumps([{"instruction": "secret", "input": "", "output": "secret"}]))
    return folder


# ---------------------------------------------------------------------------------------------------------
# Dataset files


@pytest.fixture
def escaping_registry(tmp_path, outside, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "link_out.json").symlink_to(outside / "secret.json")
    registry = {
        "dotdot": {"file_name": "../outside/secret.json"},
        "absolute": {"file_name": str(outside / "secret.json")},
        "symlink_out": {"file_name": "link_out.json"},
    }
    (data / "dataset_info.json").write_text(json.dumps(registry))
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(data / "dataset_info.json"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("dotdot", "dataset 'dotdot' file_name '../outside/secret.json' points outside"),
        ("absolute", "dataset 'absolute' file_name must be a path inside"),
        ("symlink_out", "dataset 'symlink_out' file_name 'link_out.json' points outside"),
    ],
)
def test_training_never_reads_a_dataset_file_outside_the_data_folder(escaping_registry, name, message):
    with pytest.raises(PathEscapeError, match=message):
        load_conversations(name)


def test_an_upload_cannot_name_itself_out_of_the_data_folder(tmp_path, monkeypatch):
    from engine.data.registry import DataError
    from engine.data.uploads import import_dataset

    data = tmp_path / "data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(data / "dataset_info.json"))
    upload = tmp_path / "upload" / "..evil.json"
    upload.parent.mkdir()
    upload.write_text(json.dumps([{"instruction": "hi", "input": "", "output": "hello"}] * 3))
    for bad_name in ("../evil", "/etc/evil", "a/b"):
        with pytest.raises(DataError, match="is not usable"):
            import_dataset(upload, bad_name)
    result = import_dataset(upload, "fine")
    assert (data / result.file_name).resolve().parent == data.resolve()


# ---------------------------------------------------------------------------------------------------------
# Run names and run folders


@pytest.mark.parametrize("run_name", ["../escaped", "/tmp/escaped", "a/b", ".."])
def test_run_names_are_plain_folder_names(studio_dirs, run_name):
    config = RunConfig()
    config.train.run_name = run_name
    assert any("is not usable as a run name" in problem for problem in validate(config))
    with pytest.raises(StartRefused, match="is not usable as a run name"):
        submit(config)
    if run_name != "a/b":  # a nested name stays inside saves/ and is only refused by validation
        with pytest.raises(PathEscapeError, match="run name"):
            create_run(config)  # even a caller that skipped validation cannot leave saves/
    assert not (studio_dirs / "escaped").exists() and not (studio_dirs / "saves" / "escaped").exists()


def test_run_folders_given_to_resume_and_stop_must_be_inside_saves(studio_dirs, outside):
    (outside / "config.yaml").write_text(RunConfig().to_yaml())
    run_dir = create_run(RunConfig())
    link = run_dir.parent / "link-out"
    link.symlink_to(outside)
    for escape in (outside, run_dir / ".." / ".." / ".." / ".." / "outside", link):
        with pytest.raises(PathEscapeError, match="is not a run folder: runs live inside"):
            resume_run(escape)
        with pytest.raises(PathEscapeError, match="is not a run folder"):
            stop_run(escape)
    assert not (outside / "STOP").exists() and not (outside / "QUEUED").exists()


# ---------------------------------------------------------------------------------------------------------
# Export folders


@pytest.mark.parametrize("name", ["../escaped", "/tmp/escaped-export", "link/inside"])
def test_export_folders_stay_inside_exports(studio_dirs, outside, name):
    from engine.export.merge import export_run

    exports = studio_dirs / "exports"
    exports.mkdir()
    (exports / "link").symlink_to(outside)
    run_dir = create_run(RunConfig())
    with pytest.raises(PathEscapeError, match="export folder"):
        export_run(run_dir, name)
    assert list(outside.iterdir()) == [outside / "secret.json"]


# ---------------------------------------------------------------------------------------------------------
# Model weights: safetensors only, unless allowed


@pytest.fixture
def pickle_only_model(tiny_model, tmp_path):
    """The tiny model with its weights saved by torch.save as pytorch_model.bin, and no safetensors."""
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled-model"
    shutil.copytree(tiny_model, folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_pickle_weights_are_refused_by_default(pickle_only_model):
    config = RunConfig().model
    config.name_or_path = str(pickle_only_model)
    with pytest.raises(ModelLoadError, match=r"only as pickle files \(pytorch_model.bin\).*allow pickle weights"):
        load_model(config)


def test_pickle_weights_load_when_explicitly_allowed(pickle_only_model, tiny_model):
    import torch

    config = RunConfig().model
    config.name_or_path = str(pickle_only_model)
    config.allow_pickle_weights = True
    model = load_model(config)
    reference = load_model(RunConfig().model)
    name, weight = next(iter(reference.state_dict().items()))
    assert torch.equal(model.state_dict()[name], weight)


def test_safetensors_are_chosen_when_both_are_there(pickle_only_model, tiny_model):
    shutil.copy(tiny_model / "model.safetensors", pickle_only_model / "model.safetensors")
    (pickle_only_model / "pytorch_model.bin").write_bytes(b"not a pickle: would fail if it were read")
    config = RunConfig().model
    config.name_or_path = str(pickle_only_model)
    assert load_model(config) is not None


@pytest.mark.parametrize("command", ["resume", "stop"])
def test_the_cli_refuses_run_folders_outside_saves(studio_dirs, outside, command):
    from engine.cli import main

    (outside / "config.yaml").write_text(RunConfig().to_yaml())
    assert main([command, str(outside)]) == 2
    assert not (outside / "STOP").exists() and not (outside / "QUEUED").exists()
