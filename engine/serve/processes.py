"""Servers the studio starts in the background: each is a `python -m engine serve` process of its own, recorded
in a small state file of the workspace, so that it outlives a page reload (or the studio itself) and stays
listed until it is stopped.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.paths import PROJECT_DIR, workspace_dir
from engine.serve.targets import is_lora_run, resolve_target

STATE_FILE = "servers.json"


@dataclass
class ServerRecord:
    pid: int  # also its process group: the server is started in a session of its own
    port: int
    targets: list[str]
    models: list[str]
    started: float
    log: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def servers_dir() -> Path:
    folder = workspace_dir() / "servers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read() -> list[ServerRecord]:
    path = servers_dir() / STATE_FILE
    try:
        return [ServerRecord(**record) for record in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []


def _write(records: list[ServerRecord]) -> None:
    path = servers_dir() / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps([asdict(record) for record in records], indent=1), encoding="utf-8")
    temporary.replace(path)  # whole or not at all: a reader never sees half a list


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(targets: list[str]) -> ServerRecord:
    """Start serving `targets` on a free loopback port in the background; ValueError when they cannot be served
    together (checked before anything starts)."""
    target = resolve_target(targets)
    models = (["base"] if target.kind == "runs" and all(map(is_lora_run, target.names)) else []) + target.model_ids
    port = free_port()
    log = servers_dir() / f"{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "engine", "serve", *targets, "--port", str(port)],
                                   cwd=PROJECT_DIR, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    record = ServerRecord(process.pid, port, list(targets), models, time.time(), str(log))
    _write([*_read(), record])
    return record


def server_status(record: ServerRecord) -> str:
    """"ready" (answering), "starting" (loading the model) or "exited" (see its log)."""
    if not _alive(record):
        return "exited"
    try:
        with urllib.request.urlopen(record.url + "/models", timeout=0.5):
            return "ready"
    except (urllib.error.URLError, OSError):
        return "starting"


def _alive(record: ServerRecord) -> bool:
    """Its process is still running, and is still this server (a pid can be reused after it exits)."""
    import psutil

    try:
        process = psutil.Process(record.pid)
        return process.status() != psutil.STATUS_ZOMBIE and str(record.port) in process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def list_servers() -> list[ServerRecord]:
    return _read()


def stop_server(port: int, grace: float = 5.0) -> bool:
    """Stop the server on `port` (SIGTERM, SIGKILL after `grace` s) and forget it; False when none is listed."""
    records = _read()
    found = [record for record in records if record.port == port]
    for record in found:
        if _alive(record):
            _end_group(record, grace)
    _write([record for record in records if record.port != port])
    return bool(found)


def _end_group(record: ServerRecord, grace: float) -> None:
    try:
        os.killpg(record.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while _alive(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(record):
        try:
            os.killpg(record.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def log_tail(record: ServerRecord, lines: int = 12) -> str:
    try:
        return "\n".join(Path(record.log).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""

