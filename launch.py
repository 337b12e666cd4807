"""Start Finetune Studio: `python launch.py`, then open the printed address.

  --host 0.0.0.0 --auth-file FILE       serve other machines (a password is required off localhost); FILE
                                        holds one line user:password. STUDIO_AUTH=user:password works too;
                                        --auth user:password as well, but every user of the machine sees it in `ps`
  --port 7860                           default: the first free port from 7860
  --lang zh                             start in Simplified Chinese (switchable on the page)
  --share                               a public gradio.live link (off unless asked for)
  --workspace DIR                       where your datasets, runs and exports go (default: workspace/ here)
  --session-hours 24                    how long a login lasts
  --forwarded-allow-ips ADDRESSES       trust X-Forwarded-For from these proxy addresses (comma-separated;
                                        default: from none, so that no client can pick the address its wrong
                                        passwords are counted against)
  --no-standby                          do not keep a training process waiting with its libraries loaded (it
                                        makes Start ~6 s faster and holds ~0.5 GB of memory while it waits)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Before anything heavy is imported: no network calls to the Hub or analytics; everything local.
for variable, value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(variable, value)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
AUTH_VARIABLE = "STUDIO_AUTH"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Finetune Studio: fine-tune LLMs in the browser")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: first free from 7860)")
    parser.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                        help="require this login (visible to every user of the machine in `ps`: prefer --auth-file "
                             f"or {AUTH_VARIABLE})")
    parser.add_argument("--auth-file", default=None, metavar="FILE", help="require the login in FILE (user:password)")
    parser.add_argument("--session-hours", type=float, default=24.0, help="how long a login lasts (default 24)")
    parser.add_argument("--forwarded-allow-ips", default="", metavar="ADDRESSES",
                        help="comma-separated proxy addresses whose X-Forwarded-For is trusted (default: none)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="starting language")
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link")
    parser.add_argument("--workspace", default=None, metavar="DIR",
                        help="folder for your datasets, runs and exports (default: workspace/ in the project; "
                             "the CLI reads STUDIO_WORKSPACE)")
    parser.add_argument("--no-standby", action="store_true",
                        help="do not keep a training process waiting with its libraries loaded (it makes Start "
                             "~6 s faster and holds ~0.5 GB of memory while it waits)")
    return parser.parse_args(argv)


def read_login(args: argparse.Namespace) -> str | None:
    """user:password from --auth, --auth-file or the STUDIO_AUTH variable. The variable is removed from this
    process's environment, so the training workers it starts do not inherit the password."""
    from engine.messages import say

    from_environment = os.environ.pop(AUTH_VARIABLE, None)
    if args.auth and args.auth_file:
        sys.exit("error: " + say("launch.auth_twice"))
    if not args.auth_file:
        return args.auth or from_environment or None
    try:
        lines = Path(args.auth_file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        sys.exit("error: " + say("launch.auth_file_unreadable", path=args.auth_file, error=str(err)))
    logins = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if len(logins) != 1:
        sys.exit("error: " + say("launch.auth_file_lines", path=args.auth_file, count=len(logins)))
    return logins[0]


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
            "code and read files on this one. Add --auth-file FILE (one line user:password) or --auth user:password, "
            "or leave --host at 127.0.0.1."
        )
    return None


def clean_leftovers() -> None:
    """What a crash (or kill -9) of an earlier studio left: its scratch folder (configs offered for download, and
    uploads unless GRADIO_TEMP_DIR points elsewhere) and half-written registries. Gradio writes uploads into
    the scratch folder from now on."""
    import shutil

    from engine.data.registry import remove_stale_temporaries
    from engine.paths import scratch_dir

    shutil.rmtree(scratch_dir(), ignore_errors=True)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(scratch_dir() / "uploads"))
    remove_stale_temporaries()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    auth = check_access(args.host, read_login(args), args.share)
    if args.workspace:  # the environment carries it to the training workers too
        os.environ["STUDIO_WORKSPACE"] = os.path.abspath(os.path.expanduser(args.workspace))
    # uvicorn reads it when gradio starts the server: without it uvicorn trusts X-Forwarded-For from loopback,
    # and any local client could name the address its password guesses are counted against.
    os.environ["FORWARDED_ALLOW_IPS"] = args.forwarded_allow_ips
    clean_leftovers()
    # transformers imports itself on first use, and two handler threads making that first import at once can find
    # it half-initialised ("cannot import name 'AutoConfig'"): import it once here, before any handler runs.
    import transformers  # noqa: F401

    from webui.app import build_app, launch_options  # gradio loads here; torch only when a model is
    from webui.gate import guard_outermost

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
        **launch_options(args.lang, app, session_seconds=args.session_hours * 3600),
    )
    guard_outermost(app.server_app)
    print(f"Finetune Studio is running at {local_url}", flush=True)
    if not args.no_standby:
        from engine.runs.standby import keep_standby

        keep_standby()  # after the page is served: its imports would otherwise slow the first page down
    if share_url:
        print(f"Public link: {share_url}", flush=True)
    app.block_thread()


if __name__ == "__main__":
    main()
