"""Serving a run, several runs of one base, an export or a model through an OpenAI-compatible API."""
from __future__ import annotations

import sys

from engine.serve.backends import BACKENDS, Settings, choose_backend
from engine.serve.guard import KEY_VARIABLE, Limits, check_exposure, read_api_key
from engine.serve.targets import resolve_target


def add_parsers(commands) -> None:
    serve = commands.add_parser("serve", help="serve runs, an export or a model through an OpenAI-compatible API",
                                allow_abbrev=False)  # --api-key must not pass as --api-key-file: no key in `ps`
    serve.add_argument("targets", nargs="+", metavar="TARGET",
                       help="run folder(s) of one base, an export folder, a .gguf file or a model name")
    serve.add_argument("--host", default="127.0.0.1", help="another host than loopback needs an API key")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key-file", default=None, metavar="FILE",
                       help=f"require the key in FILE (or in the {KEY_VARIABLE} variable)")
    serve.add_argument("--backend", default="auto", choices=("auto", *BACKENDS))
    serve.add_argument("--max-tokens", type=int, default=Limits.max_tokens, help="the most a request may ask for")
    serve.add_argument("--max-open-requests", type=int, default=Limits.max_open_requests,
                       help="requests generating at once; more are answered 429")


def command_serve(args) -> int:
    try:
        key = read_api_key(args.api_key_file)
        check_exposure(args.host, key)
        target = resolve_target(args.targets)
        backend = choose_backend(target, args.backend)
        limits = Limits(max_tokens=args.max_tokens, max_open_requests=args.max_open_requests,
                        default_max_tokens=min(Limits.default_max_tokens, args.max_tokens))
        BACKENDS[backend].start(target, Settings(args.host, args.port, key, limits))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
