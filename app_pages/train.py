"""Train: pick a model and settings, start a run, and watch it live (it survives reloads)."""

import contextlib

import streamlit as st

from app_pages import studio
from bertviz_lib import runs
from bertviz_lib.config import (
    LISTED_HUB_MODELS,
    MAX_NAME_CHARS,
    MAX_QUEUED_PER_SESSION,
    TrainConfig,
)
from bertviz_lib.devices import describe, resolve_device
from bertviz_lib.model.backbones import BackboneError
from bertviz_lib.report import charts
from bertviz_lib.report.render import markdown_literal
from bertviz_lib.runs import launcher
from bertviz_lib.train.estimate import training_seconds

LOCAL = "A local folder…"
EVENTS_READ = "train.events_read"  # run id -> (offset in metrics.jsonl, the events before it)
NOT_TRAINED_HERE = ("model", "problem_type", "max_length", "seed", "device")  # set on Data
ENDED_SILENTLY = (
    "The training process stopped without a word (killed, or the machine restarted): its "
    "heartbeat went stale. Nothing from it is loadable; start it again."
)

st.title("Train")
dataset = studio.current_dataset()
prepared = dataset.prepared
device = resolve_device("auto")
st.markdown(
    f"**Data:** {markdown_literal(dataset.file_name)}: {len(prepared.train)} training and "
    f"{len(prepared.validation)} validation rows, {len(prepared.train.label_names)} labels "
    f"({prepared.train.problem_type.replace('_', '-')}). **Device:** {describe(device)}."
)
st.page_link("app_pages/data.py", label="Change the data", icon=":material/table:")

choice = st.selectbox(
    "Model", ["bundled", *LISTED_HUB_MODELS, LOCAL],
    format_func=lambda m: "bundled: all-MiniLM-L6-v2 (works offline)" if m == "bundled"
    else m if m == LOCAL else f"{m} (downloads from the Hugging Face Hub: needs the internet)",
)  # fmt: skip
model = choice
if choice == LOCAL:
    model = st.text_input(
        "Model folder", placeholder="<run-id>/model", max_chars=MAX_NAME_CHARS,
        help="A folder inside the run store: a finished run's model folder, or one saved there "
        "with save_pretrained(). Only safetensors weights load.",
    )  # fmt: skip
defaults = TrainConfig(batch_size=32 if device.type == "cuda" else 16)
with st.expander("Settings", expanded=False):
    gpu_only = () if device.type == "cuda" else ("cuda_graphs",)
    values = studio.settings_form(TrainConfig, defaults, skip=NOT_TRAINED_HERE + gpu_only)
config = TrainConfig(model=model or "bundled", problem_type=dataset.problem_type,
                     max_length=dataset.max_length, seed=dataset.seed, **values)  # fmt: skip


def training_rate() -> tuple[float, str] | None:
    """Samples/s of the last completed run of this model here, or measured now (bundled only)."""
    for run in runs.list_runs():
        same = run.config.get("train", {}).get("model") == config.model
        if same and run.state == "completed" and run.metrics.get("samples_per_second"):
            speed = f"the speed of run {markdown_literal(run.run_id)}"
            return run.metrics["samples_per_second"], speed
    if config.model != "bundled" or config.problems():
        return None
    lengths = [len(t.split()) for t in prepared.train.texts[:200]]
    tokens = min(config.max_length, int(1.3 * sum(lengths) / max(len(lengths), 1)) + 2)
    return studio.measured_rate(config.model, config.batch_size, tokens), "a measured speed"


rate = training_rate()
if rate:
    seconds = training_seconds(rate[0], len(prepared.train), len(prepared.validation),
                               config.epochs)  # fmt: skip
    st.caption(f"Estimated time on this {device.type.upper()}: about {seconds / 60:.1f} minutes "
               f"({rate[1]}: {rate[0]:.0f} training samples/s).")  # fmt: skip

run_name = st.text_input("Run name", value=dataset.file_name.rsplit(".", 1)[0][:MAX_NAME_CHARS],
                         max_chars=MAX_NAME_CHARS)  # fmt: skip


def start() -> None:
    """Queue the run, unless its settings cannot work or this session already has
    MAX_QUEUED_PER_SESSION runs waiting: one visitor must not fill the queue for everyone."""
    problems = config.problems()
    for problem in problems:
        st.error(problem)
    waiting = studio.queued_by_me()
    if len(waiting) >= MAX_QUEUED_PER_SESSION:
        st.error(f"You already have {len(waiting)} runs waiting in the queue, the most one visitor "
                 "may have; wait for one to start, or cancel one.")  # fmt: skip
        return
    if problems:
        return
    validation = (dataset.validation_name, dataset.validation_raw)
    try:
        run_dir = launcher.submit(
            runs.run_root(), (dataset.file_name, dataset.raw),
            validation if dataset.validation_raw else None,
            dataset.data_config, config, run_name,
        )  # fmt: skip
    except BackboneError as error:
        st.error(markdown_literal(error))
        return
    st.session_state[studio.WATCHED_RUN] = run_dir.name
    st.session_state[studio.MY_RUNS] = [*st.session_state.get(studio.MY_RUNS, []), run_dir.name]


if st.button("Start training", type="primary"):
    start()


def runs_to_show() -> list[runs.Run]:
    """The active run, the queue, the newest run and this session's: all read from disk, so a
    reloaded or reopened tab finds them where they are."""
    shown = {}
    active = launcher.active(runs.run_root())
    newest = runs.list_runs()[:1]
    for run in ([active] if active else []) + launcher.queue(runs.run_root()) + newest:
        shown.setdefault(run.run_id, run)
    for run in studio.queued_by_me():
        shown.setdefault(run.run_id, run)
    watched = st.session_state.get(studio.WATCHED_RUN)
    if watched and watched not in shown:
        with contextlib.suppress(runs.RunError):
            shown[watched] = runs.load_run(watched)
    return list(shown.values())


def events_of(run: runs.Run) -> list[dict]:
    """The run's events, reading only what metrics.jsonl gained since this session's last poll
    (the page polls every 2 s, and a long run's file grows to megabytes). The file is only ever
    appended to."""
    read = st.session_state.setdefault(EVENTS_READ, {})
    offset, events = read.get(run.run_id, (0, []))
    new, offset = run.events_after(offset)
    events.extend(new)
    read[run.run_id] = (offset, events)
    return events


def show_run(run: runs.Run) -> None:
    state = run.state
    st.markdown(f"**{markdown_literal(run.run_id)}** — {state}")
    if state == "queued":
        position = launcher.queue_position(run, runs.run_root())
        st.info(f"Waiting in the queue: position {position}. One training runs at a time.")
    events = events_of(run)
    steps = [e for e in events if e["event"] == "step"]
    if state == "running" and steps:
        last = steps[-1]
        st.progress(last["step"] / last["total_steps"],
                    text=f"step {last['step']} of {last['total_steps']} · "
                    f"{last['samples_per_second']:.0f} samples/s · "
                    f"about {last['eta_seconds']:.0f} s left")  # fmt: skip
    elif state == "running":
        st.progress(0.0, text="Loading the model and tokenizing…")
    for note in (e for e in events if e["event"] == "memory"):
        st.warning(markdown_literal(note["message"]))
    if steps:
        st.plotly_chart(charts.loss_curves(events), key=f"loss-{run.run_id}")
    evaluations = [e for e in events if e["event"] == "evaluation"]
    if evaluations:
        keys = [k for k in ("accuracy", "macro_f1", "micro_f1", "log_loss")
                if evaluations[-1]["metrics"].get(k) is not None]  # fmt: skip
        rows = [{"epoch": e["epoch"], **{k: e["metrics"][k] for k in keys}} for e in evaluations]
        st.dataframe(rows, hide_index=True)
    if state in ("failed", "interrupted"):
        st.error(markdown_literal(run.status.get("error") or ENDED_SILENTLY))
    elif state in ("completed", "cancelled"):
        st.success(markdown_literal(run.status.get("message") or "Done."))
    if run.loadable:
        st.page_link("app_pages/metrics.py", label="See its metrics", icon=":material/monitoring:")
    if state in ("queued", "running") and st.button("Cancel", key=f"cancel-{run.run_id}"):
        name = markdown_literal(run.run_id)
        st.toast(f"Cancelling {name}…" if launcher.cancel(run) else f"{name} had already ended.")


def live_runs() -> None:
    shown = runs_to_show()
    if not shown:
        st.caption("No training is running.")
    for run in shown:
        with st.container(border=True):
            show_run(run)


root = runs.run_root()
busy = launcher.active(root) is not None or bool(launcher.queue(root))
if busy and launcher.active(root) is None:
    launcher.ensure_worker(root)  # runs queued before a restart start now
st.subheader("Runs in progress")
# Poll the run folders only while something trains or waits; otherwise draw once.
st.fragment(live_runs, run_every=2.0 if busy else None)()
