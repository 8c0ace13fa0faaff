"""What the pages share: session-state keys, cached resources, and widgets for settings."""

from __future__ import annotations

from dataclasses import dataclass, fields

import streamlit as st

from bertviz_lib import data, runs
from bertviz_lib.config import MAX_NAME_CHARS, MAX_SETTING_CHARS, DataConfig, TrainConfig
from bertviz_lib.data.samples import SAMPLES
from bertviz_lib.model import backbones
from bertviz_lib.model.predict import Predictor
from bertviz_lib.report import render
from bertviz_lib.train import batching, estimate

DATASET = "studio.dataset"  # the prepared data; its own key, so it survives page switches
WATCHED_RUN = "studio.watched_run"
CHOSEN_RUN = "studio.chosen_run"  # the run picked on Predict, Explain or Metrics, kept across them
EXPLAIN_TEXT = "studio.explain_text"  # a text sent to Explain from another page
MY_RUNS = "studio.my_runs"  # ids of the runs this browser session queued, oldest first
CALIBRATED = "studio.calibrated"  # Predict and Explain show calibrated probabilities (default)
FILE_TYPES = ["csv", "tsv", "jsonl", "json", "txt"]


@dataclass
class Dataset:
    """The data the Train page will use, kept in session state between pages."""

    file_name: str
    raw: bytes
    validation_name: str | None
    validation_raw: bytes | None
    data_config: DataConfig
    problem_type: str
    max_length: int
    seed: int  # splits the data here and seeds the training, so the preview is what trains
    prepared: data.PreparedData
    from_sample: bool
    lengths: list[int]  # token counts of every text, as the data checks measured them


def upload_limit_mb() -> int:
    return int(st.get_option("server.maxUploadSize"))


@st.cache_resource(show_spinner="Loading the tokenizer…")
def tokenizer(model_name: str = "bundled"):
    return backbones.load_tokenizer(model_name)


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def predictor(run_path: str, finished_at: float | None, calibrated: bool = True) -> Predictor:
    """One model per run; `finished_at` makes a re-trained folder load afresh; `calibrated`
    False gives the model as trained, without its temperature (insight/calibration.py)."""
    return Predictor(f"{run_path}/model", calibrated=calibrated)


def loadable_runs() -> list[runs.Run]:
    """Runs with a saved model; with none, the page says how to get one and stops there."""
    ready = [run for run in runs.list_runs() if run.loadable]
    if not ready:
        st.info("No trained run yet.")
        st.page_link("app_pages/train.py", label="Train one", icon=":material/model_training:")
        st.stop()
    return ready


def chosen_run_and_model(calibration_choice: bool = False) -> tuple[runs.Run, Predictor]:
    """The run picked (kept across pages) and its model; with `calibration_choice`, a toggle
    between its calibrated probabilities (the default) and those of the model as trained."""
    ready = loadable_runs()
    ids = [run.run_id for run in ready]
    remembered = st.session_state.get(CHOSEN_RUN)
    run = st.selectbox("Run", ready, index=ids.index(remembered) if remembered in ids else 0,
                       format_func=lambda r: r.run_id)  # fmt: skip
    st.session_state[CHOSEN_RUN] = run.run_id
    calibrated = calibration_toggle(run) if calibration_choice else True
    return run, predictor(str(run.path), run.status.get("finished"), calibrated)


def calibration_toggle(run: runs.Run) -> bool:
    from bertviz_lib.insight import calibration

    temperatures = calibration.read(run.path).get("temperatures") or [1.0]
    shown = ", ".join(f"{t:.2f}" for t in temperatures)
    return st.toggle(
        "Calibrated probabilities", value=True, key=CALIBRATED,
        help=f"On (the default): the logits divided by the temperature fitted on the validation "
        f"rows (T = {shown}; Metrics → Calibration shows what it changes). Off: the "
        "probabilities of the model as trained. The predicted class is the same either way.",
    )  # fmt: skip


@st.cache_resource(show_spinner="Loading the bundled model with a fresh head…")
def demo_classifier():
    from bertviz_lib.learn import lessons

    return lessons.demo_classifier()


QUIZ_MODE = "quiz.mode"
QUIZ_TOPIC = "quiz.topic"


def practise(topic: str) -> None:
    """Send the learner from a lesson to practice questions on its topic."""
    st.session_state[QUIZ_MODE] = "Practice"
    st.session_state[QUIZ_TOPIC] = topic
    st.switch_page("app_pages/quiz.py")


def open_in_explain(run_id: str, text: str) -> None:
    st.session_state[CHOSEN_RUN] = run_id
    st.session_state[EXPLAIN_TEXT] = text
    st.switch_page("app_pages/explain.py")


@st.cache_data(show_spinner=False, max_entries=256)
def explanation(
    run_path: str, finished_at, text: str, method: str, options: tuple, calibrated: bool = True
):
    """Explanations are deterministic for a run, a text and options, so reruns reuse them."""
    from bertviz_lib.explain import explain

    return explain(predictor(run_path, finished_at, calibrated), text, method, **dict(options))


@st.cache_data(show_spinner=False, max_entries=64)
def faithfulness_check(
    run_path: str, finished_at, text: str, requests: tuple, filler: str, calibrated: bool = True
):
    """Deletion and insertion curves of the explanations asked for as (method, options)."""
    from bertviz_lib.explain import faithfulness

    model = predictor(run_path, finished_at, calibrated)
    explained = [explanation(run_path, finished_at, text, m, o, calibrated) for m, o in requests]
    return faithfulness(model.model, model.tokenizer, text, explained,
                        problem_type=model.problem_type, max_length=model.max_length,
                        filler=filler)  # fmt: skip


@st.cache_data(show_spinner="Integrated Gradients at every layer…", max_entries=32)
def layers_of(run_path: str, finished_at, text: str, options: tuple, calibrated: bool = True):
    from bertviz_lib.explain import layer_attributions_of

    model = predictor(run_path, finished_at, calibrated)
    return layer_attributions_of(model, text, **dict(options))


@st.cache_resource(show_spinner="Zipping the model…", max_entries=2)
def model_zip(run_path: str, finished_at, calibrated: bool = True) -> bytes:
    """Built once per run and choice and kept (two at most): zipping a model takes seconds and
    its size in memory, and every rerun of Metrics would otherwise do it again."""
    from bertviz_lib.insight import calibration

    return calibration.model_zip(runs.load_run(run_path).model_dir, calibrated)


@st.cache_data(show_spinner="Measuring this machine's training speed…", max_entries=16)
def measured_rate(model_name: str, batch_size: int, tokens: int) -> float:
    return estimate.measure_rate(model_name, batch_size, tokens)


def prepare(
    file_name: str,
    raw: bytes,
    validation_name: str | None,
    validation_raw: bytes | None,
    data_config: DataConfig,
    problem_type: str,
    max_length: int,
    seed: int,
    from_sample: bool,
) -> Dataset:
    count_tokens = batching.token_counter(tokenizer())
    measured: list[int] = []

    def remembering_counter(texts: list[str]) -> list[int]:
        """Tokenizing a large upload takes seconds; the histogram reuses these counts."""
        measured[:] = count_tokens(texts)
        return list(measured)

    settings = TrainConfig(problem_type=problem_type, max_length=max_length, seed=seed)
    prepared = data.prepare_for_training(
        raw, data_config, settings, name=file_name, validation_source=validation_raw,
        validation_name=validation_name, token_counter=remembering_counter,
    )  # fmt: skip
    return Dataset(file_name, raw, validation_name, validation_raw, data_config, problem_type,
                   max_length, seed, prepared, from_sample, measured)  # fmt: skip


def current_dataset() -> Dataset:
    """The data chosen on the Data page, or the bundled sentiment sample when none was."""
    if DATASET not in st.session_state:
        path = SAMPLES["sentiment"]
        st.session_state[DATASET] = prepare(
            path.name, path.read_bytes(), None, None, DataConfig(), "auto", 128,
            TrainConfig().seed, True,
        )  # fmt: skip
    return st.session_state[DATASET]


def settings_form(config_class: type, defaults, skip: tuple[str, ...] = ()) -> dict:
    """One widget per dataclass field, labelled by its name and helped by its help text."""
    values = {}
    columns = st.columns(3)
    shown = [f for f in fields(config_class) if f.name not in skip]
    for index, item in enumerate(shown):
        default = getattr(defaults, item.name)
        options = {"help": item.metadata.get("help"), "key": f"setting.{item.name}"}
        label = item.name.replace("_", " ")
        with columns[index % 3]:
            values[item.name] = _setting_widget(item, label, default, options)
    return values


def _setting_widget(item, label: str, default, options: dict):
    """Whole numbers get the bounds TrainConfig.problems() checks; a float is typed (scientific
    notation reads better), and problems() names it when it is out of bounds."""
    kind = str(item.type)
    if "choices" in item.metadata:
        choices = list(item.metadata["choices"])
        return st.selectbox(label, choices, index=choices.index(default), **options)
    if kind == "bool":
        return st.checkbox(label, value=default, **options)
    if "float" in kind:
        text = st.text_input(label, value="" if default is None else f"{default:g}",
                             max_chars=MAX_SETTING_CHARS, **options)  # fmt: skip
        return _number(text, item.name, default)
    if "int" in kind:
        lowest, highest = item.metadata.get("minimum"), item.metadata.get("maximum")
        return int(st.number_input(label, value=int(default), step=1, min_value=lowest,
                                   max_value=highest, **options))  # fmt: skip
    return st.text_input(label, value=default or "", max_chars=MAX_NAME_CHARS, **options)


def _number(text: str, name: str, default: float | None) -> float | None:
    """Empty means the default (or none, for optional settings); nonsense says so and keeps it."""
    if not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        typed = render.markdown_literal(text)
        st.error(f"{name.replace('_', ' ')}: '{typed}' is not a number; {default} is used.")
        return default


def queued_by_me() -> list[runs.Run]:
    """This browser session's runs that still wait in the queue."""
    mine = []
    for run_id in st.session_state.get(MY_RUNS, []):
        try:
            run = runs.load_run(run_id)
        except runs.RunError:  # deleted meanwhile
            continue
        if run.state == "queued":
            mine.append(run)
    return mine
