"""Training dynamics: each training row's gold-label probability per epoch, recorded from the
forward passes the steps already make, on the eager and the CUDA-graph paths and across ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from bertviz_lib import runs
from bertviz_lib.insight import cartography
from bertviz_lib.train import batching, distributed, setup
from bertviz_lib.train.dynamics import GOLD, PREDICTED, RIGHT, DynamicsRecorder, outcomes
from bertviz_lib.train.fit import fit
from bertviz_lib.train.graphed_step import GraphedStep
from bertviz_lib.train.step import train_step
from tests.helpers import FakeCuda, free_port, prepared, tiny_config, train_under_torchrun

CPU = torch.device("cpu")


def test_outcomes_give_gold_probability_rightness_and_prediction_for_each_head():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))
    single = outcomes("single_label", logits, torch.tensor([0, 0]), 0.5)
    torch.testing.assert_close(single[:, GOLD], torch.tensor([0.7, 0.1]))
    assert single[:, RIGHT].tolist() == [1.0, 0.0]
    assert single[:, PREDICTED].tolist() == [0.0, 2.0]

    logit = torch.logit(torch.tensor([[0.8], [0.8], [0.3]]))  # P(the second label)
    binary = outcomes("binary", logit, torch.tensor([[1.0], [0.0], [0.0]]), 0.5)
    torch.testing.assert_close(binary[:, GOLD], torch.tensor([0.8, 0.2, 0.7]))
    assert binary[:, RIGHT].tolist() == [1.0, 0.0, 1.0]
    assert binary[:, PREDICTED].tolist() == [1.0, 1.0, 0.0]

    sigmoid = torch.logit(torch.tensor([[0.9, 0.6, 0.2], [0.9, 0.6, 0.2], [0.1, 0.3, 0.2]]))
    truth = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    multi = outcomes("multi_label", sigmoid, truth, 0.5)
    # the mean over the gold labels; a row without labels: the mean P(absent) over all labels
    torch.testing.assert_close(multi[:, GOLD], torch.tensor([0.75, 0.55, 0.8]))
    assert multi[:, RIGHT].tolist() == [1.0, 0.0, 1.0]  # every label decided as gold, or not
    assert multi[:, PREDICTED].tolist() == [0.0, 0.0, 1.0]  # the most probable label


@pytest.mark.parametrize("problem_type", ["single_label", "multi_label"])
def test_recording_a_step_reads_nothing_back_from_the_device(monkeypatch, problem_type):
    recorder = DynamicsRecorder(problem_type, 6, 0.5, CPU)
    logits = torch.randn(4, 3)
    if problem_type == "single_label":
        targets = torch.tensor([0, 1, 2, 0])
    else:
        targets = torch.tensor([[1.0, 0.0, 1.0]] * 4)

    def host_read(*args, **kwargs):
        raise AssertionError("the step waited for the device")

    with monkeypatch.context() as patched:
        for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__"):
            patched.setattr(torch.Tensor, name, host_read)
        recorder.record([5, 0, 3, 1], recorder.outcomes(logits, targets))
    recorder.end_epoch(distributed.Ranks())  # the one copy, at the end of the epoch
    dynamics = recorder.result()
    expected = outcomes(problem_type, logits, targets, 0.5)[:, GOLD].numpy()
    assert np.allclose(dynamics.gold[0, [5, 0, 3, 1]], expected)
    assert np.isnan(dynamics.gold[0, [2, 4]]).all()  # rows no step trained on


def test_an_epoch_cut_short_is_not_recorded():
    recorder = DynamicsRecorder("single_label", 2, 0.5, CPU)
    assert recorder.result() is None
    recorder.record([0], outcomes("single_label", torch.zeros(1, 2), torch.tensor([0]), 0.5))
    recorder.discard_epoch()
    recorder.end_epoch(distributed.Ranks())
    assert np.isnan(recorder.result().gold).all()


def test_fit_records_each_row_once_an_epoch_from_the_training_forward_passes(
    tiny_model_dir, monkeypatch
):
    data = prepared()
    forwards, recorded = [], []

    def keep_training_logits(module, inputs, output):
        if module.training:
            forwards.append(output.logits.detach().float().clone())

    real_set_up = setup.set_up

    def set_up_with_hook(*args):
        s = real_set_up(*args)
        s.network.register_forward_hook(keep_training_logits)
        return s

    real_record = DynamicsRecorder.record

    def keep(self, rows, step_outcomes):
        recorded.append((list(rows), step_outcomes.clone()))
        real_record(self, rows, step_outcomes)

    monkeypatch.setattr("bertviz_lib.train.fit.set_up", set_up_with_hook)
    monkeypatch.setattr(DynamicsRecorder, "record", keep)
    config = tiny_config(tiny_model_dir, epochs=3)
    result = fit(data.train, data.validation, config)

    assert len(recorded) == len(forwards) == result.steps  # one forward a step, none added
    targets = torch.as_tensor(data.train.label_ids())
    for (rows, step_outcomes), logits in zip(recorded, forwards, strict=True):
        gold = torch.softmax(logits, dim=-1)[torch.arange(len(rows)), targets[rows]]
        torch.testing.assert_close(step_outcomes[:, GOLD], gold)
    dynamics = result.dynamics
    assert dynamics.gold.shape == (3, len(data.train)) and not np.isnan(dynamics.gold).any()
    last_epoch = recorded[-(result.steps // 3) :]
    last = {
        row: out[GOLD].item()
        for rows, outs in last_epoch
        for row, out in zip(rows, outs, strict=True)
    }
    assert np.allclose(dynamics.gold[2], [last[i] for i in range(len(data.train))])


def _lockstep(tiny_model_dir, monkeypatch, capture: bool):
    """The same batches through the eager `train_step` and through a GraphedStep (captured and
    replayed on a fake CUDA when `capture`), each recording into its own Setup's recorder."""
    overrides = dict(batch_size=10, epochs=1)  # 72 rows: 7 batches of 10 and one of 2
    data = prepared()
    config = tiny_config(tiny_model_dir, **overrides)
    eager = setup.set_up(data.train, data.validation, config)
    monkeypatch.setattr(setup, "wants_cuda_graphs", lambda config, device, ranks: True)
    graphed = setup.set_up(data.train, data.validation, config)
    if capture:
        FakeCuda(monkeypatch)
    step = GraphedStep(
        graphed.network, graphed.optimizer, graphed.scheduler, graphed.loss_fn, 1.0,
        capture=capture, outcomes=graphed.dynamics.outcomes,
    )  # fmt: skip
    lengths = [len(x) for x in eager.train_ids]
    batches = batching.training_batches(lengths, 10, np.random.default_rng(0))
    for rows in batches + batches:  # each shape warms up, is captured, then replayed
        sequences = [eager.train_ids[i] for i in rows]
        train_step(eager, rows, batching.collate(sequences, eager.pad_id, 1), config)
        step(batching.fixed_batch(sequences, graphed.targets[rows], graphed.pad_id, 10, [16, 32]))
        graphed.dynamics.record(rows, step.row_outcomes(len(rows)))  # as Stepper does
        if rows is batches[-1]:
            eager.dynamics.end_epoch(eager.ranks)
            graphed.dynamics.end_epoch(graphed.ranks)
    return eager.dynamics.result(), graphed.dynamics.result(), step


@pytest.mark.parametrize("capture", [False, True])
def test_the_graph_path_records_the_eager_outcomes_without_its_filler_rows(
    tiny_model_dir, monkeypatch, capture
):
    eager, graphed, step = _lockstep(tiny_model_dir, monkeypatch, capture)
    if capture:
        assert step.graphs  # the later steps were replays of captured graphs
    assert graphed.gold.shape == eager.gold.shape == (2, 72)
    assert not np.isnan(graphed.gold).any()  # each row once an epoch, the fillers dropped
    assert np.allclose(graphed.gold, eager.gold, atol=1e-4)
    assert np.array_equal(graphed.predicted, eager.predicted)
    assert np.array_equal(graphed.right, eager.right)


def test_fit_on_the_graph_path_maps_every_row(tiny_model_dir, monkeypatch):
    data = prepared()
    config = tiny_config(tiny_model_dir, epochs=2, batch_size=10)
    eager = fit(data.train, data.validation, config).dynamics
    monkeypatch.setattr(setup, "wants_cuda_graphs", lambda config, device, ranks: True)
    graphed = fit(data.train, data.validation, config).dynamics
    assert not np.isnan(graphed.gold).any()
    assert np.allclose(graphed.gold, eager.gold, atol=1e-3)


def _rank(rank: int, port: int, folder: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    recorder = DynamicsRecorder("single_label", 6, 0.5, CPU)
    shares = {0: [[0, 2], [4]], 1: [[3, 1]]}  # disjoint; row 5 is in no rank's share
    for rows in shares[rank]:
        logits = torch.tensor([[float(row), 0.0] for row in rows])
        recorder.record(rows, recorder.outcomes(logits, torch.zeros(len(rows), dtype=torch.long)))
    recorder.end_epoch(distributed.Ranks(rank, 2, rank))
    np.save(f"{folder}/rank{rank}.npy", recorder.result().gold)
    dist.destroy_process_group()


@pytest.mark.slow  # two processes
def test_the_ranks_shares_are_gathered_into_one_table_on_every_rank(tmp_path):
    mp.spawn(_rank, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    tables = [np.load(tmp_path / f"rank{rank}.npy") for rank in (0, 1)]
    expected = [1 / (1 + np.exp(-row)) for row in range(5)]  # P(class 0) = sigmoid(row)
    for table in tables:
        assert np.allclose(table[0, :5], expected) and np.isnan(table[0, 5])


def test_the_gpu_agreement_check_compares_the_recorded_dynamics_too(tiny_model_dir, monkeypatch):
    from benchmarks.graph_agreement import graphed_against_eager

    def wanted(config, device, ranks):  # the graphed side takes that path on the CPU
        return config.cuda_graphs

    monkeypatch.setattr(setup, "wants_cuda_graphs", wanted)
    data = prepared("single_label").train  # 72 rows: 2 batches of 32 and one of 8
    check = graphed_against_eager(data, steps=3, model=tiny_model_dir, device="cpu")
    assert check["rows_recorded_eager_graphed"] == [72, 72]  # the 24 filler rows dropped
    assert check["largest_gold_probability_gap"] < 1e-5


@pytest.mark.slow  # two processes
def test_a_run_under_torchrun_maps_every_training_row_of_both_ranks(tiny_model_dir, tmp_path):
    models = train_under_torchrun(tiny_model_dir, tmp_path, "--epochs", "2", "--no-baseline")
    run = runs.list_runs(models)[0]
    start = next(e for e in run.events() if e["event"] == "start")
    frame = cartography.read(run.path)
    rows = start["train_rows"]
    assert -(-rows // 8) % 2 == 0  # an even number of batches: each rank takes half, none dropped
    assert sorted(frame["row"]) == list(range(rows))
    epochs = frame[[cartography.epoch_column(1), cartography.epoch_column(2)]]
    assert not epochs.isna().any().any()  # each rank's half gathered, every epoch
