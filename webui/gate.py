"""What reaches the studio's server: one ASGI middleware in front of gradio's routes.

With a login (--auth), every route but the login page needs the session cookie gradio set at login: gradio
itself leaves some routes open (`/gradio_api/cancel` stops any session's job given its hash, the heartbeat
keeps a session's state alive), so the gate checks the cookie before any of them. A client that keeps guessing
passwords waits longer after each wrong one. Uploads are refused when they would take the upload folder past
its disk budget, before a byte is written.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import HTTPConnection

# What a browser needs to draw the login page and log in; gradio serves `/` as the login form until then.
# Gradio's launch() calls startup-events without a cookie; it runs the startup events that once and does nothing
# after.
OPEN_PATHS = {"/", "/login", "/login/", "/logout", "/favicon.ico", "/robots.txt", "/manifest.json", "/theme.css",
              "/gradio_api/theme.css", "/gradio_api/startup-events"}
OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
LOGIN_PATHS = {"/login", "/login/"}
UPLOAD_PATHS = {"/gradio_api/upload", "/gradio_api/upload/"}

FREE_GUESSES = 3  # typos; after these each wrong password doubles the wait: 1 s, 2 s, 4 s, ... up to LONGEST_WAIT
LONGEST_WAIT = 15 * 60  # seconds
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

    def wait_left(self, client: str) -> float:
        return max(0.0, self.until.get(client, 0.0) - self.clock())

    def attempt(self, client: str) -> None:
        """Count an attempt as wrong before the password is checked, so that parallel guesses wait too."""
        count = self.wrong[client] = self.wrong.get(client, 0) + 1
        if count > FREE_GUESSES:
            self.until[client] = self.clock() + min(2.0 ** (count - FREE_GUESSES - 1), LONGEST_WAIT)

    def succeeded(self, client: str) -> None:
        self.wrong.pop(client, None)
        self.until.pop(client, None)


# ---------------------------------------------------------------------------------------------------------
# The middleware


class Gate:
    """ASGI middleware for gradio's App (it reads the login state gradio keeps: `auth`, `tokens`, `cookie_id`)."""

    def __init__(self, app, guesses: Guesses | None = None):
        self.app = app
        self.guesses = guesses or Guesses()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path, gradio_app = scope["path"], scope["app"]
        if gradio_app.auth is not None and not self._open(path) and not self._logged_in(scope, gradio_app):
            return await _refuse(scope, send, 401, "gate.login_required")
        if scope["type"] == "http" and scope["method"] == "POST":
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

    @staticmethod
    def _logged_in(scope, gradio_app) -> bool:
        cookies = HTTPConnection(scope).cookies
        tokens = (cookies.get(f"access-token-{gradio_app.cookie_id}"),
                  cookies.get(f"access-token-unsecure-{gradio_app.cookie_id}"))
        return any(token in gradio_app.tokens for token in tokens if token)

    async def _login(self, scope, receive, send):
        """Gradio checks the password; the gate makes a client that got it wrong too often wait first."""
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.guesses.wait_left(client)
        if wait > 0:
            return await _refuse(scope, send, 429, "gate.wait", {"retry-after": str(int(wait) + 1)},
                                 seconds=int(wait) + 1)
        self.guesses.attempt(client)

        async def watched(message):
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.guesses.succeeded(client)
            await send(message)

        await self.app(scope, receive, watched)


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
