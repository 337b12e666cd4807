"""Start Finetune Studio: `python launch.py`, then open the printed address.

  --host 0.0.0.0 --auth user:password   serve other machines (a password is required off localhost)
  --port 7860                           default: the first free port from 7860
  --lang zh                             start in Simplified Chinese (switchable on the page)
  --share                               a public gradio.live link (off unless asked for)
  --workspace DIR                       where your datasets, runs and exports go (default: workspace/ here)
"""
from __future__ import annotations

import argparse
import os
import sys

# Before anything heavy is imported: no network calls to the Hub or analytics; everything local.
for variable, value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(variable, value)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Finetune Studio: fine-tune LLMs in the browser")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: first free from 7860)")
    parser.add_argument("--auth", default=None, metavar="USER:PASSWORD", help="require this login")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="starting language")
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link")
    parser.add_argument("--workspace", default=None, metavar="DIR",
                        help="folder for your datasets, runs and exports (default: workspace/ in the project; "
                             "the CLI reads STUDIO_WORKSPACE)")
    return parser.parse_args(argv)


def check_access(host: str, auth: str | None, share: bool) -> tuple[str, str] | None:
    """The login pair; exits with an explanation when the studio would be open to others without one."""
    if auth is not None:
        user, sep, password = auth.partition(":")
        if not (sep and user and password):
            sys.exit("error: --auth must look like user:password")
        return user, password
    if host not in LOCAL_HOSTS or share:
        reach = "a public share link" if share else f"--host {host}"
        sys.exit(
            f"error: {reach} makes the studio reachable from other machines, and anyone who reaches it can run "
            "code and read files on this one. Add --auth user:password, or leave --host at 127.0.0.1."
        )
    return None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    auth = check_access(args.host, args.auth, args.share)
    if args.workspace:  # the environment carries it to the training workers too
        os.environ["STUDIO_WORKSPACE"] = os.path.abspath(os.path.expanduser(args.workspace))
    from webui.app import build_app, launch_options  # gradio loads here; torch only when a model is

    app = build_app(args.lang)
    app.queue(default_concurrency_limit=4)
    _, local_url, share_url = app.launch(
        server_name=args.host,
        server_port=args.port,
        auth=auth,
        share=args.share,
        ssr_mode=False,
        quiet=True,
        prevent_thread_lock=True,
        footer_links=[],
        # gradio's own check that localhost answers (a HEAD of the whole page, given 3 s) fails on a loaded
        # machine and then refuses to start; the page is served either way, and we print its address.
        _frontend=False,
        **launch_options(),
    )
    print(f"Finetune Studio is running at {local_url}", flush=True)
    if share_url:
        print(f"Public link: {share_url}", flush=True)
    app.block_thread()


if __name__ == "__main__":
    main()
