"""Each page, driven through AppTest: uploads, column choices, reports, dashboards, predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from app_pages import studio
from bertviz_lib import runs
from bertviz_lib.config import MAX_EPOCHS
from tests.helpers import (
    REVIEWS,
    as_shown,
    copy_run,
    messages,
    open_page,
    prepared,
    start_training,
    upload,
    wait_for,
)


def test_data_page_reads_an_upload_and_keeps_it_for_training(models):
    app = upload(open_page("app_pages/data.py"), "reviews.csv", REVIEWS)
    assert not app.exception
    assert app.selectbox[0].value == "comment" and app.selectbox[1].value == "stars"
    assert any("Ready: 48 training and 12 validation rows" in m for m in messages(app, "success"))
    dataset = app.session_state[studio.DATASET]
    assert dataset.file_name == "reviews.csv" and not dataset.from_sample
    assert len(app.get("plotly_chart")) == 2  # label distribution and token lengths


def test_a_wrong_label_column_is_reported_and_the_earlier_data_kept(models):
    app = upload(open_page("app_pages/data.py"), "reviews.csv", REVIEWS)
    app.selectbox[1].set_value("comment").run()  # the text column picked as labels too
    assert not app.exception
    errors = " ".join(messages(app, "error"))
    assert "both the text and the label" in errors
    assert "still uses the data chosen before: reviews.csv" in errors
    assert app.session_state[studio.DATASET].data_config.label_column == "stars"


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty"),
        (b"text,label\n" + b"".join(b"row %d,same\n" % i for i in range(20)), "two different"),
        (b"\x00\x01\x02binary\xff\xfe" * 50, "could not be read"),
    ],
)
def test_bad_uploads_get_a_clear_message(models, content, expected):
    app = upload(open_page("app_pages/data.py"), "bad.csv", content)
    assert not app.exception
    assert expected in " ".join(messages(app, "error")).lower()


def test_html_in_texts_is_shown_as_text(models):
    hostile = (b"text,label\n" + b"<script>alert(1)</script> nice,good\n" * 5
               + b"<img src=x onerror=alert(2)> bad,bad\n" * 5)  # fmt: skip
    app = upload(open_page("app_pages/data.py"), "html.csv", hostile)
    assert not app.exception
    preview = app.dataframe[0].value
    assert "<script>alert(1)</script> nice" in set(preview["text"])


def test_metrics_page_shows_every_dashboard_element(trained_run):
    app = open_page("app_pages/metrics.py")
    assert not app.exception
    labels = [m.label for m in app.metric]
    assert "Accuracy" in labels and "Macro-F1" in labels
    assert len(app.get("plotly_chart")) >= 7  # confusion, ROC, PR, reliability, loss, lr, epochs
    # JSON, CSV, the suspected label errors (the zip is made on request)
    assert len(app.get("download_button")) == 3
    app.toggle[0].set_value(True).run()  # normalised confusion matrix
    assert not app.exception


def test_predict_page_predicts_a_typed_text(trained_run):
    app = open_page("app_pages/predict.py")
    app.text_area[0].set_value("the film was superb")
    app.button[0].click().run()
    assert not app.exception
    assert any("positive" in m.value for m in app.markdown)
    assert len(app.get("plotly_chart")) == 1


def test_pages_without_runs_say_how_to_get_one(models):
    for page in ("app_pages/metrics.py", "app_pages/predict.py"):
        app = open_page(page)
        assert not app.exception
        assert "No" in app.info[0].value


def test_train_page_trains_to_completion_and_a_reload_shows_it(
    models, stored_model, no_workers_left
):
    app = start_training(open_page("app_pages/train.py"), stored_model)
    assert not app.exception
    run_id = app.session_state[studio.WATCHED_RUN]
    run = runs.load_run(run_id, models)
    wait_for(lambda: run.state == "completed", "the run to complete")

    reloaded = open_page("app_pages/train.py")  # a new session: the browser tab was reloaded
    assert not reloaded.exception
    assert studio.WATCHED_RUN not in reloaded.session_state
    assert any(f"**{run_id}** — completed" in as_shown(m.value) for m in reloaded.markdown)
    metrics = open_page("app_pages/metrics.py")
    assert run_id in metrics.multiselect[0].value


def test_the_validation_rows_the_data_page_shows_are_the_ones_the_run_is_scored_on(
    models, stored_model, no_workers_left
):
    app = upload(open_page("app_pages/data.py"), "reviews.csv", REVIEWS)
    app.number_input(key="data.seed").set_value(7).run()
    previewed = app.session_state[studio.DATASET].prepared.validation.texts
    default_split = upload(open_page("app_pages/data.py"), "reviews.csv", REVIEWS)
    assert previewed != default_split.session_state[studio.DATASET].prepared.validation.texts
    app = start_training(app.switch_page("app_pages/train.py").run(), stored_model, epochs=1)
    run = runs.load_run(app.session_state[studio.WATCHED_RUN], models)
    wait_for(lambda: run.state == "completed", "the run to complete")
    assert run.config["train"]["seed"] == 7
    assert run.predictions()["text"].tolist() == previewed


def test_a_reload_during_training_shows_the_run_where_it_is(models, stored_model, no_workers_left):
    app = start_training(open_page("app_pages/train.py"), stored_model, epochs=MAX_EPOCHS)
    run = runs.load_run(app.session_state[studio.WATCHED_RUN], models)
    wait_for(lambda: run.state == "running" and run.events(), "the run to start")
    reloaded = open_page("app_pages/train.py")
    shown = " ".join(as_shown(m.value) for m in reloaded.markdown)
    assert f"**{run.run_id}** — running" in shown


def test_a_second_start_while_one_runs_is_queued_with_its_place(
    models, stored_model, no_workers_left
):
    first = start_training(open_page("app_pages/train.py"), stored_model, epochs=MAX_EPOCHS)
    first_run = runs.load_run(first.session_state[studio.WATCHED_RUN], models)
    wait_for(lambda: first_run.state == "running", "the first run to start")
    second = start_training(open_page("app_pages/train.py"), stored_model)
    second_id = second.session_state[studio.WATCHED_RUN]
    assert second_id != first_run.run_id
    second.run()
    assert any("Waiting in the queue: position 1" in m.value for m in second.info)


def test_predict_page_predicts_an_uploaded_file(trained_run):
    app = open_page("app_pages/predict.py")
    table = b"id,review\n1,the film was superb\n2,the hotel was awful\n3,=HYPERLINK(1)\n"
    app.file_uploader[0].set_value(("new.csv", table, "text/csv")).run()
    assert app.selectbox[1].value == "review"
    app.button[1].click().run()
    assert not app.exception
    shown = app.dataframe[0].value
    assert list(shown["text"]) == ["the film was superb", "the hotel was awful", "'=HYPERLINK(1)"]
    assert {"predicted_label", "p_negative", "p_positive"} <= set(shown.columns)
    assert len(app.get("download_button")) == 1


@pytest.mark.parametrize("problem_type", ["binary", "multi_label"])
def test_metrics_page_handles_binary_and_multi_label_runs(models, trained_runs, problem_type):
    data = prepared(problem_type)
    copy_run(trained_runs(problem_type), models)
    app = open_page("app_pages/metrics.py")
    assert not app.exception
    labels = [m.label for m in app.metric]
    assert ("Micro-F1" in labels) == (problem_type == "multi_label")
    if problem_type == "multi_label":  # one 2x2 matrix per label, picked by name
        app.selectbox[0].set_value(data.train.label_names[-1]).run()
        assert not app.exception


def test_explain_page_shows_checked_attributions_and_attention(trained_run):
    app = open_page("app_pages/explain.py")
    app.text_area(key="explain.typed").set_value("the film was <img src=x onerror=alert(1)> superb")
    app.run()
    assert not app.exception
    titles = ["Integrated Gradients", "Gradient × input", "Occlusion", "KernelSHAP", "LIME"]
    assert [s.value for s in app.subheader] == titles
    assert any("Completeness delta" in m.value for m in [*app.success, *app.warning])
    assert any("Shapley values should add up" in m.value for m in app.info)
    heatmaps = app.get("html")
    assert len(heatmaps) == 5
    assert all("<img" not in h.proto.body for h in heatmaps)
    assert ">&lt;</span>" in heatmaps[0].proto.body  # WordPiece splits '<' off as its own word
    assert len(app.get("download_button")) == 2  # the explanation as HTML and as JSON
    # method comparison, top words, faithfulness curves, one head, the grid, rollout against IG
    assert len(app.get("plotly_chart")) == 6
    faithful = app.dataframe[0].value
    assert list(faithful["method"]) == [*titles, "random"]
    assert any("ranks the tokens most faithfully" in m.value for m in app.markdown)
    assert any("Spearman rank agreement" in m.value for m in app.markdown)

    app.toggle(key="explain.layers").set_value(True).run()
    assert any("Convergence delta per layer" in m.value for m in [*app.success, *app.warning])
    app.toggle(key="explain.across").set_value(True).run()
    assert not app.exception
    assert any("texts explained with Gradient × input" in c.value for c in app.caption)
    assert len(app.get("plotly_chart")) >= 8  # the layer heatmap and a chart per class


def test_explain_takes_a_validation_example_or_a_text_sent_from_metrics(trained_run):
    app = open_page("app_pages/explain.py")
    app.radio(key="explain.source").set_value("A validation example").run()
    assert not app.exception
    example = app.selectbox(key="explain.example").value
    last_word = example["text"].split()[-1]
    assert f">{last_word}</span>" in app.get("html")[0].proto.body
    target = next(box for box in app.selectbox if box.label == "Explain the class")
    assert target.value == example["predicted_label"].split(";")[0]

    app.session_state[studio.EXPLAIN_TEXT] = "sent from the metrics page"
    app.run()
    assert app.text_area(key="explain.typed").value == "sent from the metrics page"
    assert app.radio(key="explain.source").value == "Type or paste a text"


def test_deleting_a_run_on_metrics_removes_its_folder_and_data(trained_run):
    app = open_page("app_pages/metrics.py")
    key = trained_run.run_id
    assert app.button(key=f"delete-{key}").disabled  # not without the confirmation
    app.checkbox(key=f"sure-{key}").check().run()
    app.button(key=f"delete-{key}").click().run()
    assert not app.exception
    assert not trained_run.path.exists()
    assert any("No trained run yet" in m.value for m in app.info)


@pytest.mark.parametrize("typed", ["{outside}", "../outside", "/etc"])
def test_a_model_folder_outside_the_store_is_refused_on_the_train_page(
    models, tiny_model_dir, typed
):
    outside = str(Path(tiny_model_dir).resolve())
    app = start_training(open_page("app_pages/train.py"), typed.format(outside=outside))
    assert not app.exception
    errors = messages(app, "error")
    assert any("outside the model store" in e or "may not use '..'" in e for e in errors), errors
    assert studio.WATCHED_RUN not in app.session_state
    assert not models.exists() or runs.list_runs(models) == []
