"""The command line: train, predict, evaluate and runs on a tiny model; one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bertviz_lib import runs
from bertviz_lib.cli import main
from tests.helpers import ROOT, toy


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory) -> Path:
    data = toy(rows=80)
    lines = ["review,sentiment"] + [
        f"{t},{lab[0]}" for t, lab in zip(data.texts, data.labels, strict=True)
    ]
    path = tmp_path_factory.mktemp("cli-data") / "toy.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_csv, tiny_model_dir):
    """One run trained through the CLI for the module; the tests read it and never change it."""
    models = tmp_path_factory.mktemp("cli") / "models"
    settings = "--epochs 10 --lr 3e-3 --dropout 0 --batch-size 8 --seed 0 --run-name toy --json"
    arguments = ["train", "--data", str(toy_csv), "--model", tiny_model_dir, *settings.split()]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["--output-dir", str(models), *arguments])
    assert code == 0
    return models, json.loads(printed.getvalue())


def test_train_prints_metrics_and_the_run_folder(trained):
    models, result = trained
    assert result["state"] == "completed"
    assert result["metrics"]["accuracy"] >= 0.8
    assert Path(result["run"]).parent.resolve() == models.resolve()


def test_predict_evaluate_and_runs_read_the_trained_run(trained, toy_csv, capsys):
    models, result = trained
    run = Path(result["run"]).name
    assert (
        main(
            [
                "--output-dir",
                str(models),
                "predict",
                "--run",
                run,
                "--text",
                "the hotel was superb",
                "--text",
                "the book was awful",
                "--json",
            ]
        )
        == 0
    )
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["labels"] for p in predictions] == [["positive"], ["negative"]]

    assert (
        main(
            [
                "--output-dir",
                str(models),
                "evaluate",
                "--run",
                run,
                "--data",
                str(toy_csv),
                "--json",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 80 and metrics["accuracy"] >= 0.8

    assert main(["--output-dir", str(models), "runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["run"], r["state"]) for r in listed] == [(run, "completed")]


def test_evaluate_refuses_labels_the_model_never_learned(trained, tmp_path, capsys):
    models, result = trained
    other = tmp_path / "other.csv"
    other.write_text("text,label\nthe film was fine,neutral\nthe film was good,positive\n")
    code = main(
        [
            "--output-dir",
            str(models),
            "evaluate",
            "--run",
            Path(result["run"]).name,
            "--data",
            str(other),
        ]
    )
    assert code == 2
    assert "'neutral'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "--data", "no/such/file.csv"], "There is no file"),
        (["train", "--epochs", "0"], "epochs must be at least 1"),
        (["train", "--label-column", "nope"], "There is no column named 'nope'"),
        (["train", "--model", "../not-a-folder"], "does not exist"),
        (["predict", "--run", "../../etc", "--text", "x"], "not a valid run id"),
        (["predict", "--run", "nothing-here", "--text", "x"], "There is no run"),
        (["train", "--problem-type", "nonsense"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(arguments, message, tmp_path, capsys):
    code = main(["--output-dir", str(tmp_path / "models"), *arguments])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "arguments, program",
    [
        (["nonsense"], "python -m bertviz_lib"),
        (["train", "--no-such-flag"], "python -m bertviz_lib"),
        (["train", "--epochs", "many"], "python -m bertviz_lib train"),
    ],
)
def test_a_usage_error_names_the_program_once(arguments, program, capsys):
    assert main(arguments) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"(see `{program} --help`)")
    assert "bertviz_lib bertviz_lib" not in err


@pytest.mark.parametrize(
    "arguments, folder",
    [
        (["--output-dir", "before", "runs"], "before"),
        (["runs", "--output-dir", "after"], "after"),
        (["--output-dir", "before", "runs", "--output-dir", "after"], "after"),
        (["runs"], "models"),
    ],
)
def test_the_run_store_may_be_named_before_or_after_the_command(arguments, folder):
    from bertviz_lib.cli import build_parser

    assert build_parser().parse_args(arguments).output_dir == folder


def test_train_accepts_the_run_store_after_the_command(tmp_path, toy_csv, capsys):
    models = tmp_path / "after"
    data = ["--data", str(toy_csv), "--model", "../no-such-model"]
    assert main(["train", "--output-dir", str(models), *data]) == 2  # the model fails, not args
    assert "does not exist" in capsys.readouterr().err


def test_a_single_class_file_is_refused_before_any_run_folder_exists(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("text,label\n" + "".join(f"text number {i},yes\n" for i in range(10)))
    code = main(["--output-dir", str(tmp_path / "models"), "train", "--data", str(data)])
    assert code == 2
    assert "at least two different labels" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


@pytest.mark.slow  # a separate process, or a training to its end
def test_the_module_entry_point_gives_no_traceback(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "bertviz_lib", "train", "--data", str(tmp_path / "missing.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith("error: There is no file")
    assert "Traceback" not in completed.stderr


@pytest.mark.slow  # a separate process, or a training to its end
def test_sigterm_cancels_training_at_the_next_step(tmp_path, toy_csv, tiny_model_dir):
    models = tmp_path / "models"
    command = [sys.executable, "-m", "bertviz_lib", "--output-dir", str(models), "train",
               "--data", str(toy_csv), "--model", tiny_model_dir, "--epochs", "50",
               "--batch-size", "1", "--json"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            listed = runs.list_runs(models)
            if listed and any(e["event"] == "evaluation" for e in listed[0].events()):
                break
            time.sleep(0.2)
        else:
            pytest.fail("training never reached its first evaluation")
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0
    result = json.loads(out)
    assert result["state"] == "cancelled"
    run = runs.load_run(result["run"], models)
    assert run.loadable  # the checkpoint of the first evaluation was kept
    assert run.events()[-1]["stopped"] == "cancelled"


def test_bad_data_for_a_prepared_run_folder_marks_it_failed(tmp_path, capsys):
    run_dir = runs.create_run(tmp_path / "models", "from-the-app")
    data = tmp_path / "one.csv"
    data.write_text("text,label\n" + "".join(f"text number {i},yes\n" for i in range(10)))
    code = main(["train", "--data", str(data), "--run-dir", str(run_dir)])
    assert code == 2
    run = runs.load_run(run_dir, tmp_path / "models")
    assert run.state == "failed" and "two different labels" in run.status["error"]


def test_explain_prints_attributions_with_the_convergence_check(trained, capsys):
    models, result = trained
    run = Path(result["run"]).name
    base = ["--output-dir", str(models), "explain", "--run", run, "--text", "the film was superb"]
    assert main([*base, "--json"]) == 0
    explanation = json.loads(capsys.readouterr().out)
    assert explanation["method"] == "integrated_gradients"
    assert explanation["words"] == ["the", "film", "was", "superb"]
    assert len(explanation["word_attributions"]) == 4
    # One node is enough where f barely moves along the whole path; completeness checks it.
    assert 1 <= explanation["n_steps"] <= 128 and explanation["delta"] is not None
    change = explanation["target_probability"] - explanation["baseline_probability"]
    assert sum(explanation["token_attributions"]) == pytest.approx(change + explanation["delta"])
    aopc = explanation["aopc"]
    assert aopc["filler"] == "pad" and aopc["verdict"]
    assert 0 <= aopc["random_comprehensiveness"] <= 1 and aopc["sufficiency"] <= 1
    assert main([*base, "--method", "occlusion", "--target", "negative"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("occlusion: target 'negative'") and "superb" in out
    assert "AOPC comprehensiveness" in out
    assert main([*base, "--method", "lime", "--baseline", "mask", "--json"]) == 0
    lime = json.loads(capsys.readouterr().out)
    assert (
        lime["method"] == "lime" and lime["n_samples"] >= 200 and lime["aopc"]["filler"] == "mask"
    )
    assert main([*base, "--steps", "many"]) == 2
    assert "--steps must be" in capsys.readouterr().err
