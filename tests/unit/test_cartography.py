"""The data map (Swayamdipta et al., 2020) in the run folder, the suspected label errors, the
`suspects` command and the planted-error check's helpers."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from benchmarks.insight import flip_labels, precision_at_k
from bertviz_lib import runs
from bertviz_lib.cli import main
from bertviz_lib.config import DataConfig
from bertviz_lib.data import DataReport, LabelledData, PreparedData
from bertviz_lib.insight import cartography
from bertviz_lib.runs import files
from bertviz_lib.runs.training_run import run_training
from bertviz_lib.train.dynamics import UNSEEN, Dynamics
from bertviz_lib.train.fit import fit
from tests.helpers import prepared, tiny_config, toy


def known() -> tuple[Dynamics, LabelledData]:
    """Four rows over four epochs, each in a region of its own, and a fifth no epoch saw."""
    nan = np.nan
    gold = np.array(
        [
            [0.9, 0.1, 0.2, 0.1, nan],
            [0.95, 0.9, 0.1, 0.1, nan],
            [0.9, 0.1, 0.3, nan, nan],  # the fourth row unseen in epochs 3 and 4
            [1.0, 0.9, 0.2, nan, nan],
        ]
    )
    right = (gold > 0.5).astype(float)
    right[np.isnan(gold)] = np.nan
    predicted = np.array([[0, 0, 1, 1, -1], [0, 1, 1, 1, -1], [0, 0, 0, -1, -1], [0, 1, 1, -1, -1]])
    predicted[predicted == -1] = UNSEEN
    labels = [("a",), ("a",), ("b",), ("c",), ("a",)]
    data = LabelledData(["w", "x", "=y", "z", "v"], labels, ["a", "b", "c"], "single_label")
    return Dynamics(gold, right, predicted), data


def test_the_data_map_holds_the_papers_statistics_and_regions():
    frame = cartography.data_map(*known())
    assert frame[cartography.ROW].tolist() == [0, 1, 2, 3]  # the unseen row is left out
    assert np.allclose(frame[cartography.CONFIDENCE], [0.9375, 0.5, 0.2, 0.1])
    gold_of_row_1 = [0.1, 0.9, 0.1, 0.9]
    assert frame[cartography.VARIABILITY][1] == pytest.approx(np.std(gold_of_row_1))
    assert np.allclose(frame[cartography.CORRECTNESS], [1.0, 0.5, 0.0, 0.0])
    assert frame[cartography.REGION].tolist() == [
        cartography.EASY, cartography.AMBIGUOUS, cartography.HARD, cartography.HARD
    ]  # fmt: skip
    # the class predicted in most epochs; row 1 ties 0 and 1 twice each: the later one wins
    assert frame[cartography.PREFERRED].tolist() == ["a", "b", "b", "b"]
    assert frame[cartography.epoch_column(4)].isna().tolist() == [False, False, False, True]


def test_suspects_come_lowest_confidence_first_then_lowest_variability():
    frame = cartography.data_map(*known())
    frame.loc[frame[cartography.ROW] == 2, cartography.CONFIDENCE] = 0.1  # tie with row 3
    frame.loc[frame[cartography.ROW] == 2, cartography.VARIABILITY] = 0.3
    assert cartography.suspects(frame, 3)[cartography.ROW].tolist() == [3, 2, 1]
    assert len(cartography.suspects(frame, None)) == 4


def test_the_suspects_download_is_safe_to_open_in_a_spreadsheet():
    frame = cartography.data_map(*known())
    written = cartography.suspects_csv(cartography.suspects(frame, 2)).decode()
    header, first, second = list(csv.reader(io.StringIO(written)))
    assert header == ["text", "label", "preferred_label", "confidence", "variability",
                      "correctness", "region"]  # fmt: skip
    assert first == ["z", "c", "b", "0.1", "0.0", "0.0", "hard to learn"]
    assert second[:4] == ["'=y", "b", "b", "0.2"]  # the formula-like text neutralised
    assert written.startswith('"text","label"')  # every field quoted, whatever the locale


def test_a_run_folder_keeps_a_map_of_every_training_row(tiny_model_dir, tmp_path):
    data = prepared()
    config = tiny_config(tiny_model_dir, epochs=3)
    run = run_training(data, DataConfig(), config, runs.create_run(tmp_path))
    frame = cartography.read(run.path)
    assert (run.path / files.TRAINING_DYNAMICS).is_file()
    assert sorted(frame[cartography.ROW]) == list(range(len(data.train)))
    assert cartography.epochs(frame) == 3
    epochs = frame[[cartography.epoch_column(e) for e in (1, 2, 3)]].to_numpy()
    assert np.allclose(frame[cartography.CONFIDENCE], epochs.mean(axis=1))
    assert np.allclose(frame[cartography.VARIABILITY], epochs.std(axis=1))
    assert frame[cartography.TEXT].tolist() == [data.train.texts[i] for i in frame["row"]]
    assert set(frame[cartography.REGION]) <= set(cartography.REGIONS)
    assert frame[cartography.CORRECTNESS].between(0, 1).all()


def test_labels_flipped_on_purpose_are_the_top_suspects_of_a_learnable_set(tiny_model_dir):
    data = toy(rows=160)
    train, validation = data.subset(range(120)), data.subset(range(120, 160))
    noisy, flipped = flip_labels(train, 0.07, seed=0)
    assert len(flipped) == 8
    result = fit(noisy, validation, tiny_config(tiny_model_dir))
    frame = cartography.data_map(result.dynamics, noisy)
    assert precision_at_k(frame, flipped) >= 0.75  # a random ranking: 0.07


def test_planting_flips_a_seeded_share_of_rows_to_other_labels():
    data = toy(rows=200)
    noisy, flipped = flip_labels(data, 0.05, seed=3)
    assert len(flipped) == 10 and np.array_equal(flipped, flip_labels(data, 0.05, seed=3)[1])
    changed = [i for i in range(200) if noisy.labels[i] != data.labels[i]]
    assert changed == flipped.tolist()
    assert noisy.texts == data.texts and data.labels != noisy.labels  # the original is untouched
    frame = cartography.data_map(
        Dynamics(np.zeros((1, 200)), np.zeros((1, 200)), np.zeros((1, 200), dtype=int)), noisy
    )
    frame.loc[frame["row"].isin(flipped[4:]), cartography.CONFIDENCE] = 1.0  # ranked last
    frame.loc[frame["row"].isin(flipped[:4]), cartography.CONFIDENCE] = -1.0  # ranked first
    assert precision_at_k(frame, flipped) == pytest.approx(0.4)


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, tmp_path_factory) -> runs.Run:
    folder = tmp_path_factory.mktemp("suspects")
    data = prepared()
    labels = list(data.train.labels)
    labels[0] = ("negative",) if labels[0] == ("positive",) else ("positive",)
    train = LabelledData(data.train.texts, labels, data.train.label_names, "single_label")
    noisy = PreparedData(train, data.validation, DataReport(), "text", "label")
    return run_training(noisy, DataConfig(), tiny_config(tiny_model_dir), runs.create_run(folder))


def store(run: runs.Run) -> list[str]:
    """The flag that names the run store the run was trained into."""
    return ["--output-dir", str(run.path.parent)]


def test_suspects_command_prints_the_issue_s_json_most_suspicious_first(trained_run, capsys):
    code = main(
        ["suspects", "--run", trained_run.run_id, "--top", "5", "--json", *store(trained_run)]
    )
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["run"] == trained_run.run_id
    suspects = printed["suspects"]
    assert len(suspects) == 5
    keys = {"text", "label", "preferred_label", "confidence", "variability", "correctness"}
    assert all(set(s) == keys for s in suspects)
    confidences = [s["confidence"] for s in suspects]
    assert confidences == sorted(confidences)
    assert suspects[0]["text"] == prepared().train.texts[0]  # the flipped row
    assert suspects[0]["preferred_label"] != suspects[0]["label"]


def test_suspects_command_prints_a_table_and_refuses_what_it_cannot_do(
    trained_run, tmp_path, capsys
):
    assert (
        main(["suspects", "--run", str(trained_run.path), "--top", "2", *store(trained_run)]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("confidence") and len(lines) == 3
    assert (
        main(["suspects", "--run", str(trained_run.path), "--top", "0", *store(trained_run)]) == 2
    )
    assert "--top must be a positive" in capsys.readouterr().err
    bare = runs.create_run(tmp_path)  # a run without a map
    assert main(["suspects", "--run", bare.name, "--output-dir", str(tmp_path)]) == 2
    assert "has no training_dynamics.csv" in capsys.readouterr().err
