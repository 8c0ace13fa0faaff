"""Command line: train, predict, evaluate, explain, suspects, runs, quiz (and the app's worker).

Every mistake a user can make (a missing file, a wrong column, a run that does not exist) ends
with exit code 2 and one line `error: ...`; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields

from bertviz_lib import runs
from bertviz_lib.config import IG_TOLERANCE, DataConfig, TrainConfig

SHORT_FLAGS = {"learning_rate": ["--lr"]}
OUTPUT_DIR_HELP = "Folder of run folders (default: models)."


class UserError(Exception):
    """A problem with the user's input, reported as one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: one line too
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _add_settings(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One flag per dataclass field, with the field's help text and default."""
    for item in fields(config_class):
        flags = [f"--{item.name.replace('_', '-')}", *SHORT_FLAGS.get(item.name, [])]
        default = item.default if item.default is not MISSING else None
        kind = str(item.type)
        options = {
            "help": f"{item.metadata.get('help', '')} (default: {default})",
            "default": default,
        }
        if "choices" in item.metadata:
            options["choices"] = item.metadata["choices"]
        if kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif "float" in kind:
            options["type"] = float
        elif "int" in kind:
            options["type"] = int
        parser.add_argument(*flags, **options)


def _settings(args: argparse.Namespace, config_class: type):
    return config_class(**{f.name: getattr(args, f.name) for f in fields(config_class)})


def build_parser(prog: str = "python -m bertviz_lib") -> Parser:
    parser = Parser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="models", help=OUTPUT_DIR_HELP)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="Fine-tune on a labelled table.")
    train.add_argument("--data", help="CSV, TSV or JSON Lines file (default: bundled sample).")
    train.add_argument("--validation", help="Validation file (default: a split of --data).")
    train.add_argument("--run-name", help="Name part of the run id.")
    train.add_argument("--run-dir", help="Train into this existing run folder (the app uses it).")
    train.add_argument("--json", action="store_true", help="Print one JSON object at the end.")
    _add_settings(train, DataConfig)
    _add_settings(train, TrainConfig)

    predict = commands.add_parser("predict", help="Probabilities per class from a run.")
    predict.add_argument("--run", required=True, help="Run id or run folder.")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="A text (repeatable).")
    source.add_argument("--data", help="A table whose text column is predicted.")
    predict.add_argument("--text-column", help="Text column of --data (guessed when absent).")
    predict.add_argument("--json", action="store_true")

    evaluate = commands.add_parser("evaluate", help="Metrics of a run on a labelled table.")
    evaluate.add_argument("--run", required=True, help="Run id or run folder.")
    evaluate.add_argument("--data", required=True, help="A labelled table.")
    evaluate.add_argument("--text-column")
    evaluate.add_argument("--label-column")
    evaluate.add_argument("--json", action="store_true")

    listing = commands.add_parser("runs", help="List the runs and their state.")
    listing.add_argument("--json", action="store_true")

    explain = commands.add_parser("explain", help="Token attributions for one text.")
    explain.add_argument("--run", required=True, help="Run id or run folder.")
    explain.add_argument("--text", required=True)
    explain.add_argument("--method", choices=["ig", "gxi", "occlusion", "lime", "shap"],
                         default="ig", help="Integrated Gradients, gradient x input, occlusion, "
                         "LIME or KernelSHAP.")  # fmt: skip
    explain.add_argument("--baseline", choices=["pad", "mask", "zero"], default="pad")
    explain.add_argument("--steps", default="auto",
                         help="IG steps, or 'auto' (adaptive, at most 128).")  # fmt: skip
    explain.add_argument("--tolerance", type=float, default=IG_TOLERANCE,
                         help="Auto IG stops once its summed |error| is under this.")  # fmt: skip
    explain.add_argument("--target", help="Class to explain (default: the predicted one).")
    explain.add_argument("--json", action="store_true")

    quiz = commands.add_parser("quiz", help="Learn & Quiz from the command line.")
    quiz_commands = quiz.add_subparsers(dest="quiz_command", required=True, parser_class=Parser)
    grade = quiz_commands.add_parser("grade", help="Grade a free-text answer by its concepts.")
    grade.add_argument("--prompt", required=True, help="Free-text prompt id, e.g. explain-cls.")
    grade.add_argument("--answer", required=True, help="The answer, in your own words.")
    grade.add_argument("--json", action="store_true")
    suspects = commands.add_parser(
        "suspects", help="Training rows whose labels look wrong, most suspicious first."
    )
    suspects.add_argument("--run", required=True, help="Run id or run folder.")
    suspects.add_argument("--top", type=int, default=20, help="How many rows (default: 20).")
    suspects.add_argument("--json", action="store_true")

    commands.add_parser("worker", help="Train the queued runs one at a time (the app starts it).")
    for command in commands.choices.values():  # after the command too: `train --output-dir DIR`
        command.add_argument("--output-dir", default=argparse.SUPPRESS, help=OUTPUT_DIR_HELP)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m bertviz_lib") -> int:
    from transformers.utils import logging

    from bertviz_lib.cli import commands

    logging.disable_progress_bar()  # "Loading weights" bars would drown the training bar
    try:
        args = build_parser(prog).parse_args(argv)
        handler = getattr(commands, f"command_{args.command}")
        if args.command == "train":
            return handler(args, _settings(args, DataConfig), _settings(args, TrainConfig))
        return handler(args)
    except (UserError, runs.RunError, *commands.USER_ERRORS) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def run(prog: str = "bertviz-studio") -> None:
    """The console script (`bertviz-studio`) and `python -m bertviz_lib`: exit with main's code."""
    from bertviz_lib.train import distributed

    code = main(prog=prog)
    if distributed.from_environment().several:
        distributed.leave(code)  # a torchrun rank skips freeing its process group
    sys.exit(code)
