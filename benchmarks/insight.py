"""Checks of the run insights against known answers: planted label errors, the baseline's gap,
the calibration (`python -m benchmarks.insight --help`).

Each call trains one run with the default settings (`TrainConfig()`) into `--output-dir` and
prints one JSON report:

- `--plant 0.05` flips the labels of 5% of the training rows, chosen at random (seeded), each to
  another label chosen at random, after the split (the validation rows keep theirs), then reports
  the precision of the top-k suspects at k = the number flipped (`insight/cartography.py`); a
  random ranking's precision is the share flipped. Nothing in the ranking was tuned on these data.
- Every run reports the fine-tuned model beside the TF-IDF + logistic regression baseline
  (`baseline_metrics.json`) and the calibration, before and after, held out (`calibration.json`).

Data sets (`--data`): `sentiment` and `support_tickets` (bundled), `sst2` (SST-2 train, with
`--max-rows`, scored on its dev split), `goemotions` (multi-label, 28 labels, dev split),
`goemotions-4`: the GoEmotions rows whose one label is one of the four most frequent single
emotions other than neutral in train (admiration, approval, gratitude, amusement), train and dev
alike, and `goemotions-4neg`: the same with the four most frequent negative ones (in GoEmotions'
own grouping by sentiment: annoyance, disapproval, anger, sadness), which are harder to tell
apart. SST-2 and GoEmotions are read from `--shared` (default ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from bertviz_lib import data, runs
from bertviz_lib.config import DataConfig, TrainConfig
from bertviz_lib.data import LabelledData, PreparedData
from bertviz_lib.data.samples import SAMPLES
from bertviz_lib.insight import baseline, calibration, cartography
from bertviz_lib.metrics import HEADLINE_METRICS
from bertviz_lib.model import backbones
from bertviz_lib.runs.training_run import run_training
from bertviz_lib.train import batching

SUBSETS = {  # GoEmotions subsets of single-label rows (see the docstring)
    "goemotions-4": ("admiration", "approval", "gratitude", "amusement"),
    "goemotions-4neg": ("annoyance", "disapproval", "anger", "sadness"),
}


def flip_labels(train: LabelledData, share: float, seed: int) -> tuple[LabelledData, np.ndarray]:
    """A copy of `train` with round(share x rows) labels flipped, each to another label drawn at
    random, and the flipped row indices (sorted). Single-label and binary data only."""
    if train.problem_type == "multi_label":
        raise ValueError("Planted errors are for single-label data.")
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(len(train), round(share * len(train)), replace=False))
    labels = list(train.labels)
    for row in flipped:
        others = [name for name in train.label_names if name != labels[row][0]]
        labels[row] = (str(rng.choice(others)),)
    return LabelledData(train.texts, labels, train.label_names, train.problem_type), flipped


def precision_at_k(frame: pd.DataFrame, flipped: np.ndarray) -> float:
    """Share of the top-k suspects that were flipped, k = the number flipped."""
    k = len(flipped)
    top = cartography.suspects(frame, k)[cartography.ROW]
    return len(set(top.tolist()) & set(flipped.tolist())) / k


def sources(name: str, shared: Path, scratch: Path) -> tuple[Path, Path | None]:
    """(training file, validation file or None for a split) of a data set by name."""
    if name in SAMPLES:
        return SAMPLES[name], None
    if name == "sst2":
        return shared / "sst2" / "train.csv", shared / "sst2" / "dev.csv"
    if name == "goemotions":
        return shared / "goemotions" / "train.csv", shared / "goemotions" / "dev.csv"
    if name in SUBSETS:
        paths = []
        for split in ("train", "dev"):
            frame = pd.read_csv(shared / "goemotions" / f"{split}.csv", keep_default_na=False)
            frame = frame[frame["label"].isin(SUBSETS[name])]
            paths.append(scratch / f"{name}-{split}.csv")
            frame.to_csv(paths[-1], index=False)
        return paths[0], paths[1]
    raise SystemExit(f"unknown data set {name!r}")


def prepare(name: str, shared: Path, max_rows: int | None, config: TrainConfig) -> PreparedData:
    with tempfile.TemporaryDirectory() as scratch:
        train_file, validation_file = sources(name, shared, Path(scratch))
        prepared = data.prepare_for_training(
            train_file, DataConfig(max_rows=max_rows), config,
            validation_source=validation_file,
            token_counter=batching.token_counter(backbones.load_tokenizer(config.model)),
        )  # fmt: skip
    if not prepared.report.ok:
        raise SystemExit(" ".join(f.message for f in prepared.report.errors))
    return prepared


def report(run: runs.Run) -> dict:
    """The fine-tuned model against the baseline, and the calibration, of a finished run."""
    mine = run.metrics
    theirs = baseline.read(run.path)
    calibrated = calibration.read(run.path)

    def brief(figures: dict) -> dict:
        return {key: figures.get(key) for key in ("ece", "log_loss", "accuracy")}

    return {
        "fine_tuned": {key: mine.get(key) for key in HEADLINE_METRICS if mine.get(key) is not None},
        "baseline": {
            key: theirs.get("metrics", {}).get(key)
            for key in HEADLINE_METRICS
            if theirs.get("metrics", {}).get(key) is not None
        },  # fmt: skip
        "baseline_seconds": theirs.get("seconds"),
        "calibration": {
            "temperatures": calibrated.get("temperatures"),
            "before": brief(calibrated.get("before", {})),
            "after_held_out": brief(calibrated.get("after", {})),
            "halves": calibrated.get("halves"),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.insight", description=__doc__)
    parser.add_argument("--data", default="sentiment", help="See above (default: sentiment).")
    parser.add_argument("--shared", default="../shared/data", help="SST-2 and GoEmotions folder.")
    parser.add_argument("--max-rows", type=int, help="A seeded, stratified sample of the rows.")
    parser.add_argument("--plant", type=float, default=0.0, help="Share of labels to flip.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the flips.")
    parser.add_argument("--output-dir", default="models", help="Where the run folder goes.")
    parser.add_argument("--json", help="Also write the report to this file.")
    args = parser.parse_args(argv)

    config = TrainConfig()  # the defaults, as a user gets them
    prepared = prepare(args.data, Path(args.shared), args.max_rows, config)
    flipped = np.array([], dtype=int)
    if args.plant > 0:
        noisy, flipped = flip_labels(prepared.train, args.plant, args.seed)
        prepared = replace(prepared, train=noisy)
    name = f"{args.data}-planted" if args.plant > 0 else args.data
    started = time.perf_counter()
    run = run_training(prepared, DataConfig(max_rows=args.max_rows), config,
                       runs.create_run(args.output_dir, name))  # fmt: skip
    result = {
        "data": args.data,
        "run": run.run_id,
        "state": run.state,
        "train_rows": len(prepared.train),
        "validation_rows": len(prepared.validation),
        "labels": len(prepared.train.label_names),
        "problem_type": prepared.train.problem_type,
        "seconds": time.perf_counter() - started,
        **report(run),
    }
    if args.plant > 0:
        frame = cartography.read(run.path)
        result["planted"] = {
            "share": args.plant,
            "seed": args.seed,
            "flipped": len(flipped),
            "precision_at_k": precision_at_k(frame, flipped),
            "random_precision": len(flipped) / len(prepared.train),
            "flipped_in_hard_to_learn": int(
                frame.set_index(cartography.ROW).loc[flipped, cartography.REGION]
                .eq(cartography.HARD).sum()
            ),
            "regions": cartography.region_counts(frame),
        }  # fmt: skip
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
