"""A model's own chat template is code from its author: before the studio renders with it, one sample
conversation is rendered in a separate process with a memory limit, a time limit and a bound on what it
writes, so that a template that writes hundreds of megabytes or loops is refused by name instead of taking
the server's memory or a worker's time. (Transformers renders in a Jinja sandbox, which stops file and
attribute access but bounds neither size nor time; a process limit is the only bound Jinja cannot talk its way
around, e.g. by doubling a string in a namespace.)
"""
from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache

from engine.messages import say
from engine.paths import PROJECT_DIR

MAX_OUTPUT_CHARS = 1_000_000  # a sample of four short messages renders to a few hundred characters
MAX_MEMORY = 1024**3  # bytes of address space for the rendering process
MAX_SECONDS = 20.0  # including the process's start: 0.3 s idle, seconds on a loaded machine
TOO_LONG = 3  # the rendering process's exit status when the output or its memory went past the bound
SAMPLE = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hello?"},
          {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye?"}]


class TemplateUnbounded(ValueError):
    """The template went past a bound while rendering the sample."""


def check_template_bounds(source: str, special_tokens: dict | None = None) -> None:
    """Raise TemplateUnbounded when rendering SAMPLE with `source` goes past a bound. Errors of the template's
    own (an unsupported role, a tag only transformers knows) are left to the real render to report."""
    tokens = {name: value for name, value in (special_tokens or {}).items() if isinstance(value, str)}
    _check(json.dumps({"source": source, "tokens": tokens}, sort_keys=True))


@lru_cache(maxsize=64)  # once per template and tokens in a process: loading a model again costs nothing
def _check(request: str) -> None:
    try:
        done = subprocess.run([sys.executable, "-c", "from engine.data.template_bounds import main; main()"],
                              input=request, capture_output=True, text=True, timeout=MAX_SECONDS, cwd=PROJECT_DIR)
    except subprocess.TimeoutExpired:
        raise TemplateUnbounded(say("template.too_slow", seconds=MAX_SECONDS)) from None
    if done.returncode == TOO_LONG:
        raise TemplateUnbounded(say("template.too_long", limit=MAX_OUTPUT_CHARS))


def main() -> None:
    """In the rendering process: render the sample from stdin's template, exit TOO_LONG past a bound."""
    import resource

    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    resource.setrlimit(resource.RLIMIT_AS, (MAX_MEMORY, MAX_MEMORY))
    request = json.loads(sys.stdin.read())
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                extensions=[_generation_tags(), loopcontrols])
    environment.filters["tojson"] = lambda value, **_: json.dumps(value, ensure_ascii=False)
    environment.globals["raise_exception"] = _raise
    written = 0
    try:
        template = environment.from_string(request["source"])
        for chunk in template.generate(messages=SAMPLE, add_generation_prompt=True, tools=None, documents=None,
                                       **request["tokens"]):
            written += len(chunk)
            if written > MAX_OUTPUT_CHARS:
                sys.exit(TOO_LONG)
    except MemoryError:
        sys.exit(TOO_LONG)
    except Exception:  # noqa: BLE001  (the template's own errors: the real render reports them)
        sys.exit(0)


def _raise(message: str):
    import jinja2

    raise jinja2.TemplateError(message)


def _generation_tags():
    """Transformers marks trained text with {% generation %}; here the tags only render their body."""
    from jinja2 import nodes
    from jinja2.ext import Extension

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return Generation
