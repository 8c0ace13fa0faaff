"""One visitor cannot stop, slow or mislead the others (issue 18): a regression test per finding.

The app serves everyone from one process, one run store and one training queue. These tests feed
it what a hostile or careless visitor would, and check that the visitor gets a clear message,
that nothing that was there is lost, and that the other visitors notice nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app_pages import studio
from bertviz_lib import config, data, explain, runs
from bertviz_lib.cli import main
from bertviz_lib.config import DataConfig, TrainConfig
from bertviz_lib.data import LabelledData, PreparedData
from bertviz_lib.model import backbones
from bertviz_lib.model.predict import Predictor
from bertviz_lib.report import charts, exports
from bertviz_lib.runs import files, launcher
from bertviz_lib.runs.training_run import run_training
from bertviz_lib.train import estimate
from bertviz_lib.train.faults import FAULT_VARIABLE
from tests.helpers import (
    ROOT,
    as_shown,
    open_page,
    prepared,
    start_training,
    tiny_config,
    toy,
    wait_for,
)

TEXTS = [
    f"the {thing} was {adjective} and the staff were {mood}"
    for thing in ("film", "hotel", "room")
    for adjective in ("superb", "awful", "fine")
    for mood in ("kind", "rude", "slow")
]
# Label names a hostile visitor trains with: a code span broken out of, an image and a link to a
# foreign site, a spreadsheet formula, an HTML comment that would hide the rest, a heading.
LINK_LABEL = "x` ![p](https://example.org/p.png) [Reset password](https://example.org)"
FORMULA_LABEL = "=1+1;<!-- hidden --> # Heading"
# Each payload's markdown, not backslash-escaped: what a renderer would act on.
PAYLOADS = [re.compile(r"(?<!\\)" + re.escape(p)) for p in ("](https", "![p]", "<!--", "# Heading")]


def reviews_csv(rows: int = 80) -> bytes:
    toy_data = toy(rows=rows)
    lines = ["review,sentiment"] + [
        f"{text},{labels[0]}" for text, labels in zip(toy_data.texts, toy_data.labels, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def trained_tiny_run(models, tiny_model_dir) -> runs.Run:
    """A run of the tiny model on the toy reviews, in the app's run store."""
    return run_training(prepared(), DataConfig(), tiny_config(tiny_model_dir),
                        runs.create_run(models))  # fmt: skip


def markdown_bodies(app) -> list[str]:
    """What every element that renders markdown was given: alerts, captions, headers, markdown."""
    kinds = ("markdown", "caption", "info", "success", "warning", "error", "title", "header",
             "subheader")  # fmt: skip
    return [str(element.value) for kind in kinds for element in getattr(app, kind)]


def assert_no_markup_from(app, payloads=PAYLOADS) -> None:
    """No element was handed a payload as markdown it would act on."""
    for body in markdown_bodies(app):
        for payload in payloads:
            assert not payload.search(body), f"{payload.pattern} reached markdown: {body!r}"


# 1. One upload blocks training for everyone ------------------------------------------------------


def test_a_nul_in_a_column_name_is_an_error_in_the_data_report():
    rows = "".join(
        json.dumps({"text\u0000": text, "label": labels[0]}) + "\n"
        for text, labels in zip(toy().texts, toy().labels, strict=True)
    )
    prepared = data.prepare(rows.encode(), name="poisoned.jsonl")
    assert not prepared.report.ok
    error = next(f for f in prepared.report.errors if f.code == "control_characters")
    assert "'text\\x00'" in error.message and "rename the column" in error.message


def test_a_control_character_in_the_label_delimiter_is_an_error_in_the_data_report():
    prepared = data.prepare(reviews_csv(), name="reviews.csv", label_delimiter="\x01")
    assert [f.code for f in prepared.report.errors] == ["control_characters"]
    assert "label delimiter" in prepared.report.errors[0].message


def poisoned_run(root: Path) -> Path:
    """A queued run whose launch.json names a column with a NUL: the trainer cannot be started
    from it (what an upload made of before the data report refused such names)."""
    run_dir = runs.create_run(root, "poisoned")
    (run_dir / files.DATA).mkdir()
    (run_dir / files.DATA / "train.csv").write_bytes(reviews_csv())
    launch = {"data": "data/train.csv", "validation": None,
              "data_config": {**vars(DataConfig()), "text_column": "text\u0000"},
              "train_config": vars(TrainConfig())}  # fmt: skip
    files.write_json(run_dir / files.LAUNCH, launch)
    return run_dir


def test_the_worker_survives_a_poisoned_run_and_trains_the_next_one(
    models, stored_model, monkeypatch
):
    monkeypatch.setattr(launcher, "ensure_worker", lambda root: None)  # this test is the worker
    poisoned = poisoned_run(models)
    settings = tiny_config(stored_model, epochs=2)
    good = launcher.submit(models, ("reviews.csv", reviews_csv()), None, DataConfig(), settings)

    launcher.work(models)  # returns once the queue is empty

    failed, trained = runs.Run(poisoned), runs.Run(good)
    assert failed.state == "failed"
    assert "embedded null byte" in failed.status["error"]
    assert trained.state == "completed" and trained.loadable
    assert launcher.queue(models) == []

    page = open_page("app_pages/train.py")  # the session that queued the poisoned run
    page.session_state[studio.WATCHED_RUN] = poisoned.name
    page.run()
    assert not page.exception
    assert any(f"**{poisoned.name}** — failed" in as_shown(m.value) for m in page.markdown)
    assert any("embedded null byte" in as_shown(e.value) for e in page.error)


# 2. One number typed on Train can take the server down -------------------------------------------


@pytest.mark.parametrize(
    "setting, value, sentence",
    [
        ("epochs", 1_000_000_000, "epochs must be at most 50."),
        ("batch_size", 100_000, "batch_size must be at most 512."),
        ("max_length", 4096, "max_length must be at most 512."),
        ("learning_rate", 5.0, "learning_rate must be at most 0.1."),
        ("learning_rate", 1e-12, "learning_rate must be at least 1e-07."),
        ("seed", -1, "seed must be at least 0."),
    ],
)
def test_every_setting_is_bounded(setting, value, sentence):
    assert TrainConfig(**{setting: value}).problems() == [sentence]


def test_the_command_line_refuses_a_billion_epochs_before_training(tmp_path):
    command = [sys.executable, "-m", "bertviz_lib", "--output-dir", str(tmp_path / "models"),
               "train", "--epochs", "1000000000"]  # fmt: skip
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    assert "error: epochs must be at most 50" in finished.stderr
    assert not (tmp_path / "models").exists()


def test_max_length_is_bounded_by_what_the_model_reads(tmp_path, tiny_model_dir, capsys):
    short = tmp_path / "short-model"
    shutil.copytree(tiny_model_dir, short)
    tokenizer_config = json.loads((short / "tokenizer_config.json").read_text())
    tokenizer_config["model_max_length"] = 64
    (short / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    data_file = tmp_path / "reviews.csv"
    data_file.write_bytes(reviews_csv())
    code = main(["--output-dir", str(tmp_path / "models"), "train", "--data", str(data_file),
                 "--model", str(short), "--max-length", "128", "--epochs", "1"])  # fmt: skip
    assert code == 2
    assert "max_length must be at most 64" in capsys.readouterr().err


def test_the_train_page_widgets_carry_the_bounds(models):
    app = open_page("app_pages/train.py")
    assert not app.exception
    assert app.number_input(key="setting.epochs").max == config.MAX_EPOCHS
    assert app.number_input(key="setting.batch_size").max == config.MAX_BATCH_SIZE
    assert app.number_input(key="setting.epochs").min == 1


def test_the_rate_is_measured_on_a_small_batch_for_a_second_or_two(tiny_model_dir, monkeypatch):
    """Whatever batch size is typed, the server process runs a probe of at most 32 rows and
    PROBE_TOKENS_ON_CPU tokens, and stops measuring after about PROBE_SECONDS."""
    shapes = []
    load = backbones.load_classifier

    def recording(name, model_config):
        model = load(name, model_config)

        def record(module, args, kwargs):
            shape = tuple(kwargs["input_ids"].shape)
            shapes.append(shape)
            assert shape[0] <= 32 and shape[0] * shape[1] <= estimate.PROBE_TOKENS_ON_CPU, shape

        model.register_forward_pre_hook(record, with_kwargs=True)
        return model

    monkeypatch.setattr(backbones, "load_classifier", recording)
    started = time.perf_counter()
    rate = estimate.measure_rate(tiny_model_dir, batch_size=512, tokens=512, device_name="cpu")
    assert time.perf_counter() - started < 10
    assert rate > 0 and shapes and shapes[0] == (1, 512)


# 3. One user's Explain corrupts another user's predictions ---------------------------------------


def test_predictions_stay_identical_while_layer_attributions_and_attention_maps_run(
    tiny_model_dir,
):
    """The predictor is shared by every session; one session's Explain (forward hooks per layer,
    the switch to eager attention) must not change another's predictions, nor crash itself."""
    predictor = Predictor(tiny_model_dir, device="cpu")
    expected = predictor.predict_proba(TEXTS)
    done, errors, predictions = threading.Event(), [], []

    def predicting() -> None:
        try:
            while not done.is_set():
                predictions.append(predictor.predict_proba(TEXTS))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    def explaining() -> None:
        try:
            for text in TEXTS[:6]:
                explain.layer_attributions_of(predictor, text, n_steps=16)
                explain.attention_maps_of(predictor, text)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            done.set()

    threads = [threading.Thread(target=predicting), threading.Thread(target=explaining)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert len(predictions) >= 3
    changed = sum(not np.array_equal(got, expected) for got in predictions)
    assert changed == 0, f"{changed} of {len(predictions)} predictions changed"
    assert predictor.model.config._attn_implementation == "sdpa"  # never switched to eager


# 4. Markdown injection through label names, texts, file and run names ---------------------------


@pytest.fixture
def hostile_run(models, tiny_model_dir) -> runs.Run:
    """A trained run whose two labels are markdown and formula payloads."""
    names = {"positive": LINK_LABEL, "negative": FORMULA_LABEL}
    source = toy()
    labelled = LabelledData(
        source.texts, [(names[row[0]],) for row in source.labels],
        sorted(names.values()), "single_label",
    )  # fmt: skip
    prepared = PreparedData(
        labelled.subset(range(72)), labelled.subset(range(72, 96)), data.DataReport(), "text",
        "label",
    )  # fmt: skip
    run_dir = runs.create_run(models, "hostile")
    return run_training(prepared, DataConfig(), tiny_config(tiny_model_dir), run_dir)


def test_label_names_never_reach_markdown_as_markup(hostile_run):
    predict = open_page("app_pages/predict.py")
    predict.text_area[0].set_value("the film was superb")
    predict.button[0].click().run()
    assert not predict.exception
    answer = next(as_shown(m.value) for m in predict.markdown if "Predicted:" in m.value)
    assert LINK_LABEL in answer or FORMULA_LABEL in answer  # shown, literally
    assert_no_markup_from(predict)

    explain_page = open_page("app_pages/explain.py")
    explain_page.text_area(key="explain.typed").set_value("the hotel was awful").run()
    assert not explain_page.exception
    assert any("the predicted probability of '" in as_shown(c.value) for c in explain_page.caption)
    assert_no_markup_from(explain_page)

    metrics = open_page("app_pages/metrics.py")
    assert not metrics.exception
    assert_no_markup_from(metrics)

    quiz = open_page("app_pages/quiz.py")
    quiz.radio(key=studio.QUIZ_MODE).set_value("From your run").run()
    assert not quiz.exception
    options = [option for radio in quiz.radio for option in radio.options]
    assert any(LINK_LABEL in as_shown(option) for option in options)
    for option in options:
        assert not any(payload.search(option) for payload in PAYLOADS), option
    assert_no_markup_from(quiz)


def test_file_names_and_typed_numbers_never_reach_markdown_as_markup(models):
    name = "reviews [Reset password](https://example.org) ![p](https://example.org/p.png).csv"
    app = open_page("app_pages/data.py")
    app.radio[0].set_value("My own file").run()
    app.file_uploader[0].set_value((name, reviews_csv(), "text/csv")).run()
    assert not app.exception
    train = app.switch_page("app_pages/train.py").run()
    train.text_input(key="setting.learning_rate").set_value("![p](https://example.org/p.png)")
    train.run()
    assert not train.exception
    assert any(name in as_shown(m.value) for m in train.markdown)
    assert_no_markup_from(train)


# 5. CSV exports ----------------------------------------------------------------------------------


def test_every_csv_field_is_quoted_and_every_separated_part_neutralised():
    frame = pd.DataFrame({"text": ["great film;=cmd|' /C calc'!A0", "x;=1+1", "a, -2", "fine"],
                          "p": [0.1, 0.2, 0.3, 0.4]})  # fmt: skip
    text = exports.safe_csv(frame).decode()
    assert text.splitlines() == [
        '"text","p"',
        '''"great film;'=cmd|' /C calc'!A0","0.1"''',
        '''"x;'=1+1","0.2"''',
        '''"a,' -2","0.3"''',
        '"fine","0.4"',
    ]


def test_the_tables_on_predict_show_neutralised_cells_for_their_own_csv_button(hostile_run):
    app = open_page("app_pages/predict.py")
    table = b"review\ngreat film;=cmd|' /C calc'!A0\nthe hotel was awful\n"
    app.file_uploader[0].set_value(("new.csv", table, "text/csv")).run()
    next(b for b in app.button if b.label == "Predict the file").click().run()
    assert not app.exception
    shown = app.dataframe[0].value
    assert shown["text"][0] == "great film;'=cmd|' /C calc'!A0"
    assert all(not str(c).startswith("=") for c in shown.columns)
    assert set(shown["predicted_label"]) <= {LINK_LABEL, f"'{FORMULA_LABEL}"}


def test_the_tables_on_metrics_show_neutralised_cells_for_their_own_csv_button(hostile_run):
    app = open_page("app_pages/metrics.py")
    assert not app.exception
    for table in app.dataframe:
        for value in table.value.astype(str).to_numpy().ravel():
            parts = value.replace(",", ";").split(";")
            assert not any(part.lstrip(" ").startswith("=") for part in parts), value


# 6. The "local folder" box accepts any Hub id ----------------------------------------------------


def test_the_app_queues_no_hub_model_it_does_not_list(models, monkeypatch):
    monkeypatch.setattr(launcher, "ensure_worker", lambda root: None)
    upload = ("reviews.csv", reviews_csv())
    with pytest.raises(backbones.BackboneError, match="downloads only the hub models it lists"):
        launcher.submit(models, upload, None, DataConfig(),
                        TrainConfig(model="meta-llama/Llama-3.1-405B"))  # fmt: skip
    assert runs.list_runs(models) == []
    listed = launcher.submit(models, upload, None, DataConfig(),
                             TrainConfig(model="prajjwal1/bert-tiny"))  # fmt: skip
    assert runs.Run(listed).state == "queued"


def test_the_train_page_refuses_a_hub_id_typed_as_a_folder(models, monkeypatch):
    monkeypatch.setattr(launcher, "ensure_worker", lambda root: None)
    app = start_training(open_page("app_pages/train.py"), "meta-llama/Llama-3.1-405B")
    assert not app.exception
    assert any("downloads only the hub models it lists" in as_shown(e.value) for e in app.error)
    assert runs.list_runs(models) == []


# 7. Limits ---------------------------------------------------------------------------------------


def test_more_than_a_thousand_labels_is_a_clear_error():
    rows = "".join(f"text number {i} here,label{i % 1001}\n" for i in range(3000))
    prepared = data.prepare(("text,label\n" + rows).encode(), name="many.csv")
    error = next(f for f in prepared.report.errors if f.code == "too_many_labels")
    assert "1,001 different labels; at most 1,000" in error.message


def test_a_confusion_matrix_of_many_classes_draws_the_largest_and_sums_the_rest():
    names = [f"class {i}" for i in range(60)]
    matrix = np.diag(np.arange(1, 61))  # class 59 has the most examples
    figure = charts.confusion_matrix(matrix, names, top=config.CONFUSION_TOP_CLASSES)
    heatmap = figure.data[0]
    assert len(heatmap.x) == 51
    assert (heatmap.x[0], heatmap.x[-1]) == ("class 59", "other (10 classes)")
    assert heatmap.z[-1][-1] == sum(range(1, 11))  # the ten smallest, summed


def test_predict_caps_the_rows_of_a_file_and_can_be_stopped(trained_tiny_run, monkeypatch):
    monkeypatch.setattr(config, "PREDICT_MAX_ROWS", 10)
    app = open_page("app_pages/predict.py")
    table = "review\n" + "".join(f"the film number {i} was superb\n" for i in range(30))
    app.file_uploader[0].set_value(("many.csv", table.encode(), "text/csv")).run()
    assert any("The file has 30 rows; the first 10 are predicted" in w.value for w in app.warning)
    next(b for b in app.button if b.label == "Predict the file").click().run()
    assert not app.exception
    assert len(app.dataframe[0].value) == 10
    next(b for b in app.button if b.label == "Stop predicting").click().run()
    assert any("Stopped" in i.value for i in app.info)


def test_predictions_of_a_file_are_computed_one_slice_at_a_time(tiny_model_dir, monkeypatch):
    predictor = Predictor(tiny_model_dir, device="cpu")
    calls = []
    original = predictor.predict_proba
    monkeypatch.setattr(predictor, "predict_proba", lambda texts: calls.append(len(texts))
                        or original(texts))  # fmt: skip
    slices = predictor.predict_in_batches(TEXTS, batch_rows=10)
    done, first = next(slices)
    slices.close()  # the visitor pressed Stop
    assert done == 10 and first.shape == (10, 2) and calls == [10]


def test_a_session_queues_at_most_three_runs(models, stored_model, monkeypatch):
    monkeypatch.setattr(launcher, "ensure_worker", lambda root: None)  # they all stay queued
    app = start_training(open_page("app_pages/train.py"), stored_model)
    for _ in range(3):
        next(b for b in app.button if b.label == "Start training").click().run()
    assert not app.exception
    assert len(runs.list_runs(models)) == config.MAX_QUEUED_PER_SESSION
    assert any("already have 3 runs waiting" in e.value for e in app.error)
    other = start_training(open_page("app_pages/train.py"), stored_model)  # another visitor's own 3
    assert len(runs.list_runs(models)) == config.MAX_QUEUED_PER_SESSION + 1
    assert not other.error


@pytest.mark.parametrize(
    "page",
    ["app_pages/data.py", "app_pages/train.py", "app_pages/predict.py", "app_pages/explain.py"],
)
def test_every_text_box_has_a_length_limit(trained_tiny_run, page):
    app = open_page(page)
    if page == "app_pages/train.py":  # the model folder box too
        app.selectbox[0].set_value("A local folder…").run()
    assert not app.exception
    boxes = [*app.text_input, *app.text_area]
    assert boxes and all(box.max_chars for box in boxes), [(b.label, b.max_chars) for b in boxes]


def test_new_events_are_read_from_where_the_last_read_stopped(tmp_path):
    writer = runs.RunWriter(runs.create_run(tmp_path))
    writer.log_event({"event": "start"})
    run = runs.Run(writer.path)
    first, offset = run.events_after(0)
    assert [e["event"] for e in first] == ["start"]
    writer.log_event({"event": "step", "step": 1})
    with open(writer.path / files.EVENTS, "a") as handle:
        handle.write('{"event": "step", "st')  # a line being written right now
    second, later = run.events_after(offset)
    assert [e["event"] for e in second] == ["step"] and later > offset
    assert run.events_after(later) == ([], later)


def test_the_train_page_never_reads_a_whole_metrics_file_while_polling(models, monkeypatch):
    writer = runs.RunWriter(runs.create_run(models, "long"))
    writer.set_status("running")
    for step in range(1, 4):
        writer.log_event({"event": "evaluation", "step": step, "epoch": step,
                          "metrics": {"accuracy": 0.5 + step / 10}})  # fmt: skip
    monkeypatch.setattr(runs.Run, "events", lambda self: pytest.fail("read the whole file"))
    app = open_page("app_pages/train.py")
    assert not app.exception
    writer.log_event({"event": "evaluation", "step": 4, "epoch": 4, "metrics": {"accuracy": 0.9}})
    app.run()
    assert not app.exception
    assert len(app.dataframe[-1].value) == 4  # the three read before, and the one added
    writer.set_status("cancelled")


def test_the_model_zip_is_built_once_per_run(trained_tiny_run, monkeypatch):
    built = []
    zip_folder = exports.zip_folder
    monkeypatch.setattr(exports, "zip_folder", lambda folder: built.append(folder)
                        or zip_folder(folder))  # fmt: skip
    app = open_page("app_pages/metrics.py")
    app.toggle(key=f"zip-toggle-{trained_tiny_run.run_id}").set_value(True).run()
    app.run()
    open_page("app_pages/metrics.py").toggle(key=f"zip-toggle-{trained_tiny_run.run_id}").set_value(
        True
    ).run()  # another visitor
    assert not app.exception
    assert len(built) == 1


@pytest.mark.parametrize("stall", ["stall:evaluation", "stall:save"])
def test_cancel_is_honoured_within_seconds_while_evaluating_or_saving(
    tmp_path, tiny_model_dir, stall
):
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_bytes(reviews_csv())
    models = tmp_path / "models"
    command = [sys.executable, "-m", "bertviz_lib", "--output-dir", str(models), "train",
               "--data", str(csv_file), "--model", tiny_model_dir, "--epochs", "2",
               "--batch-size", "8", "--json"]  # fmt: skip
    log = tmp_path / "stderr.log"
    with open(log, "wb") as errors:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors,
                                   env={**os.environ, FAULT_VARIABLE: stall})  # fmt: skip
    try:
        wait_for(lambda: "Injected stall" in log.read_text(errors="replace"), "the stall", 120)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        waited = time.monotonic() - sent
    finally:
        process.kill()
    assert waited < 20, waited
    run = runs.list_runs(models)[0]
    assert run.state == "cancelled" and "no model was kept" in run.status["message"]
    assert not run.loadable and not (run.path / "model.tmp").exists()


# 8. Races and identities -------------------------------------------------------------------------


def test_two_runs_named_alike_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    """The other session's folder appears between the check and the mkdir: still no error."""
    monkeypatch.setattr(runs.store, "new_run_id", lambda name: "20250101-000000-same")
    monkeypatch.setattr(Path, "exists", lambda self: False)  # the check saw nothing yet
    first = runs.create_run(tmp_path, "same")
    second = runs.create_run(tmp_path, "same")
    assert (first.name, second.name) == ("20250101-000000-same", "20250101-000000-same-2")


def test_cancel_never_signals_a_process_that_took_over_the_trainers_pid(tmp_path):
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        writer = runs.RunWriter(runs.create_run(tmp_path))
        writer.set_status("running")
        status = {**runs.Run(writer.path).status, "pid": bystander.pid,
                  "pid_started": "a boot before the restart:12345"}  # fmt: skip
        files.write_json(writer.path / files.STATUS, status)
        run = runs.Run(writer.path)
        assert run.state == "running"  # the pid is alive, the heartbeat fresh

        assert launcher.cancel(run) is False
        time.sleep(0.3)
        assert bystander.poll() is None  # still sleeping: not signalled
    finally:
        bystander.kill()
        bystander.wait()


def test_a_folder_outside_the_store_is_neither_loaded_nor_deleted(tmp_path):
    store, outside = tmp_path / "models", runs.create_run(tmp_path / "elsewhere", "mine")
    store.mkdir()
    with pytest.raises(runs.RunError, match="outside the run store"):
        runs.load_run(outside, store)
    with pytest.raises(runs.RunError, match="outside the run store"):
        runs.delete_run(outside, store)
    assert (outside / files.STATUS).is_file()


def test_links_inside_a_run_are_never_followed(tmp_path):
    store, secret = tmp_path / "models", tmp_path / "secret"
    secret.mkdir()
    (secret / "config.json").write_text("{}")
    (secret / "weights.safetensors").write_bytes(b"secret weights")
    (secret / "status.json").write_text('{"state": "completed"}')
    (secret / "table.csv").write_text("text,true_label,predicted_label,confidence\nsecret,a,a,1\n")

    linked_status = runs.create_run(store, "status")
    (linked_status / files.STATUS).unlink()
    (linked_status / files.STATUS).symlink_to(secret / "status.json")
    assert linked_status.name not in [run.run_id for run in runs.list_runs(store)]
    with pytest.raises(runs.RunError, match="symbolic link"):
        runs.load_run(linked_status.name, store)

    linked = runs.load_run(runs.create_run(store, "model"), store)
    runs.RunWriter(linked.path).set_status("completed")
    (linked.path / files.MODEL).symlink_to(secret, target_is_directory=True)
    (linked.path / files.PREDICTIONS).symlink_to(secret / "table.csv")
    assert not linked.loadable
    assert linked.predictions() is None
    with pytest.raises(ValueError, match="symbolic link"):
        exports.zip_folder(linked.model_dir)


# 9. Exposure by default --------------------------------------------------------------------------


def test_the_server_listens_on_this_machine_only_and_hides_tracebacks():
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["address"] in ("localhost", "127.0.0.1")
    assert settings["client"]["showErrorDetails"] == "none"


def test_home_shows_no_path_of_the_server(models):
    app = open_page("app_pages/home.py")
    assert not app.exception
    shown = " ".join(markdown_bodies(app))
    for path in (sys.prefix, str(backbones.bundled_path()), str(ROOT), os.path.expanduser("~")):
        assert path not in shown, path
    assert "delete" in shown  # says that every visitor shares the runs


# 10. Data checks that stay quiet -----------------------------------------------------------------


DUPLICATED = b"text,text,label\n" + b"".join(
    b"great thing %d,ignore %d,good\nbroken thing %d,ignore %d,bad\n" % (i, i, i, i)
    for i in range(10)
)


def test_two_columns_of_one_name_are_reported_with_the_one_used():
    prepared = data.prepare(DUPLICATED, name="twice.csv")
    warning = next(f for f in prepared.report.warnings if f.code == "duplicate_columns")
    assert "2 columns named 'text' (columns 1 and 2)" in warning.message
    assert "column 2 was renamed 'text.1'" in warning.message
    assert "The text column used is column 1 ('text')" in warning.message
    assert prepared.train.texts[0].startswith(("great thing", "broken thing"))


def test_the_command_line_warns_about_a_renamed_column(tmp_path, capsys):
    data_file = tmp_path / "twice.csv"
    data_file.write_bytes(DUPLICATED.replace(b",bad\n", b",good\n"))  # one class: stops early
    code = main(["--output-dir", str(tmp_path / "models"), "train", "--data", str(data_file)])
    errors = capsys.readouterr().err
    assert code == 2
    assert "warning: The header has 2 columns named 'text'" in errors
