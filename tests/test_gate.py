"""Issue 17, points 8-10: the server as `python launch.py` serves it with a login. Every route but the login page
needs the session cookie, password guessing waits longer after each wrong try, the password stays out of `ps`,
and uploads are bounded (gradio's max_file_size, a disk budget, temporary files deleted after use)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import PROJECT

PASSWORD = "correct horse battery"
# Routes gradio itself leaves open (cancel stops another session's job, heartbeat holds a session), and some
# it guards itself.
ANONYMOUS_REFUSED = [("POST", "/gradio_api/cancel", {"session_hash": "s", "fn_index": 0, "event_id": "e"}),
                     ("GET", "/gradio_api/heartbeat/s", None), ("GET", "/gradio_api/app_id", None),
                     ("POST", "/gradio_api/reset", {"event_id": "e"}), ("GET", "/config", None),
                     ("POST", "/gradio_api/upload", None), ("POST", "/gradio_api/queue/join", {}),
                     ("GET", "/gradio_api/info", None), ("GET", "/monitoring/x", None)]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_studio(root: Path, *arguments: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`python launch.py` in its own process group; (process, address) once it printed where it runs."""
    process = subprocess.Popen([sys.executable, "launch.py", "--port", str(free_port()), "--workspace",
                                str(root / "workspace"), *arguments], cwd=PROJECT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               env={**os.environ, "GRADIO_TEMP_DIR": str(root / "uploads"), **(env or {})})
    deadline, printed = time.monotonic() + 180, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        printed.append(line)
        if match := re.search(r"running at (http://\S+)", line):
            return process, match.group(1).rstrip("/")
        if not line and process.poll() is not None:
            break
    stop(process)
    pytest.fail("the studio did not start: " + "".join(printed)[-3000:])


def stop(process: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(20)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    root = tmp_path_factory.mktemp("gated")
    process, url = start_studio(root, env={"STUDIO_AUTH": f"tester:{PASSWORD}"})
    try:
        yield {"url": url, "root": root, "process": process}
    finally:
        stop(process)


def logged_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    assert client.post("/login", data={"username": "tester", "password": PASSWORD}).status_code == 200
    return client


# ---------------------------------------------------------------------------------------------------------
# 9. Every route but the login page needs the session cookie


def test_without_the_cookie_only_the_login_page_answers(studio):
    anonymous = httpx.Client(base_url=studio["url"], timeout=60)
    page = anonymous.get("/")
    assert page.status_code == 200 and '"auth_required":true' in page.text.replace(" ", "")
    for method, route, body in ANONYMOUS_REFUSED:
        response = anonymous.request(method, route, json=body)
        assert response.status_code == 401, (route, response.status_code, response.text[:200])
    assert "Log in first" in anonymous.post("/gradio_api/cancel", json=ANONYMOUS_REFUSED[0][2]).json()["detail"]
    chinese = anonymous.get("/gradio_api/app_id", headers={"accept-language": "zh-CN,zh"})
    assert "请先登录" in chinese.json()["detail"]

    client = logged_in(studio["url"])
    assert client.post("/gradio_api/cancel", json=ANONYMOUS_REFUSED[0][2]).status_code == 200
    config = client.get("/config")
    assert config.status_code == 200 and config.json()["max_file_size"] == 512 * 1024**2  # 8: at the server


def test_the_password_is_not_in_the_process_list(studio):
    command_line = Path(f"/proc/{studio['process'].pid}/cmdline").read_bytes().decode()
    assert PASSWORD not in command_line and "tester" not in command_line


# ---------------------------------------------------------------------------------------------------------
# 10. Guessing waits longer after each wrong password; the right one clears it


def test_wrong_passwords_make_the_next_try_wait_longer_each_time(studio):
    client = httpx.Client(base_url=studio["url"], timeout=60)

    def attempt(password: str) -> httpx.Response:
        return client.post("/login", data={"username": "tester", "password": password})

    assert [attempt(f"guess {n}").status_code for n in range(4)] == [400] * 4  # 3 free, the 4th sets a wait
    waits = []
    for guess in range(2):
        refused = attempt("guess again")
        assert refused.status_code == 429 and "try again in" in refused.json()["detail"]
        waits.append(int(refused.headers["retry-after"]))
        deadline = time.monotonic() + 60
        while attempt("guess after waiting" if guess == 0 else PASSWORD).status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert waits[1] > waits[0]
    assert attempt("typo").status_code == 400  # the right password started the count again


# ---------------------------------------------------------------------------------------------------------
# 8. Uploads: a disk budget, and temporary files deleted after import or refusal


def test_an_upload_past_the_disk_budget_is_refused_before_it_is_written(studio):
    from webui.gate import UPLOAD_BUDGET

    uploads = studio["root"] / "uploads"
    client = logged_in(studio["url"])
    accepted = client.post("/gradio_api/upload", files={"files": ("small.jsonl", b'{"text": "hi"}\n')})
    assert accepted.status_code == 200 and Path(accepted.json()[0]).is_relative_to(uploads)
    filler = uploads / "filler.bin"
    with filler.open("wb") as sparse:  # takes no disk; counts against the budget by its size
        sparse.truncate(UPLOAD_BUDGET)
    try:
        refused = client.post("/gradio_api/upload", files={"files": ("more.jsonl", b'{"text": "hi"}\n')})
    finally:
        filler.unlink()
    assert refused.status_code == 507 and "upload folder holds" in refused.json()["detail"]
    assert not list(uploads.rglob("more.jsonl"))


def test_the_data_tab_deletes_temporary_uploads_after_import_or_a_final_refusal(data_dirs, tmp_path, monkeypatch):
    from webui.tabs.data import import_upload, preview_upload

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    good, unreadable, own = (tmp_path / "uploads" / "ab12" / "good.json", tmp_path / "uploads" / "cd34" / "bin.json",
                             tmp_path / "own.json")
    for path in (good, unreadable):
        path.parent.mkdir(parents=True)
    rows = json.dumps([{"instruction": "hi", "input": "", "output": "hello"}] * 3)
    good.write_text(rows)
    own.write_text(rows)
    unreadable.write_bytes(b"PK\x03\x04 a zip file")

    assert "Cannot use this file" in preview_upload(str(unreadable), "auto", "en")[0]
    assert not unreadable.parent.exists()  # not one row: unusable whatever the format, deleted at once
    found, _, name, *_ = preview_upload(str(good), "auto", "en")
    assert good.exists()  # still needed for the import
    message, _ = import_upload(str(good), name, "auto", "en")
    assert "good" in message and not good.parent.exists() and (data_dirs / "data" / "good.json").exists()
    import_upload(str(own), "own", "auto", "en")
    assert own.exists()  # a file outside gradio's upload folder is the user's own: never deleted
