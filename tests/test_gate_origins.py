"""Issue 26, points 1-3: against `python launch.py` on loopback. An anonymous client gets a small login page
only; only the studio's own page may act on it (other ports, other host names, cross-site fetches are refused
with no CORS header), with a login or without; wrong passwords count from the real peer address, right ones
always pass once the current wait is over, and a session ends."""
from __future__ import annotations

import concurrent.futures
import json
import time

import httpx
import pytest

from test_gate import PASSWORD, start_studio, stop
from test_gate import logged_in as log_in

FOREIGN_ORIGINS = ["http://127.0.0.1:9999", "http://localhost:9999", "null", "http://evil.example"]


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    root = tmp_path_factory.mktemp("origins")
    process, url = start_studio(root, "--no-standby", env={"STUDIO_AUTH": f"tester:{PASSWORD}"})
    try:
        yield {"url": url, "root": root, "uploads": root / "uploads"}
    finally:
        stop(process)


# What a studio killed with -9 left (issue 26, point 11): an upload, a config offered for download, a registry
# half written.
LEFTOVERS = (".scratch/uploads/3f2a/big.zip", ".scratch/configs-x1/0a1b/run.yaml", "dataset_info.json9x.tmp")


@pytest.fixture(scope="module")
def open_studio(tmp_path_factory):
    """No --auth: on loopback, every page the user opens could reach it. Started over an earlier one's
    leftovers, its uploads in the workspace's scratch folder."""
    root = tmp_path_factory.mktemp("open")
    for leftover in LEFTOVERS:
        (root / "workspace" / leftover).parent.mkdir(parents=True, exist_ok=True)
        (root / "workspace" / leftover).write_text("left")
    (root / "workspace" / "data").mkdir()
    (root / "workspace" / "data" / "mine.json").write_text("[]")
    uploads = root / "workspace" / ".scratch" / "uploads"
    process, url = start_studio(root, "--no-standby", env={"GRADIO_TEMP_DIR": str(uploads)})
    try:
        yield {"url": url, "root": root, "uploads": uploads}
    finally:
        stop(process)


def requests_a_page_could_send(origin: str) -> list[tuple[str, str, dict]]:
    """What a script on another page would send: read the config, join the queue (read a run's config, register
    a dataset), upload, log out, and the CORS preflight that precedes them."""
    headers = {"origin": origin}
    return [("GET", "/config", {"headers": headers}),
            ("POST", "/gradio_api/queue/join", {"headers": headers, "json": {"fn_index": 0, "session_hash": "s"}}),
            ("POST", "/gradio_api/upload", {"headers": headers, "files": {"files": ("a.jsonl", b'{"text": 1}\n')}}),
            ("POST", "/logout", {"headers": headers}),
            ("OPTIONS", "/gradio_api/queue/join",
             {"headers": {**headers, "access-control-request-method": "POST"}})]


# ---------------------------------------------------------------------------------------------------------
# 1. Anonymous: the login page only


def test_an_anonymous_client_gets_a_small_login_page_and_nothing_of_the_app(gated):
    anonymous = httpx.Client(base_url=gated["url"], timeout=60)
    page = anonymous.get("/")
    assert page.status_code == 200 and '"auth_required":true' in page.text.replace(" ", "")
    assert len(page.content) < 64 * 1024 and "window.gradio_api_info = {}" in page.text
    assert str(gated["root"]) not in page.text and '"fn_index"' not in page.text
    assert anonymous.head("/").status_code == 200
    assert len(anonymous.get("/").content) == len(page.content)  # constant
    assert anonymous.get("/gradio_api/runs").status_code == 401
    full = log_in(gated["url"]).get("/")
    assert full.status_code == 200 and len(full.content) > 20 * len(page.content)


# ---------------------------------------------------------------------------------------------------------
# 2. Only the studio's own origin


@pytest.mark.slow
@pytest.mark.parametrize("which", ["gated", "open_studio"])
def test_a_page_on_another_origin_cannot_act_with_or_without_a_login(which, request):
    studio = request.getfixturevalue(which)
    client = log_in(studio["url"]) if which == "gated" else httpx.Client(base_url=studio["url"], timeout=60)
    uploads = studio["uploads"]
    before = sorted(uploads.rglob("*")) if uploads.exists() else []
    for origin in FOREIGN_ORIGINS:
        for method, route, options in requests_a_page_could_send(origin):
            response = client.request(method, route, **options)
            assert response.status_code == 403, (origin, route, response.status_code, response.text[:200])
            assert "access-control-allow-origin" not in response.headers, (origin, route)
            assert "another web page" in response.json()["detail"]
    same_site = client.get("/config", headers={"sec-fetch-site": "same-site", "sec-fetch-mode": "cors"})
    assert same_site.status_code == 403  # another port of 127.0.0.1 is the same site, not the same origin
    rebound = client.get("/config", headers={"host": "attacker.example"})
    assert rebound.status_code == 403  # a DNS name rebound to 127.0.0.1
    assert (sorted(uploads.rglob("*")) if uploads.exists() else []) == before
    zh = client.get("/config", headers={"origin": FOREIGN_ORIGINS[0], "accept-language": "zh-CN"})
    assert "工作室以外" in zh.json()["detail"]

    own = studio["url"]
    assert client.get("/config", headers={"origin": own, "sec-fetch-site": "same-origin"}).status_code == 200
    linked = client.get("/", headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"})
    assert linked.status_code == 200  # a link from elsewhere may still open the studio
    uploaded = client.post("/gradio_api/upload", headers={"origin": own},
                           files={"files": ("a.jsonl", b'{"text": 1}\n')})
    assert uploaded.status_code == 200


def test_logout_is_a_post_from_the_studio_and_cookies_are_lax_with_a_lifetime(gated):
    client = httpx.Client(base_url=gated["url"], timeout=60)
    login = client.post("/login", data={"username": "tester", "password": PASSWORD})
    cookies = login.headers.get_list("set-cookie")
    assert len(cookies) == 2 and all("SameSite=Lax" in c and "Max-Age=86400" in c for c in cookies), cookies
    assert not any("samesite=none" in c.lower() for c in cookies)
    assert client.get("/logout").status_code == 405  # a link or an <img> on another page cannot log out
    assert client.get("/config").status_code == 200
    assert client.post("/logout", headers={"origin": gated["url"]}).status_code == 302
    assert client.get("/config").status_code == 401


# ---------------------------------------------------------------------------------------------------------
# 3. The login limit


def test_x_forwarded_for_does_not_reset_the_count_and_a_right_password_waits_only_the_current_delay(gated):
    client = httpx.Client(base_url=gated["url"], timeout=60)

    def attempt(password: str, n: int) -> httpx.Response:
        return client.post("/login", data={"username": "tester", "password": password},
                           headers={"x-forwarded-for": f"10.0.{n // 250}.{n % 250 + 1}"})

    codes = [attempt("wrong", n).status_code for n in range(8)]
    assert codes[:4] == [400] * 4 and 429 in codes[4:], codes  # each try named a "new" client address
    refused = attempt("wrong", 9)
    # 429s are not failures: the wait stays that of the last wrong password (1 s, or 2 s on a slow machine)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) <= 3
    deadline = time.monotonic() + 60
    while (right := attempt(PASSWORD, 10)).status_code == 429:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert right.status_code == 200


def test_twenty_concurrent_right_logins_all_succeed(gated):
    def login(_):
        with httpx.Client(base_url=gated["url"], timeout=120) as client:
            return client.post("/login", data={"username": "tester", "password": PASSWORD}).status_code

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        assert list(pool.map(login, range(20))) == [200] * 20


@pytest.mark.slow
def test_a_session_ends_on_the_server_after_its_lifetime(tmp_path):
    process, url = start_studio(tmp_path, "--no-standby", "--session-hours", str(3 / 3600),
                                env={"STUDIO_AUTH": f"tester:{PASSWORD}"})
    try:
        login = httpx.post(url + "/login", data={"username": "tester", "password": PASSWORD}, timeout=60)
        cookies = login.headers.get_list("set-cookie")
        assert login.status_code == 200 and all("Max-Age=3" in c for c in cookies), cookies
        # Sent by hand, as a client that ignores Max-Age would: the server itself must refuse it later.
        session = {"cookie": "; ".join(c.split(";", 1)[0] for c in cookies)}
        assert httpx.get(url + "/config", headers=session, timeout=60).status_code == 200
        deadline = time.monotonic() + 60
        while (answer := httpx.get(url + "/config", headers=session, timeout=60)).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert answer.status_code == 401 and json.loads(answer.text)["detail"].startswith("Log in first")
    finally:
        stop(process)


def test_the_leftovers_of_a_killed_studio_are_gone_once_the_next_one_runs(open_studio):
    workspace = open_studio["root"] / "workspace"
    assert not any((workspace / leftover).exists() for leftover in LEFTOVERS)
    assert (workspace / "data" / "mine.json").exists()  # the user's own files stay
