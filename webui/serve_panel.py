"""The Serve panel under the Export tab: start an OpenAI-compatible server for the picked run(s) in the background,
see its URL and model ids, copy a curl or Python snippet, stop it. engine/serve/processes.py keeps the servers
in a state file of the workspace, so they stay listed (and running) across page reloads until stopped here.
"""
from __future__ import annotations

import json

import gradio as gr

from engine.serve.processes import ServerRecord, list_servers, log_tail, server_status, start_server, stop_server
from webui import run_view
from webui.i18n import Labels, localize, text


# ---------------------------------------------------------------------------------------------------------
# Layout


def build_serve_panel(labels: Labels) -> dict:
    with labels.add(gr.Accordion(text("serve.title", labels.lang), open=False, elem_id="serve-panel"), "serve.title"):
        parts = {"intro": labels.markdown("serve.intro")}
        with gr.Row():
            parts["runs"] = labels.labelled(gr.Dropdown, "serve.runs", multiselect=True, elem_id="serve-runs", scale=4,
                                            choices=run_view.source_choices(labels.lang, include_base=False))
            parts["start"] = labels.button("serve.start", variant="primary", elem_id="serve-start", scale=1)
        parts["message"] = gr.Markdown(elem_id="serve-message")
        parts["servers"] = gr.Markdown(servers_markdown(labels.lang), elem_id="serve-servers")
        with gr.Row():
            parts["picked"] = labels.labelled(gr.Dropdown, "serve.server", choices=server_choices(), scale=4,
                                              elem_id="serve-picked")
            parts["refresh"] = labels.button("serve.refresh", size="sm", scale=1)
            parts["stop"] = labels.button("serve.stop", variant="stop", elem_id="serve-stop", scale=1)
        parts["curl"] = labels.labelled(gr.Code, "serve.curl", language="shell", elem_id="serve-curl")
        parts["python"] = labels.labelled(gr.Code, "serve.python", language="python", elem_id="serve-python")
    return parts


def wire_serve_panel(parts: dict, lang: gr.Radio, tab: gr.Tab) -> None:
    shown = [parts[name] for name in ("servers", "picked", "curl", "python")]
    parts["start"].click(start, [parts["runs"], lang], [parts["message"], *shown])
    parts["stop"].click(stop, [parts["picked"], lang], [parts["message"], *shown])
    for event in (tab.select, parts["refresh"].click):
        event(refresh, [parts["picked"], lang], shown)
        event(run_choices, lang, parts["runs"])
    parts["picked"].input(snippets_of, parts["picked"], [parts["curl"], parts["python"]])


# ---------------------------------------------------------------------------------------------------------
# Handlers


def start(run_dirs: list[str] | None, lang: str) -> tuple:
    if not run_dirs:
        return (text("serve.pick", lang), *refresh(None, lang))
    try:
        record = start_server(list(run_dirs))
    except (ValueError, OSError) as err:
        return (text("serve.failed", lang, error=localize(err, lang)), *refresh(None, lang))
    return (text("serve.started", lang, url=record.url), *refresh(str(record.port), lang))


def stop(port: str | None, lang: str) -> tuple:
    if not port:
        return (text("serve.pick_server", lang), *refresh(None, lang))
    stop_server(int(port))
    return (text("serve.stopped", lang, port=port), *refresh(None, lang))


def refresh(picked: str | None, lang: str) -> tuple:
    """(the servers as Markdown, the server picker, its curl and Python snippets)."""
    choices = server_choices()
    ports = [port for _, port in choices]
    picked = picked if picked in ports else (ports[-1] if ports else None)
    return (servers_markdown(lang), gr.update(choices=choices, value=picked), *snippets_of(picked))


def run_choices(lang: str):
    return gr.update(choices=run_view.source_choices(lang, include_base=False))


def server_choices() -> list[tuple[str, str]]:
    return [(f"{record.url} · {', '.join(record.models)}", str(record.port)) for record in list_servers()]


def servers_markdown(lang: str) -> str:
    records = list_servers()
    if not records:
        return text("serve.none", lang)
    return "\n".join(_server_line(record, lang) for record in records)


def _server_line(record: ServerRecord, lang: str) -> str:
    status = server_status(record)
    line = (f"- `{record.url}` · {text(f'serve.status.{status}', lang)} · "
            f"{text('serve.models', lang)}: {', '.join(f'`{model}`' for model in record.models)}")
    if status == "exited":
        line += f"\n\n  ```\n{log_tail(record)}\n  ```"
    return line


def snippets_of(port: str | None) -> tuple[str, str]:
    record = next((record for record in list_servers() if str(record.port) == port), None)
    return snippets(record) if record else ("", "")


def snippets(record: ServerRecord) -> tuple[str, str]:
    """A curl command and a Python (openai package) program that ask the server's first trained model."""
    model = next((name for name in record.models if name != "base"), record.models[0])
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 64})
    curl = (f"curl {record.url}/chat/completions \\\n  -H 'Content-Type: application/json' \\\n"
            f"  -d '{body}'")
    python = (f'from openai import OpenAI\n\nclient = OpenAI(base_url="{record.url}", api_key="none")\n'
              f'reply = client.chat.completions.create(\n    model="{model}",\n'
              f'    messages=[{{"role": "user", "content": "Hello!"}}],\n    max_tokens=64,\n)\n'
              f"print(reply.choices[0].message.content)\n")
    return curl, python
