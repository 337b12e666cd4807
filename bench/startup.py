"""Start-up times: the page after `python launch.py`, the first loss after Start, and where the time goes.

    python bench/startup.py            # all three sections (~1 min on 2 idle cores)
    python bench/startup.py --imports  # only the import breakdown

  page        `python launch.py` in a fresh process until its page answers HTTP 200 (the issue's target: <= 8 s)
  first loss  the quick demo (examples/quick_demo.yaml) submitted as Start submits it, until its first loss event
              in events.jsonl (target: <= 6 s with the built-in model cached); the run is stopped right after.
              Twice: as the web UI starts it (handed to the standby worker the UI keeps waiting with its
              libraries imported, engine/runs/standby.py) and as the CLI does (a new worker process)
  imports     each heavy package imported alone in a fresh interpreter (`python -X importtime`), and the two
              module sets the page and the worker import

Each figure is wall-clock seconds and the CPU-seconds (user + system, all threads) of the process measured, since
the machine may be shared: under load the wall time grows, the CPU time much less. The load average is printed
beside them. Results are written to bench/STARTUP.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
os.environ.update(OFFLINE)

# What is imported alone, and the sets the two start-ups import.
IMPORTS = {
    "torch": "import torch",
    "gradio": "import gradio",
    "matplotlib (Figure)": "from matplotlib.figure import Figure",
    "transformers Trainer": "from transformers import Trainer",
    "peft": "import peft",
    "bitsandbytes": "import bitsandbytes",
    "trl": "import trl",
    "datasets": "import datasets",
    "the page (webui.app)": "import webui.app",
    "the worker (quick demo SFT)": "from engine.config.schema import RunConfig; from engine.runs.worker import "
                                  "skip_unneeded_packages; skip_unneeded_packages(RunConfig.load("
                                  "'examples/quick_demo.yaml')); import engine.train.trainer, "
                                  "engine.train.stages.sft; from transformers import Trainer",
}
TIMEOUT_S = 600


# ---------------------------------------------------------------------------------------------------------
# Measuring a process


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; ticks of 1/100 s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_group(process: subprocess.Popen) -> None:
    """Stop the process and whatever it started (it leads its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------------
# Sections


def page_start(workspace: Path) -> tuple[float, float]:
    """(wall s, CPU s) from `python launch.py` to its first HTTP 200."""
    port, errors = free_port(), tempfile.TemporaryFile(mode="w+")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(PROJECT / "launch.py"), "--port", str(port), "--workspace",
                                str(workspace)], cwd=PROJECT, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=errors)
    try:
        while not answers(f"http://127.0.0.1:{port}/"):
            if process.poll() is not None or time.perf_counter() - started > TIMEOUT_S:
                errors.seek(0)
                last = (errors.read().strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"launch.py ended or never answered: {last}")
            time.sleep(0.05)
        return time.perf_counter() - started, cpu_seconds(process.pid)
    finally:
        end_group(process)
        errors.close()


def first_loss(workspace: Path, standby: bool) -> tuple[float, float]:
    """(wall s, CPU s of the worker) from submitting the quick demo to its first loss event; with `standby`, as
    the web UI does it (a standby worker waits with its libraries imported), else as the CLI does (a new one)."""
    from engine.config.schema import RunConfig
    from engine.models.builtin import builtin_path
    from engine.runs import standby as standbys
    from engine.runs.process import launch_record
    from engine.runs.scheduler import stop_and_wait, submit

    os.environ["STUDIO_WORKSPACE"] = str(workspace)
    config = RunConfig.load(PROJECT / "examples" / "quick_demo.yaml")
    builtin_path(config.model.name_or_path)  # built and cached first: the target is with the model cached
    cpu_before = 0.0
    if standby:
        standbys.keep_standby()
        pid = standbys.standby_ready(TIMEOUT_S)
        if pid is None:
            raise RuntimeError("the standby worker never became ready")
        cpu_before = cpu_seconds(pid)  # its imports are done before Start: not part of the wait
    started = time.perf_counter()
    handle = submit(config)
    cpu = 0.0
    try:
        while not any(event.get("event") == "log" for event in handle.events()):
            if not handle.status().active or time.perf_counter() - started > TIMEOUT_S:
                raise RuntimeError(f"the run ended without a loss: {handle.status()}")
            record = launch_record(handle.run_dir)
            cpu = cpu_seconds(record["pid"]) if record else cpu  # the last reading before the loss appears
            time.sleep(0.05)
        return time.perf_counter() - started, cpu - cpu_before
    finally:
        stop_and_wait(handle.run_dir)
        standbys.stop_keeping()


def import_time(statement: str) -> tuple[float, float, list[tuple[str, float]]]:
    """(wall s, CPU s, [(module, cumulative s)] of the largest top-level imports) of `statement` run alone."""
    started, before = time.perf_counter(), os.times()
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=PROJECT, capture_output=True,
                          text=True, check=True, env={**os.environ, **OFFLINE})
    after = os.times()
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    tops = []
    for line in done.stderr.splitlines():  # "import time: self | cumulative | <indent>module", in microseconds
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match.group(2)) <= 2:
            tops.append((match.group(3), int(match.group(1)) / 1e6))
    return time.perf_counter() - started, cpu, sorted(tops, key=lambda top: -top[1])[:4]


# ---------------------------------------------------------------------------------------------------------
# Report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--imports", action="store_true", help="only the import breakdown")
    parser.add_argument("--results", default=str(PROJECT / "bench" / "STARTUP.md"))
    args = parser.parse_args()
    lines = [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{os.cpu_count()} cores, python {sys.version.split()[0]}", ""]
    if not args.imports:
        lines += ["| start-up | wall s | CPU s | load (1 min) | target |", "|---|---|---|---|---|"]
        with tempfile.TemporaryDirectory(prefix="startup-bench-") as workspace:
            for name, measure, target in (
                ("page (launch.py to HTTP 200)", page_start, "<= 8 s"),
                ("first loss, web UI (Start to the first loss event; a standby worker waits)",
                 partial(first_loss, standby=True), "<= 6 s"),
                ("first loss, CLI or --no-standby (a new worker process)", partial(first_loss, standby=False), ""),
            ):
                load = os.getloadavg()[0]
                try:
                    wall, cpu = measure(Path(workspace))
                except RuntimeError as err:  # said in the table, and the other sections still run
                    lines.append(f"| {name} | failed: {err} | | {load:.1f} | {target} |")
                else:
                    lines.append(f"| {name} | {wall:.1f} | {cpu:.1f} | {load:.1f} | {target} |")
                print(lines[-1], flush=True)
        lines.append("")
    lines += ["| import alone | wall s | CPU s | load (1 min) | largest parts (cumulative s) |",
              "|---|---|---|---|---|"]
    for name, statement in IMPORTS.items():
        load = os.getloadavg()[0]
        wall, cpu, tops = import_time(statement)
        parts = ", ".join(f"{module} {seconds:.2f}" for module, seconds in tops)
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {load:.1f} | {parts} |")
        print(lines[-1], flush=True)
    Path(args.results).write_text("# Start-up (bench/startup.py)\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
