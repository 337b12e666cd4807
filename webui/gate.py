"""What reaches the studio's server: one ASGI middleware in front of gradio's routes.

Only the studio's own page may drive it, logged in or not: a request that another page's script sends (another
port on this machine is another origin, though the same "site" for cookies) carries a foreign Origin or a
Sec-Fetch-Site other than same-origin, and is refused whatever its method; on a loopback server the Host must be
a loopback name too (a rebound DNS name of an attacker's page reaches 127.0.0.1 with its own Host).
With a login (--auth), every route but the login page needs a session cookie the gate saw issued, and a
session ends after `session_seconds` (the cookie's Max-Age and the server's own clock). An anonymous `/` is a
small login page of the gate's own: gradio's would carry the API schema of every event. A client that keeps
guessing passwords waits longer after each wrong one; only wrong ones count, and attempts from one address are
checked one at a time, so that parallel guesses wait too while parallel right ones all pass. Uploads are refused
when they would take the upload folder past its disk budget, before a byte is written.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request

# What a browser needs to draw the login page and log in. Gradio's launch() calls startup-events without a
# cookie; it runs the startup events that once and does nothing after.
OPEN_PATHS = {"/login", "/login/", "/logout", "/favicon.ico", "/robots.txt", "/manifest.json", "/theme.css",
              "/gradio_api/theme.css", "/gradio_api/startup-events"}
OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
LOGIN_PATHS = {"/login", "/login/"}
LOGOUT_PATHS = {"/logout", "/logout/"}
PAGE_PATHS = {"/", ""}
UPLOAD_PATHS = {"/gradio_api/upload", "/gradio_api/upload/"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
SAFE_METHODS = {"GET", "HEAD"}

FREE_GUESSES = 3  # typos; after these each wrong password doubles the wait: 1 s, 2 s, 4 s, ... up to LONGEST_WAIT
LONGEST_WAIT = 15 * 60  # seconds
SESSION_SECONDS = 24 * 60 * 60  # a login lasts a day
LOGIN_BODY_LIMIT = 64 * 1024  # bytes of a login form
UPLOAD_BUDGET = 2 * 1024**3  # bytes the upload folder may hold; gradio also deletes old uploads (app.py)
DISK_RESERVE = 256 * 1024**2  # bytes an upload must leave free on the disk


def upload_folder() -> Path:
    """Where gradio writes uploads: GRADIO_TEMP_DIR, else <temp>/gradio (gradio's documented default)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


# ---------------------------------------------------------------------------------------------------------
# Password guessing


@dataclass
class Guesses:
    """Wrong passwords per client address, and until when (time.monotonic) each must wait."""

    clock: Callable[[], float] = time.monotonic
    wrong: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)
    turns: dict[str, asyncio.Lock] = field(default_factory=dict)

    def wait_left(self, client: str) -> float:
        return max(0.0, self.until.get(client, 0.0) - self.clock())

    def turn(self, client: str) -> asyncio.Lock:
        """One attempt at a time per address: the next one sees the wait the last wrong one set."""
        return self.turns.setdefault(client, asyncio.Lock())

    def failed(self, client: str) -> None:
        count = self.wrong[client] = self.wrong.get(client, 0) + 1
        if count > FREE_GUESSES:
            self.until[client] = self.clock() + min(2.0 ** (count - FREE_GUESSES - 1), LONGEST_WAIT)

    def succeeded(self, client: str) -> None:
        self.wrong.pop(client, None)
        self.until.pop(client, None)


# ---------------------------------------------------------------------------------------------------------
# Who may call: the studio's own page only


def foreign_origin(scope) -> bool:
    """True for a request another page's script (or a rebound DNS name) sent. Clients that are no browser (the
    CLI, curl, gradio_client) send neither Origin nor Sec-Fetch-Site and cannot be made to act by a page."""
    headers = HTTPConnection(scope).headers
    host = headers.get("host", "").lower()
    if _loopback(scope.get("server")) and _host_name(host) not in LOOPBACK_NAMES:
        return True
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin.lower()).netloc != host:
        return True
    site = headers.get("sec-fetch-site")
    if site is None or site in ("same-origin", "none"):
        return False
    # A link from another page may open the studio; what that page then does is same-origin.
    return not (scope.get("method") in SAFE_METHODS and headers.get("sec-fetch-mode") == "navigate")


def _host_name(host: str) -> str:
    return urlsplit("//" + host).hostname or ""


def _loopback(server) -> bool:
    try:
        return bool(server) and ipaddress.ip_address(server[0]).is_loopback
    except ValueError:
        return server[0] == "localhost"


class Outermost:
    """The origin check again, outside gradio's CORS middleware (which would answer a preflight, and add
    `access-control-allow-origin: <any local origin>` with credentials to every answer, before the gate sees
    the request). Installed on the running app by `guard_outermost`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and foreign_origin(scope):
            return await _refuse(scope, send, 403, "gate.foreign_origin")
        await self.app(scope, receive, send)


def guard_outermost(server_app) -> None:
    """Put Outermost before every other middleware of gradio's running app (Starlette builds the stack once;
    gradio adds its CORS middleware after ours, so ours cannot be first by declaration). Until this runs, the
    gate inside refuses the same requests, only with gradio's CORS headers on the refusal."""
    stack = server_app.middleware_stack or server_app.build_middleware_stack()
    if not isinstance(stack, Outermost):
        server_app.middleware_stack = Outermost(stack)


# ---------------------------------------------------------------------------------------------------------
# The middleware


class Gate:
    """ASGI middleware for gradio's App (it reads the login state gradio keeps: `auth`, `tokens`, `cookie_id`)."""

    def __init__(self, app, guesses: Guesses | None = None, session_seconds: float = SESSION_SECONDS):
        self.app = app
        self.guesses = guesses or Guesses()
        self.session_seconds = session_seconds
        self.issued: dict[str, float] = {}  # session token -> when it was issued (time.monotonic)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if foreign_origin(scope):
            return await _refuse(scope, send, 403, "gate.foreign_origin")
        path, gradio_app, method = scope["path"], scope["app"], scope.get("method")
        if path in LOGOUT_PATHS:
            return await self._logout(scope, receive, send)
        if gradio_app.auth is not None and not self._open(path) and not self._logged_in(scope, gradio_app):
            if path in PAGE_PATHS and method in SAFE_METHODS:
                return await _login_page(scope, send, gradio_app)
            return await _refuse(scope, send, 401, "gate.login_required")
        if method == "POST":
            if path in LOGIN_PATHS and gradio_app.auth is not None:
                return await self._login(scope, receive, send)
            if path in UPLOAD_PATHS:
                refusal = _upload_refusal(scope, Path(gradio_app.uploaded_file_dir))
                if refusal:
                    status, key, values = refusal
                    return await _refuse(scope, send, status, key, **values)
        await self.app(scope, receive, send)

    @staticmethod
    def _open(path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    def _logged_in(self, scope, gradio_app) -> bool:
        """A token gradio knows, issued through the gate less than session_seconds ago."""
        cookies = HTTPConnection(scope).cookies
        tokens = {cookies.get(f"access-token-{gradio_app.cookie_id}"),
                  cookies.get(f"access-token-unsecure-{gradio_app.cookie_id}")} - {None}
        now = time.monotonic()
        for token, issued in list(self.issued.items()):
            if now - issued > self.session_seconds:  # expired: gradio forgets it as well
                self.issued.pop(token, None)
                gradio_app.tokens.pop(token, None)
        return any(token in gradio_app.tokens and token in self.issued for token in tokens)

    async def _logout(self, scope, receive, send):
        """POST only (a link or an image on another page cannot log the user out); gradio's route is a GET."""
        if scope.get("method") != "POST":
            return await _refuse(scope, send, 405, "gate.logout_post", {"allow": "POST"})
        await self.app({**scope, "method": "GET"}, receive, send)

    async def _login(self, scope, receive, send):
        """Gradio checks the password; the gate makes a client that got it wrong too often wait first, and gives
        the session cookies SameSite=Lax and a lifetime."""
        body = await _read_body(receive, LOGIN_BODY_LIMIT)
        if body is None:
            return await _refuse(scope, send, 413, "gate.login_too_large")
        client = (scope.get("client") or ("unknown",))[0]
        async with self.guesses.turn(client):
            wait = self.guesses.wait_left(client)
            if wait > 0:
                return await _refuse(scope, send, 429, "gate.wait", {"retry-after": str(int(wait) + 1)},
                                     seconds=int(wait) + 1)
            outcome = []

            async def watched(message):
                if message["type"] == "http.response.start":
                    outcome.append(message["status"])
                    if message["status"] == 200:
                        message["headers"] = self._session_cookies(message.get("headers", []))
                await send(message)

            await self.app(scope, _replay(body), watched)
            if outcome[:1] == [200]:
                self.guesses.succeeded(client)
            elif outcome[:1] == [400]:  # gradio's "Incorrect credentials"
                self.guesses.failed(client)

    def _session_cookies(self, headers: list) -> list:
        """Gradio's cookies with SameSite=Lax and Max-Age; their token is remembered with the time it was issued."""
        rewritten = []
        for name, value in headers:
            if name.lower() == b"set-cookie":
                cookie = value.decode("latin-1")
                self.issued[cookie.split("=", 1)[1].split(";", 1)[0]] = time.monotonic()
                cookie = re.sub(r"(?i);\s*samesite=\w+", "", cookie)
                value = f"{cookie}; SameSite=Lax; Max-Age={int(self.session_seconds)}".encode("latin-1")
            rewritten.append((name, value))
        return rewritten


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None past `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        size += len(message.get("body", b""))
        if size > limit:
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _login_page(scope, send, gradio_app) -> None:
    """Gradio's own page template with the login form's config only: no API schema, no app config."""
    from gradio import route_utils
    from gradio.routes import templates

    request = Request(scope)
    root = route_utils.get_root_url(request=request, route_path="/", root_path=gradio_app.root_path)
    blocks = gradio_app.get_blocks()
    config = {"auth_required": True, "auth_message": blocks.auth_message, "space_id": None, "root": root,
              "page": {"": {"layout": {}}}, "pages": [""], "components": [], "dependencies": [],
              "current_page": ""}
    response = templates.TemplateResponse(request=request, name="frontend/index.html",
                                          context={"base_url": "./", "config": config, "gradio_api_info": {}})
    await response(scope, _replay(b""), send)


def _upload_refusal(scope, folder: Path) -> tuple | None:
    """(status, text key, params) when an upload must not be written: no declared length, or past the budget."""
    length = HTTPConnection(scope).headers.get("content-length", "")
    if not length.isdigit():
        return 411, "gate.upload_length", {}
    used = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
    if used + int(length) > UPLOAD_BUDGET:
        return 507, "gate.upload_budget", {"used": used // 1024**2, "budget": UPLOAD_BUDGET // 1024**2}
    free = shutil.disk_usage(folder if folder.is_dir() else folder.parent).free
    if free - int(length) < DISK_RESERVE:
        return 507, "gate.upload_disk", {"free": free // 1024**2}
    return None


async def _refuse(scope, send, status: int, key: str, headers: dict | None = None, **values) -> None:
    """An error response (or a closed websocket) whose detail is in the browser's language."""
    from webui.i18n import text

    if scope["type"] == "websocket":
        return await send({"type": "websocket.close", "code": 1008})
    lang = "zh" if HTTPConnection(scope).headers.get("accept-language", "").lower().startswith("zh") else "en"
    body = json.dumps({"detail": text(key, lang, **values)}, ensure_ascii=False).encode()
    extra = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})
