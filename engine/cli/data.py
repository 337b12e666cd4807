"""Dataset tools: check a dataset file, fill in a registered dataset's placeholders."""
from __future__ import annotations

import sys
from pathlib import Path

from engine.data.formats import FORMATS


def add_parsers(commands) -> None:
    data = commands.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True)
    check = data.add_parser("check", help="check a dataset file; exit 0 when usable, 1 when not")
    check.add_argument("path", help="a dataset file, or the name of a registered dataset")
    check.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="skip detection: use this format")
    check.add_argument("--cutoff-len", type=int, default=None,
                       help="report rows far longer than this many tokens (estimated)")
    fill = data.add_parser("fill", help="register a copy of a dataset with its {{name}} placeholders filled in")
    fill.add_argument("name", help="the registered dataset")
    fill.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a placeholder's value")
    fill.add_argument("--as", dest="new_name", required=True, help="the name of the new dataset")
    for command in (check, fill):
        command.add_argument("--dataset-dir", default="",
                             help="a folder with its own dataset_info.json (LLaMA-Factory's data/) to read names from")


def command_data(args) -> int:
    from engine.data.registry import DataError, using_dataset_dir

    try:
        with using_dataset_dir(args.dataset_dir):
            return DATA_COMMANDS[args.data_command](args)
    except DataError as err:
        print(err.args[0], file=sys.stderr)
        return 1


def command_data_check(args) -> int:
    from engine.data.checker import check_file, check_registered
    from engine.data.registry import read_registry

    path = Path(args.path)
    registered = not path.exists() and args.path in read_registry()
    if registered:
        report = check_registered(args.path, args.cutoff_len)
    else:
        report = check_file(path, args.format, args.cutoff_len)
    print(report.render())
    return 0 if report.ok else 1


def command_data_fill(args) -> int:
    from engine.data.cleaning import save_filled
    from engine.data.placeholders import parse_values

    print(save_filled(args.name, args.new_name, parse_values("\n".join(args.set))))
    return 0


DATA_COMMANDS = {"check": command_data_check, "fill": command_data_fill}
