"""What every backend sits behind: the API key, the request size, max_tokens and the number of open requests.

An ASGI middleware, so the llama.cpp server's own app is guarded the same way as the studio's. Off loopback a key
is required (the same rule as the studio's login); it comes from a file or the STUDIO_API_KEY variable, never
from the command line, where every user of the machine sees it in `ps`. A client that goes away frees its slot:
the app's call ends when the connection does, and the slot is released in `finally`.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from engine.messages import say

KEY_VARIABLE = "STUDIO_API_KEY"
GENERATING = ("/v1/chat/completions", "/v1/completions")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20  # 1 MiB of JSON: far more than any prompt the served models can read
    max_tokens: int = 2048  # the most new tokens one request may ask for
    default_max_tokens: int = 256  # when a request names none
    max_open_requests: int = 32  # generating requests at once (streams included); more are refused with 429


class APIError(Exception):
    """An OpenAI-shaped error: HTTP `status`, `message`, `kind` (the error's type) and `code`."""

    def __init__(self, status: int, message: str, kind: str, code: str):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def error_body(message: str, kind: str, code: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# ----------------------------------------------------------------------------------------------- the key

def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_key(key_file: str | None) -> str | None:
    """The key from `key_file` (its first line) or the STUDIO_API_KEY variable, which is then removed from this
    process's environment so that nothing it starts inherits it. ValueError when the file is unusable."""
    from_environment = os.environ.pop(KEY_VARIABLE, None)
    if not key_file:
        return from_environment or None
    try:
        lines = Path(key_file).read_text(encoding="utf-8").split()
    except OSError as err:
        raise ValueError(say("serve.key_file_unreadable", path=key_file, error=str(err))) from None
    if len(lines) != 1:
        raise ValueError(say("serve.key_file_lines", path=key_file))
    return lines[0]


def check_exposure(host: str, key: str | None) -> None:
    if key is None and not is_loopback(host):
        raise ValueError(say("serve.key_required", host=host, variable=KEY_VARIABLE))


# ----------------------------------------------------------------------------------------------- middleware

class Guard:
    """ASGI middleware in front of a backend's app."""

    def __init__(self, app, key: str | None, limits: Limits):
        self.app, self.key, self.limits, self.open_requests = app, key, limits, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.key is not None and not self._authorised(scope):
            return await _refuse(send, 401, say("serve.wrong_key"), "invalid_request_error", "invalid_api_key")
        if scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body = await self._body(receive, send)
        if body is None:
            return None
        if problem := self._problem(scope["path"], body):
            return await _refuse(send, *problem)
        await self._generate(scope, body, receive, send)

    def _authorised(self, scope) -> bool:
        headers = dict(scope["headers"])
        given = headers.get(b"authorization", b"").decode("latin-1").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self.key.encode())

    async def _body(self, receive, send) -> bytes | None:
        """The whole request body, or None once a 413 has been sent for one over the limit."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.limits.max_body_bytes:
                await _refuse(send, 413, say("serve.too_large", limit=self.limits.max_body_bytes),
                              "invalid_request_error", "request_too_large")
                return None
            if not message.get("more_body"):
                return body

    def _problem(self, path: str, body: bytes) -> tuple | None:
        if path not in GENERATING:
            return None
        try:
            request = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            return 400, say("serve.not_json", error=str(err)), "invalid_request_error", "invalid_json"
        asked = [request.get(name) for name in ("max_tokens", "max_completion_tokens")] if isinstance(request, dict) \
            else []
        if any(isinstance(value, int) and value > self.limits.max_tokens for value in asked):
            return 400, say("serve.max_tokens", limit=self.limits.max_tokens), "invalid_request_error", \
                "max_tokens_too_large"
        if self.open_requests >= self.limits.max_open_requests:
            return 429, say("serve.busy", limit=self.limits.max_open_requests), "rate_limit_exceeded", \
                "too_many_requests"
        return None

    async def _generate(self, scope, body: bytes, receive, send) -> None:
        """Pass the request on with its body replayed; its slot stays taken until the app's call ends."""
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when the client goes away

        counted = scope["path"] in GENERATING
        self.open_requests += counted
        try:
            await self.app(scope, replay, send)
        finally:
            self.open_requests -= counted


async def _refuse(send, status: int, message: str, kind: str, code: str) -> None:
    payload = json.dumps(error_body(message, kind, code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
