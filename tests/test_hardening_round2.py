"""Issue 26, points 4-12: each through the real CLI (or the engine entry the server calls), memory bounds
asserted with the process's own peak RSS."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from conftest import PROJECT
from engine.data.checker import check_registered
from engine.data.registry import DataError, using_dataset_dir

# The CLI run in a fresh interpreter that reports its child's peak RSS (KiB): RUSAGE_CHILDREN of that
# interpreter holds only the CLI, not earlier tests' processes.
MEASURED = """
import resource, subprocess, sys
result = subprocess.run([sys.executable, "-m", "engine", *sys.argv[1:]], capture_output=True, text=True,
                        timeout=300)
sys.stdout.write(result.stdout + result.stderr)
print("\\nPEAK", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, result.returncode)
"""
PEAK_BOUND_KIB = 900 * 1024  # the CLI with torch and transformers imported, and nothing blown up


def measured_cli(*args: str, env: dict | None = None) -> tuple[str, int, int]:
    """(output, peak RSS in KiB, exit code) of `python -m engine ARGS`."""
    import os

    result = subprocess.run([sys.executable, "-c", MEASURED, *args], cwd=PROJECT, capture_output=True, text=True,
                            timeout=400, env={**os.environ, **(env or {})})
    output, _, last = result.stdout.rpartition("\nPEAK ")
    peak, code = last.split()
    return output + result.stderr, int(peak), int(code)


def alias_bomb(levels: int = 9) -> str:
    """A few hundred bytes of YAML that expand to 9**levels items."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# 4. Every YAML through the one bounded reader


def test_no_yaml_is_read_outside_the_bounded_reader():
    sources = [path for folder in ("engine", "webui", "bench") for path in (PROJECT / folder).rglob("*.py")]
    sources.append(PROJECT / "launch.py")
    readers = [str(path.relative_to(PROJECT)) for path in sources
               if any(call in path.read_text(encoding="utf-8") for call in ("yaml.safe_load(", "yaml.load(",
                                                                            "yaml.full_load(", "yaml.unsafe_load("))]
    assert readers == ["engine/config/parsing.py"]


def test_an_alias_bomb_in_extra_arguments_or_a_llamafactory_yaml_is_refused_in_bounded_memory(studio_dirs):
    config = yaml.safe_load((PROJECT / "examples" / "sft_lora_demo.yaml").read_text())
    config["train"]["extra_args"] = alias_bomb()
    in_extra = studio_dirs / "extra.yaml"
    in_extra.write_text(yaml.safe_dump(config))
    output, peak, code = measured_cli("train", str(in_extra))
    assert code == 2 and "aliases" in output and len(output) < 2000, output[-3000:]
    assert peak < PEAK_BOUND_KIB, peak

    llamafactory = studio_dirs / "lf.yaml"
    llamafactory.write_text(alias_bomb() + "stage: sft\nmodel_name_or_path: *a8\n")
    assert llamafactory.stat().st_size < 600
    for command in ("convert", "train"):
        output, peak, code = measured_cli(command, str(llamafactory))
        assert code != 0 and "aliases" in output and len(output) < 2000, (command, output[-3000:])
        assert peak < PEAK_BOUND_KIB, (command, peak)


def test_an_error_names_a_huge_value_by_a_short_excerpt():
    from engine.config.parsing import excerpt
    from engine.train.extra_args import extra_args_problems

    huge = {f"k{i}": list(range(1000)) for i in range(1000)}
    assert len(excerpt(huge)) < 200
    problems = extra_args_problems(json.dumps({"adam_beta2": list(range(2000))}))
    assert len(problems) == 1 and len(problems[0]) < 300 and "must be a number from 0 to 0.9999" in problems[0]
    listed = extra_args_problems(json.dumps(list(range(2000))))
    assert len(listed) == 1 and len(listed[0]) < 300


# ---------------------------------------------------------------------------------------------------------
# 8. train.extra_args: an allow-list, each value checked


def test_extra_arguments_are_an_allow_list_with_reasons_in_both_languages():
    from engine.train.extra_args import extra_args_problems
    from webui.i18n import localize

    def problems(text: str) -> list[str]:
        return [str(p) for p in extra_args_problems(text)]

    assert problems("adam_beta2: 0.99\ndataloader_num_workers: 2\nlr_scheduler_kwargs: {min_lr: 0.00001}") == []
    hub = problems("push_to_hub: true\nhub_token: hf_x")
    assert len(hub) == 2 and all("outside this run" in p for p in hub)
    assert "outside this run" in problems("accelerator_config: /etc/passwd")[0]
    assert "speed.torch_compile" in problems("torch_compile_backend: inductor")[0]
    assert "set by the studio itself" in problems('logging_strategy: "no"')[0]
    assert "cannot be set here; the options offered are" in problems("eval_delay: 1")[0]
    assert "must be a whole number from 0 to 16" in problems("dataloader_num_workers: 1000")[0]
    assert "must be true or false" in problems("tf32: maybe")[0]
    chinese = localize(extra_args_problems("push_to_hub: true")[0], "zh")
    assert "Hub" in chinese and "不能在这里设置" in chinese


# ---------------------------------------------------------------------------------------------------------
# 6. A registry entry names files inside its dataset folder, or remote locations


def test_registry_entries_cannot_name_a_file_or_folder_outside_their_dataset_folder(tmp_path):
    secret = tmp_path / "outside" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_text(json.dumps({"instruction": "SECRET-LINE", "output": "SECRET-LINE"}) + "\n")
    folder = tmp_path / "unpacked"
    folder.mkdir()
    entries = {"cloud": ({"cloud_file_name": str(secret)}, "cloud_file_name must be an address in cloud storage"),
               "builder": ({"hf_hub_url": "json", "folder": str(secret.parent)}, "is not a dataset id"),
               "local_dir": ({"hf_hub_url": str(secret.parent)}, "is a path outside the dataset folder"),
               "climb": ({"hf_hub_url": "../outside"}, "is a path outside the dataset folder"),
               "deep_id": ({"hf_hub_url": "org/name/extra"}, "is not a dataset id"),
               "sub": ({"hf_hub_url": "org/name", "folder": "../../outside"}, "must be a folder inside the dataset")}
    (folder / "dataset_info.json").write_text(json.dumps({name: entry for name, (entry, _) in entries.items()}))
    output, _, code = measured_cli("data", "check", "cloud", "--dataset-dir", str(folder))
    assert code != 0 and entries["cloud"][1] in output and "SECRET-LINE" not in output, output[-2000:]
    assert "Traceback" not in output
    with using_dataset_dir(folder):  # the others through the check the CLI and the Data tab call
        for name, (_, words) in entries.items():
            report = check_registered(name).render()
            assert words in report and "SECRET-LINE" not in report, (name, report)


# ---------------------------------------------------------------------------------------------------------
# 12. A run's stop reaches that run's processes only


# Run A's worker as the queue leaves it at the moment A failed: it has just launched run B's worker (its
# child, in a session of its own) and a helper of its own that left its group.
FAILED_WORKER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-m", "engine", "worker", sys.argv[1]], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
print("launched", flush=True)
time.sleep(120)
"""


def test_stopping_a_run_as_it_fails_spares_the_next_queued_run(studio_dirs, tiny_model):
    import os
    import signal

    import psutil

    from conftest import short_run_config
    from engine.runs.process import signal_process_group
    from engine.runs.store import create_run

    run_a, run_b = create_run(short_run_config(max_steps=2)), create_run(short_run_config(max_steps=500))
    worker_a = subprocess.Popen([sys.executable, "-c", FAILED_WORKER, str(run_b)], cwd=PROJECT, text=True,
                                stdout=subprocess.PIPE, start_new_session=True)
    started = []
    try:
        assert worker_a.stdout.readline().strip() == "launched"
        leader = psutil.Process(worker_a.pid)
        started += leader.children()
        worker_b, helper = sorted(started, key=lambda p: "worker" not in p.cmdline())
        record = {"pid": worker_a.pid, "pgid": os.getpgid(worker_a.pid), "create_time": leader.create_time()}
        signal_process_group(record, signal.SIGKILL, run_a)
        assert worker_a.wait(30) == -signal.SIGKILL
        psutil.wait_procs([helper], timeout=30)
        assert not helper.is_running() or helper.status() == psutil.STATUS_ZOMBIE  # A's own stray: ended
        assert worker_b.is_running() and worker_b.status() != psutil.STATUS_ZOMBIE  # B's worker: untouched
    finally:  # each started process leads its own group
        for pid in [worker_a.pid, *(process.pid for process in started)]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker_a.wait(30)


# ---------------------------------------------------------------------------------------------------------
# 7. Zips: the inflation of all entries together


def test_a_zip_of_many_small_well_compressed_entries_is_refused_before_a_byte_is_written(data_dirs, tmp_path):
    import zipfile

    from engine.data.uploads import import_archive, preview_file

    bomb = tmp_path / "many.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.jsonl", json.dumps({"instruction": "hi", "output": "hello"}) + "\n")
        for n in range(200):  # each 1 MiB: under the per-entry floor, 200 MiB in all from ~200 KB
            archive.writestr(f"pad/{n}.bin", b"\0" * 1024**2)
    assert bomb.stat().st_size < 1024**2
    preview = preview_file(bomb)
    assert "refused as a zip bomb" in preview.report.render()
    before = sorted((data_dirs / "data").rglob("*"))
    try:
        import_archive(bomb, "many")
        raise AssertionError("imported")
    except DataError as err:
        assert "times its compressed size" in str(err)
    assert sorted((data_dirs / "data").rglob("*")) == before  # nothing written, nothing left


# ---------------------------------------------------------------------------------------------------------
# 10. A note's HTML shows as text


def test_html_in_a_compare_note_is_shown_as_text():
    from engine.runs.compare import Comparison
    from webui.compare_panel import notes_markdown

    note = '<img src="http://example.invalid/x.png"> <script>alert(1)</script> ok'
    comparison = Comparison(runs=["a"], x="step", curves=[], diff={}, metrics={}, notes=[note], tags=[["x"]])
    shown = notes_markdown(comparison, "en")
    assert "<img" not in shown and "<script" not in shown and "&lt;img src=" in shown and "ok" in shown
