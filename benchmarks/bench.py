"""Benchmarks, run by hand and never by the tests: `python -m benchmarks --help`.

Every comparison runs in one process, on one device, on the same texts, so the ratios printed are
fair. The training part (`throughput.py`) runs HF Trainer padded to 128, HF Trainer with
group_by_length and this project's loop (CUDA graphs on one GPU) for the same number of SST-2
samples, the last two `--repeats` times in turn (a machine's speed drifts). `--full-run` then
trains a real run with the default settings on the whole train split and reports its dev
accuracy, so that the speed is seen beside what it buys. The explanation part times Integrated
Gradients as Captum's defaults run it (n_steps 50, one batch, `LayerIntegratedGradients` on the
word embeddings, [PAD] baseline) against this project's adaptive auto mode, on sentences of one
token length from a fine-tuned run, with |delta| beside each time; then [CLS] attention with
rollout, and batched prediction.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from bertviz_lib import runs
from bertviz_lib.config import IG_TOLERANCE
from bertviz_lib.explain import explain
from bertviz_lib.explain.attention import attention_maps
from bertviz_lib.model import heads
from bertviz_lib.model.predict import Predictor

from .throughput import BATCH_SIZE

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
DEFAULT_DATA = SST2 / "dev.csv"


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"


def sentences_of_length(tokenizer, texts: list[str], tokens: int, count: int) -> list[str]:
    """Texts exactly `tokens` long with [CLS] and [SEP], so every method sees the same work."""
    return [t for t in texts if len(tokenizer(t)["input_ids"]) == tokens][:count]


def captum_defaults(predictor: Predictor, text: str) -> tuple[float, float]:
    """Seconds and |delta| of Captum's tutorial recipe with its default settings."""
    from captum.attr import LayerIntegratedGradients

    model, tokenizer = predictor.model, predictor.tokenizer
    started = time.perf_counter()
    encoded = tokenizer(text, return_tensors="pt").to(next(model.parameters()).device)
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    base = torch.full_like(ids, tokenizer.pad_token_id)
    base[0, 0], base[0, -1] = ids[0, 0], ids[0, -1]

    def probability(input_ids, attention_mask, target):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        return heads.probabilities(predictor.problem_type, logits)[:, target]

    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        target = int(heads.probabilities(predictor.problem_type, logits)[0].argmax())
    lig = LayerIntegratedGradients(probability, model.get_input_embeddings())
    _, delta = lig.attribute(
        ids, baselines=base, additional_forward_args=(mask, target), return_convergence_delta=True
    )
    return time.perf_counter() - started, abs(float(delta[0]))


def _timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def explanation_benchmark(predictor: Predictor, texts: list[str], tolerance: float) -> dict:
    """Captum defaults against the auto mode on the same sentences, warm, one after the other."""
    explain(predictor, texts[0], tolerance=tolerance)  # warm-up: first-call allocations
    captum_defaults(predictor, texts[0])
    captum_seconds, captum_deltas, auto_seconds, auto_deltas, auto_steps = [], [], [], [], []
    for text in texts:
        seconds, delta = captum_defaults(predictor, text)
        captum_seconds.append(seconds)
        captum_deltas.append(delta)
        started = time.perf_counter()
        result = explain(predictor, text, tolerance=tolerance)
        auto_seconds.append(time.perf_counter() - started)
        auto_deltas.append(abs(result.delta))
        auto_steps.append(result.n_steps)
    attention = [_timed(_attention_and_rollout, predictor, text) for text in texts]
    return {
        "sentences": len(texts),
        "captum_default_median_s": statistics.median(captum_seconds),
        "captum_default_median_abs_delta": statistics.median(captum_deltas),
        "captum_default_share_under_tolerance": _share(captum_deltas, tolerance),
        "auto_median_s": statistics.median(auto_seconds),
        "auto_p90_s": statistics.quantiles(auto_seconds, n=10)[-1] if len(texts) > 1 else None,
        "auto_median_abs_delta": statistics.median(auto_deltas),
        "auto_share_under_tolerance": _share(auto_deltas, tolerance),
        "auto_median_gradient_evaluations": statistics.median(auto_steps),
        "attention_and_rollout_median_ms": 1000 * statistics.median(attention),
        "speedup_median": statistics.median(captum_seconds) / statistics.median(auto_seconds),
    }


def _attention_and_rollout(predictor: Predictor, text: str) -> None:
    attention_maps(predictor.model, predictor.tokenizer, text).rollout()


def _share(deltas: list[float], tolerance: float) -> float:
    return sum(d < tolerance for d in deltas) / len(deltas)


def prediction_benchmark(predictor: Predictor, texts: list[str]) -> dict:
    predictor.predict_proba(texts[:64])
    started = time.perf_counter()
    predictor.predict_proba(texts)
    seconds = time.perf_counter() - started
    return {"texts": len(texts), "seconds": seconds, "texts_per_s": len(texts) / seconds}


def newest_completed_run() -> runs.Run | None:
    return next((run for run in runs.list_runs() if run.loadable), None)


def labelled(path: str, rows: int | None, seed: int = 0, names: list[str] | None = None):
    """A CSV with text and label columns as LabelledData; `rows` samples it (seeded). `names`:
    the label names of the training data, for a validation file (default: its own labels)."""
    import pandas as pd

    from bertviz_lib.data import LabelledData

    frame = pd.read_csv(path)
    if rows and rows < len(frame):
        frame = frame.sample(rows, random_state=seed)
    labels = [(str(label),) for label in frame["label"]]
    names = names or sorted({label for (label,) in labels})
    return LabelledData(frame["text"].astype(str).tolist(), labels, names, "single_label")


def training_benchmark(train_csv: str, samples: int, repeats: int, model: str) -> dict:
    """Each variant's row is its median run; the project loop's ratio to a variant is the median
    of the ratios of runs made side by side (see `throughput.compare`)."""
    import tempfile

    from .throughput import compare

    data = labelled(train_csv, samples)
    with tempfile.TemporaryDirectory() as scratch:
        padded, *paired, ours = compare(data, samples, scratch, repeats, model)
    rates = [r.samples_per_s for r in ours]
    rows = [_median_row(padded, [statistics.median(rates) / padded[0].samples_per_s])]  # one run
    for variant in paired:  # group_by_length, and on a GPU the eager project loop
        pairs = [a / b.samples_per_s for a, b in zip(rates, variant, strict=True)]
        rows.append(_median_row(variant, pairs))
    rows.append(_median_row(ours, [1.0] * len(ours)))
    return {"machine": machine(), "model": model, "samples": samples, "repeats": repeats,
            "batch_size": BATCH_SIZE, "variants": rows}  # fmt: skip


def _median_row(runs_of_variant: list, ratios: list[float]) -> dict:
    """A variant's median run, with the project loop's ratios to it and their median."""
    median_run = sorted(runs_of_variant, key=lambda r: r.samples_per_s)[len(runs_of_variant) // 2]
    rates = [r.samples_per_s for r in runs_of_variant]
    return {**median_run.as_row(), "runs_samples_per_s": rates,
            "project_speedup": statistics.median(ratios), "project_speedups": ratios}  # fmt: skip


def graphs_benchmark(train_csv: str, samples: int, model: str) -> dict:
    from .graph_agreement import graphed_against_eager

    check = graphed_against_eager(labelled(train_csv, samples), samples // 32, model)
    print(
        f"{check['steps']} steps on {check['device']}, {check['graphs']} CUDA graphs: losses "
        f"apart by at most {check['largest_loss_gap']:.2e}, weights by at most "
        f"{check['largest_weight_gap']:.2e} ({check['relative_weight_gap']:.2e} of their norm)"
    )
    if not check["graphs"]:
        print("No CUDA graph was captured (no GPU, or see cuda_graphs_off): both ran eagerly.")
    if check["cuda_graphs_off"]:
        print(check["cuda_graphs_off"], check["cuda_graphs_off_traceback"], sep="\n")
    return {"machine": machine(), "graphs_against_eager": check}


def full_run(train_csv: str, dev_csv: str, model: str, cuda_graphs: bool = True) -> dict:
    """The default TrainConfig on every row of `train_csv`, its checkpoint kept by accuracy on
    `dev_csv`. It is trained into the run store like any run (`models/`), so that the
    explanation part, which takes the newest completed run, explains this model next.

    The clock starts before the texts are tokenized and the model loaded, so each epoch's
    seconds (read off the evaluation events) include the warm-up steps, the captures and the
    evaluation that ends it. The kept checkpoint is chosen on the same dev rows it is scored on,
    as run_glue does; the last epoch's accuracy is reported beside it."""
    from bertviz_lib.config import DataConfig, TrainConfig
    from bertviz_lib.data import DataReport, PreparedData
    from bertviz_lib.runs.training_run import run_training
    from bertviz_lib.train.graphed_step import capture_summary

    train = labelled(train_csv, None)
    dev = labelled(dev_csv, None, names=train.label_names)
    prepared = PreparedData(train, dev, DataReport(), "text", "label")
    config = TrainConfig(model=model, cuda_graphs=cuda_graphs)
    started, wall = time.perf_counter(), time.time()
    run = run_training(
        prepared, DataConfig(), config, runs.create_run(name="bench-full-run"), train_csv
    )
    seconds = time.perf_counter() - started
    events = run.events()
    graphs, capture_seconds, off = capture_summary(events)
    evaluations = [e for e in events if e["event"] == "evaluation"]
    ends = [e["time"] - wall for e in evaluations]
    first, last = (next(e["time"] - wall for e in events if e["event"] == kind) for kind in
                   ("start", "end"))  # fmt: skip
    return {
        "machine": machine(),
        "run": run.run_id,
        "settings": f"TrainConfig defaults (batch {config.batch_size}, lr {config.learning_rate}, "
        f"{config.epochs} epochs), cuda_graphs={cuda_graphs}",
        "device": next((e["device"] for e in events if e["event"] == "start"), None),
        "model": model,
        "train_rows": len(train),
        "dev_rows": len(dev),
        "end_to_end_seconds": seconds,
        "set_up_seconds": first,  # reading, tokenizing, loading the model onto the device
        "saving_seconds": seconds - last,  # the model, predictions and model card
        "first_epoch_end_to_end_seconds": ends[0] if ends else None,
        "epoch_seconds": [b - a for a, b in zip([0.0, *ends], ends, strict=False)],
        "train_seconds": run.metrics["train_seconds"],
        "samples_per_second": run.metrics["samples_per_second"],
        "cuda_graphs": graphs,
        "capture_seconds": capture_seconds,
        "cuda_graphs_off": off,
        "accuracy_per_epoch": [e["metrics"]["accuracy"] for e in evaluations],
        "best_epoch": run.metrics["best_epoch"],
        "dev accuracy after a full run": run.metrics["accuracy"],
    }


def print_table(rows: list[dict]) -> None:
    print(f"{'variant':32} {'samples/s':>10} {'tokens/s':>10} {'first step s':>12} "
          f"{'graphs':>6} {'capture s':>9} {'peak MB':>9} {'ours is':>8}")  # fmt: skip
    for r in rows:
        print(f"{r['variant']:32} {r['samples_per_s']:10.1f} {r['tokens_per_s']:10.0f} "
              f"{r['first_step_seconds']:12.2f} {r['graphs']:6d} {r['capture_seconds']:9.2f} "
              f"{r['peak_memory_mb']:9.0f} {r['project_speedup']:7.2f}x")  # fmt: skip
    for r in rows[1:-1]:
        each = ", ".join(f"{x:.2f}x" for x in r["project_speedups"])
        print(f"ours against {r['variant']}, run by run: {each}")


PARTS = {
    "all": "the training comparison, then (with --full-run) the full run, then explanations",
    "train": "the training comparison (with --full-run, the full run after it)",
    "full": "the full run alone",
    "explain": "Integrated Gradients, attention and prediction on a fine-tuned run",
    "graphs": "the CUDA-graph steps against the eager steps, loss by loss and weight by weight "
    "(graph_agreement.py); a GPU check",
    "profile": "where one training step's time goes on this device (profile_step.py)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--part", choices=list(PARTS), default="all",
                        help="; ".join(f"{k}: {v}" for k, v in PARTS.items()))  # fmt: skip
    parser.add_argument("--run", help="Run id or folder (default: the newest completed run).")
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help="Dev CSV: 'text' (and 'label' for the full run).")  # fmt: skip
    parser.add_argument("--tokens", type=int, default=25, help="Sentence length for IG timing.")
    parser.add_argument("--sentences", type=int, default=25)
    parser.add_argument("--tolerance", type=float, default=IG_TOLERANCE)
    parser.add_argument("--train-data", default=str(SST2 / "train.csv"),
                        help="CSV with 'text' and 'label' columns to train on.")  # fmt: skip
    parser.add_argument("--samples", type=int, default=1024,
                        help="Samples each training variant trains on.")  # fmt: skip
    parser.add_argument("--model", default="bundled",
                        help="Backbone: 'bundled', a local folder or a Hub id.")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3,
                        help="Runs of group_by_length and of this project's loop, alternated; "
                             "the median is reported.")  # fmt: skip
    parser.add_argument("--full-run", action="store_true",
                        help="Also train a run with the default settings on all of --train-data "
                             "and report its accuracy on --data; the explanation part then "
                             "explains it.")  # fmt: skip
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                        help="The full run takes eager steps on a GPU too.")  # fmt: skip
    parser.add_argument("--json", help="Write the results to this file as well.")
    args = parser.parse_args(argv)
    for path in (args.train_data, args.data):
        if not Path(path).is_file():
            parser.error(f"there is no file {path}: pass --train-data and --data (CSV files with "
                         "'text' and 'label' columns)")  # fmt: skip
    result: dict = {"machine": machine()}
    if args.part == "graphs":
        return _finish(graphs_benchmark(args.train_data, args.samples, args.model), args.json)
    if args.part == "profile":
        from .profile_step import profile

        return _finish(profile(labelled(args.train_data, args.samples), args.model), args.json)
    if args.part in ("all", "train"):
        result["training"] = training_benchmark(
            args.train_data, args.samples, args.repeats, args.model
        )
        print_table(result["training"]["variants"])
    if args.full_run or args.part == "full":
        result["full_run"] = summary = full_run(
            args.train_data, args.data, args.model, args.cuda_graphs
        )
        print(f"dev accuracy after a full run: {summary['dev accuracy after a full run']:.4f}")
    if args.part in ("train", "full"):
        return _finish(result, args.json)
    result.update(explanation_part(args))
    return _finish(result, args.json)


NO_RUN = (
    "The explanation part needs a completed run in models/ (train one with "
    "`python -m bertviz_lib train`, or name one with --run); it is skipped."
)


def explanation_part(args: argparse.Namespace) -> dict:
    import pandas as pd

    folder = Path(args.run or "")
    if not args.run:
        run = newest_completed_run()
    elif folder.is_dir():  # any run folder on the owner's machine is its own store
        run = runs.load_run(folder, folder.parent)
    else:
        run = runs.load_run(args.run)
    if run is None:
        print(NO_RUN)
        return {"explanations": NO_RUN}
    predictor = Predictor.from_run(run)
    texts = pd.read_csv(args.data)["text"].astype(str).tolist()
    chosen = sentences_of_length(predictor.tokenizer, texts, args.tokens, args.sentences)
    if not chosen:
        raise SystemExit(f"No sentence of exactly {args.tokens} tokens in {args.data}.")
    return {
        "run": run.run_id,
        "tokens": args.tokens,
        "tolerance": args.tolerance,
        "integrated_gradients": explanation_benchmark(predictor, chosen, args.tolerance),
        "prediction": prediction_benchmark(predictor, texts),
    }


def _finish(result: dict, path: str | None) -> int:
    print(json.dumps(result, indent=2))
    if path:
        Path(path).write_text(json.dumps(result, indent=2))
    return 0
