"""What each command-line command does; `cli/__init__.py` only parses and routes here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bertviz_lib import data, runs
from bertviz_lib.config import DataConfig, TrainConfig
from bertviz_lib.data.samples import SAMPLES
from bertviz_lib.metrics import HEADLINE_METRICS, classification_metrics
from bertviz_lib.model import backbones
from bertviz_lib.train import batching, distributed

USER_ERRORS = (data.DataError, backbones.BackboneError, FileNotFoundError)


def emit_json(payload: dict) -> None:
    print(json.dumps(payload, indent=2, default=str))


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _source(path: str | None) -> Path:
    source = Path(path) if path else SAMPLES["sentiment"]
    if not source.is_file():
        raise FileNotFoundError(f"There is no file '{path}'.")
    return source


def prepare_for_training(args, data_config: DataConfig, config: TrainConfig) -> data.PreparedData:
    """Read and check the data; errors stop here, before any run folder exists."""
    problems = config.problems()
    if problems:
        raise data.DataError(" ".join(problems))
    tokenizer = backbones.load_tokenizer(config.model)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and config.max_length > limit:  # unset limits are huge numbers
        raise data.DataError(
            f"max_length must be at most {limit}: {config.model} reads no more tokens than that."
        )
    source = _source(args.data)
    prepared = data.prepare_for_training(
        source,
        data_config,
        config,
        validation_source=_source(args.validation) if args.validation else None,
        token_counter=batching.token_counter(tokenizer),
    )
    for finding in prepared.report.findings:
        if finding.severity == "warning":
            print(f"warning: {finding.message}", file=sys.stderr)
    if not prepared.report.ok:
        raise data.DataError(" ".join(f.message for f in prepared.report.errors))
    return prepared


class ProgressBar:
    """Step events drawn as a tqdm bar on stderr, evaluations as one line each."""

    def __init__(self):
        self.bar = None

    def __call__(self, event: dict) -> None:
        from tqdm import tqdm

        if event["event"] == "start":
            self.bar = tqdm(
                total=event["total_steps"], unit="step", file=sys.stderr, mininterval=1.0
            )
        elif event["event"] == "step" and self.bar is not None:
            self.bar.update(event["step"] - self.bar.n)
            self.bar.set_postfix(
                loss=f"{event['loss']:.4f}", sps=f"{event['samples_per_second']:.0f}"
            )
        elif event["event"] == "evaluation" and self.bar is not None:
            scores = ", ".join(_headline(event["metrics"]))
            self.bar.write(f"epoch {event['epoch']}: {scores}")
        elif event["event"] == "end" and self.bar is not None:
            self.bar.close()


def _headline(metrics: dict) -> list[str]:
    return [f"{key} {metrics[key]:.4f}" for key in HEADLINE_METRICS if metrics.get(key) is not None]


def command_train(args: argparse.Namespace, data_config: DataConfig, config: TrainConfig) -> int:
    from bertviz_lib.runs.training_run import cancel_on_sigterm, run_training

    try:
        prepared = prepare_for_training(args, data_config, config)
    except USER_ERRORS as error:
        if args.run_dir:  # the app made this folder and waits on it: say why nothing will come
            runs.RunWriter(args.run_dir).set_status("failed", error=str(error))
        raise
    run_dir = Path(args.run_dir) if args.run_dir else None
    if run_dir is None and distributed.from_environment().main:  # under torchrun, rank 0 writes
        run_dir = runs.create_run(args.output_dir, args.run_name)
    cancel = cancel_on_sigterm()
    try:
        run = run_training(
            prepared,
            data_config,
            config,
            run_dir,
            source=str(_source(args.data)),
            on_event=None if args.json else ProgressBar(),
            should_stop=cancel.is_set,
        )
    finally:
        cancel.disarm()
    if run is None:
        return 0
    metrics = run.metrics
    if args.json:
        emit_json({"run": display_path(run.path), "state": run.state, "metrics": metrics})
    else:
        print("validation: " + ", ".join(_headline(metrics)))
        print(f"state: {run.state}")
        print(display_path(run.path))
    return 0 if run.state in ("completed", "cancelled") else 1


def _run(args) -> runs.Run:
    """--run: a run id in --output-dir, or (on the owner's own command line) a run folder's path,
    which is then its own store."""
    folder = Path(args.run)
    if folder.is_dir() and not folder.is_symlink():
        return runs.load_run(folder, folder.parent)
    return runs.load_run(args.run, args.output_dir)


def _predictor(args):
    from bertviz_lib.model.predict import Predictor

    return Predictor.from_run(_run(args))


def command_predict(args: argparse.Namespace) -> int:
    predictor = _predictor(args)
    if args.text:
        texts = args.text
    else:
        frame, _ = data.read_table(_source(args.data))
        column = args.text_column or data.guess_columns(frame)[0]
        if column not in frame.columns:
            raise data.DataError(f"No text column '{column}'; columns: {', '.join(frame.columns)}.")
        texts = frame[column].fillna("").astype(str).tolist()
    predictions = predictor.predict(texts)
    if args.json:
        emit_json({"predictions": [vars(p) for p in predictions]})
        return 0
    for prediction in predictions:
        best = max(prediction.probabilities.items(), key=lambda item: item[1])
        print(f"{';'.join(prediction.labels) or '(none)'}\t{best[1]:.3f}\t{prediction.text[:80]}")
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    predictor = _predictor(args)
    labelled = data.labelled_for_evaluation(
        _source(args.data),
        predictor.label_names,
        predictor.problem_type,
        text_column=args.text_column,
        label_column=args.label_column,
    )
    probabilities = predictor.predict_proba(labelled.texts)
    metrics = classification_metrics(
        labelled.truth(),
        probabilities,
        predictor.label_names,
        predictor.problem_type,
        predictor.threshold,
    )
    if args.json:
        emit_json(metrics)
    else:
        print(f"{len(labelled)} rows: " + ", ".join(_headline(metrics)))
    return 0


METHOD_NAMES = {
    "ig": "integrated_gradients",
    "gxi": "gradient_x_input",
    "occlusion": "occlusion",
    "lime": "lime",
    "shap": "kernel_shap",
}


def command_explain(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from bertviz_lib.explain import (
        REPLACEMENT_METHODS,
        explain,
        faithfulness,
        filler_for,
        method_options,
    )

    method = METHOD_NAMES[args.method]
    if method in REPLACEMENT_METHODS and args.baseline == "zero":
        raise data.DataError(f"{args.method} replaces tokens, so its baseline is pad or mask.")
    steps = None if args.steps == "auto" else _positive_int(args.steps, "--steps")
    options = method_options(method, baseline=args.baseline, tolerance=args.tolerance,
                             n_steps=steps)  # fmt: skip
    predictor = _predictor(args)
    if args.target is not None and args.target not in predictor.label_names:
        names = ", ".join(predictor.label_names)
        raise data.DataError(f"--target '{args.target}' is not a label of this run ({names}).")
    result = explain(predictor, args.text, method, target=args.target, **options)
    check = faithfulness(
        predictor.model,
        predictor.tokenizer,
        args.text,
        [result],
        problem_type=predictor.problem_type,
        max_length=predictor.max_length,
        filler=filler_for(args.baseline),
    )
    aopc = _aopc(check, result.method)
    if args.json:
        emit_json({**asdict(result), "aopc": aopc})
        return 0
    print(f"{result.method}: target '{result.label}' (p = {result.target_probability:.3f})")
    if result.converged is not None:
        verdict = "converged" if result.converged else "NOT converged"
        print(f"n_steps {result.n_steps}, convergence delta {result.delta:+.4f} ({verdict})")
    for word, value in zip(result.words, result.word_attributions, strict=True):
        print(f"{value:+.4f}\t{word}")
    print(f"AOPC comprehensiveness {aopc['comprehensiveness']:.3f} (random "
          f"{aopc['random_comprehensiveness']:.3f}), sufficiency {aopc['sufficiency']:.3f} "
          f"(random {aopc['random_sufficiency']:.3f}): {aopc['verdict']}")  # fmt: skip
    return 0


def _aopc(check, method: str) -> dict:
    mine = next(curve for curve in check.curves if curve.name == method)
    return {
        "comprehensiveness": mine.comprehensiveness,
        "sufficiency": mine.sufficiency,
        "random_comprehensiveness": check.random.comprehensiveness,
        "random_sufficiency": check.random.sufficiency,
        "verdict": check.verdict(method),
        "filler": check.filler,
    }


def _positive_int(text: str, flag: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise data.DataError(f"{flag} must be a positive whole number or 'auto', not '{text}'.")
    return int(text)


def command_runs(args: argparse.Namespace) -> int:
    listed = runs.list_runs(args.output_dir)
    rows = [
        {
            "run": r.run_id,
            "state": r.state,
            "accuracy": r.metrics.get("accuracy"),
            "macro_f1": r.metrics.get("macro_f1"),
        }
        for r in listed
    ]
    if args.json:
        emit_json({"runs": rows})
        return 0
    if not rows:
        print(f"No runs in {args.output_dir}/ yet: python -m bertviz_lib train")
    for row in rows:
        score = "" if row["accuracy"] is None else f"accuracy {row['accuracy']:.4f}"
        print(f"{row['run']}\t{row['state']}\t{score}")
    return 0


def command_quiz(args: argparse.Namespace) -> int:
    """`quiz grade`: the free-text grader of the Quiz page's Explain it, on one answer."""
    from bertviz_lib.learn.quiz import grade_free_text, load_bank

    prompts = {q.id: q for q in load_bank().free_text}
    if args.prompt not in prompts:
        raise data.DataError(f"No free-text prompt '{args.prompt}'; the prompts are "
                             f"{', '.join(prompts)}.")  # fmt: skip
    result = grade_free_text(prompts[args.prompt], args.answer)
    if args.json:
        emit_json(result.to_json())
    else:
        print("\n".join(result.report_lines()))
    return 0


def command_suspects(args: argparse.Namespace) -> int:
    """The training rows the model most consistently disagreed with (insight/cartography.py)."""
    from bertviz_lib.insight import cartography
    from bertviz_lib.runs import files

    if args.top < 1:
        raise data.DataError(f"--top must be a positive whole number, not {args.top}.")
    run = runs.load_run(args.run, args.output_dir)
    frame = cartography.read(run.path)
    if frame is None:
        raise runs.RunError(
            f"Run '{run.run_id}' has no {files.TRAINING_DYNAMICS}: it ended before its "
            "first epoch, or was trained before training dynamics were recorded."
        )
    chosen = cartography.suspects(frame, args.top)
    rows = chosen[list(cartography.SUSPECT_COLUMNS)].to_dict("records")
    if args.json:
        emit_json({"run": run.run_id, "suspects": rows})
        return 0
    print("confidence\tvariability\tcorrectness\tlabel -> preferred\ttext")
    for row in rows:
        print(f"{row['confidence']:.3f}\t{row['variability']:.3f}\t{row['correctness']:.2f}\t"
              f"{row['label']} -> {row['preferred_label']}\t{row['text'][:80]}")  # fmt: skip
    return 0


def command_worker(args: argparse.Namespace) -> int:
    from bertviz_lib.runs.launcher import work

    work(args.output_dir)
    return 0
