"""The CUDA-graph step's logic, run eagerly on the CPU: bucket widths, filler rows that weigh 0,
the same training as the eager `train_step`, and the fallbacks `fit` takes when the path fails.

The capture itself needs a GPU and is checked by the benchmark (`python -m benchmarks`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertviz_lib.config import PROBLEM_TYPES, TrainConfig
from bertviz_lib.model import heads
from bertviz_lib.train import batching, distributed, fit, setup
from bertviz_lib.train.faults import FAULT_VARIABLE
from bertviz_lib.train.graphed_step import GraphedStep
from bertviz_lib.train.step import train_step
from tests.helpers import FakeCuda, prepared, tiny_config


@pytest.fixture
def graphed_path(monkeypatch):
    """`fit` and `set_up` take the CUDA-graph path on the CPU (the steps run without capture)."""
    monkeypatch.setattr(setup, "wants_cuda_graphs", lambda config, device, ranks: True)


def test_bucket_widths_are_few_multiples_of_16_ending_at_max_length():
    assert batching.bucket_widths(128) == [16, 32, 48, 64, 80, 96, 112, 128]
    widths = batching.bucket_widths(512)
    assert len(widths) == 15 and widths[-1] == 512
    assert all(w % 16 == 0 for w in widths)
    for narrow, wide in zip(widths, widths[1:], strict=False):
        assert 0 < wide - narrow <= max(16, narrow // 4)
    assert batching.bucket_widths(100)[-2:] == [96, 100]  # no position past max_length
    assert batching.bucket_widths(8) == [8]


def test_bucket_width_is_the_smallest_that_holds_the_longest_text():
    widths = batching.bucket_widths(128)
    chosen = [batching.bucket_width(n, widths) for n in (1, 16, 17, 100, 128)]
    assert chosen == [16, 16, 32, 112, 128]


def test_a_fixed_batch_fills_up_with_zero_weight_copies_of_the_first_row():
    sequences = [[101, 7, 102], [101, 7, 8, 9, 102], [101, 102]]
    targets = torch.tensor([2, 0, 1])
    batch = batching.fixed_batch(sequences, targets, 0, 5, batching.bucket_widths(64))
    assert batch.shape == (5, 16)
    assert batch.weights.tolist() == [1, 1, 1, 0, 0]
    assert batch.targets.tolist() == [2, 0, 1, 2, 2]
    assert torch.equal(batch.input_ids[3], batch.input_ids[0])
    assert batch.attention_mask.sum(dim=1).tolist() == [3, 5, 2, 3, 3]


def _setup(model_dir: str, problem_type: str, **overrides) -> setup.Setup:
    data = prepared(problem_type)
    config = tiny_config(model_dir, problem_type=problem_type, **overrides)
    return setup.set_up(data.train, data.validation, config)


def _loss_and_gradients(s: setup.Setup, loss) -> tuple[float, dict]:
    s.network.zero_grad(set_to_none=True)
    loss.backward()
    # On the CPU the word embedding's gradient is sparse (sparse_embedding.py): compare it dense.
    named = s.network.named_parameters()
    grads = {n: p.grad.to_dense() for n, p in named if p.grad is not None}
    return loss.item(), grads


@pytest.mark.parametrize("class_weights", [False, True])
@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_zero_weight_filler_rows_change_neither_the_loss_nor_the_gradients(
    tiny_model_dir, problem_type, class_weights
):
    s = _setup(tiny_model_dir, problem_type)
    if class_weights:  # unequal, so that a weighted mean differs from a plain one
        outputs = s.network.config.num_labels
        s.loss_fn = heads.loss_function(problem_type, torch.linspace(0.5, 2.0, outputs))
    rows = [0, 3, 5, 6, 10]  # a short last batch: 5 real rows of 8
    sequences = [s.train_ids[i] for i in rows]
    plain = batching.collate(sequences, s.pad_id, multiple=1)
    logits = s.network(**plain).logits
    expected = _loss_and_gradients(s, s.loss_fn(logits, s.targets[rows]))

    fixed = batching.fixed_batch(sequences, s.targets[rows], s.pad_id, 8, [16, 32])
    assert fixed.shape == (8, 16)  # wider and longer than the plain batch
    logits = s.network(input_ids=fixed.input_ids, attention_mask=fixed.attention_mask).logits
    padded = _loss_and_gradients(
        s, heads.row_weighted_loss(s.loss_fn, logits, fixed.targets, fixed.weights)
    )
    assert padded[0] == pytest.approx(expected[0], abs=1e-5)
    assert padded[1].keys() == expected[1].keys()
    for name, gradient in expected[1].items():
        torch.testing.assert_close(padded[1][name], gradient, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_the_eager_graphed_step_trains_to_the_weights_of_train_step(
    tiny_model_dir, monkeypatch, problem_type
):
    overrides = dict(batch_size=10, epochs=1)  # 72 rows: 7 batches of 10 and one of 2
    eager = _setup(tiny_model_dir, problem_type, **overrides)
    monkeypatch.setattr(setup, "wants_cuda_graphs", lambda config, device, ranks: True)
    graphed = _setup(tiny_model_dir, problem_type, **overrides)  # capturable, lr a tensor
    assert graphed.cuda_graphs and not eager.cuda_graphs
    lr = graphed.optimizer.param_groups[0]["lr"]
    assert isinstance(lr, torch.Tensor)
    batches = batching.training_batches(
        [len(x) for x in eager.train_ids], 10, np.random.default_rng(0)
    )
    step = GraphedStep(
        graphed.network, graphed.optimizer, graphed.scheduler, graphed.loss_fn, 1.0, capture=False
    )
    widths = batching.bucket_widths(128)
    config = tiny_config(tiny_model_dir, problem_type=problem_type, **overrides)
    for rows in batches:
        sequences = [eager.train_ids[i] for i in rows]
        expected = train_step(eager, rows, batching.collate(sequences, eager.pad_id, 1), config)
        fixed = batching.fixed_batch(sequences, graphed.targets[rows], graphed.pad_id, 10, widths)
        assert step(fixed).item() == pytest.approx(expected.item(), abs=1e-5)
    # The schedule filled the same tensor in place: the address that a captured graph reads.
    assert graphed.optimizer.param_groups[0]["lr"] is lr
    assert lr.item() == pytest.approx(eager.scheduler.get_last_lr()[0])
    for name, tensor in eager.network.state_dict().items():
        torch.testing.assert_close(graphed.network.state_dict()[name], tensor, atol=1e-4, rtol=1e-3)


def test_a_shape_is_captured_after_its_warm_up_steps_then_replayed_on_new_inputs(
    tiny_model_dir, monkeypatch
):
    overrides = dict(batch_size=10, epochs=1)  # 8 batches, all of shape (10, 16)
    eager = _setup(tiny_model_dir, "single_label", **overrides)
    config = tiny_config(tiny_model_dir, **overrides)
    monkeypatch.setattr(setup, "wants_cuda_graphs", lambda config, device, ranks: True)
    graphed = _setup(tiny_model_dir, "single_label", **overrides)
    FakeCuda(monkeypatch)
    events = []
    step = GraphedStep(
        graphed.network, graphed.optimizer, graphed.scheduler, graphed.loss_fn, 1.0,
        capture=True, on_capture=events.append,
    )  # fmt: skip
    lengths = [len(x) for x in eager.train_ids]
    for rows in batching.training_batches(lengths, 10, np.random.default_rng(0)):
        sequences = [eager.train_ids[i] for i in rows]
        train_step(eager, rows, batching.collate(sequences, eager.pad_id, 1), config)
        step(batching.fixed_batch(sequences, graphed.targets[rows], graphed.pad_id, 10, [16, 32]))
    assert step.eager_steps == {(10, 16): 3} and list(step.graphs) == [(10, 16)]
    assert [(e["rows"], e["width"], e["graphs"]) for e in events] == [(10, 16, 1)]
    for name, tensor in eager.network.state_dict().items():
        torch.testing.assert_close(graphed.network.state_dict()[name], tensor, atol=1e-4, rtol=1e-3)


def test_cuda_graphs_are_wanted_on_one_cuda_gpu_only():
    config, one, two = TrainConfig(), distributed.Ranks(), distributed.Ranks(0, 2, 0)
    assert config.cuda_graphs
    assert setup.wants_cuda_graphs(config, torch.device("cuda"), one)
    assert not setup.wants_cuda_graphs(config, torch.device("cuda"), two)
    assert not setup.wants_cuda_graphs(config, torch.device("cpu"), one)
    off = TrainConfig(cuda_graphs=False)
    assert not setup.wants_cuda_graphs(off, torch.device("cuda"), one)


def _fit(model_dir: str, events: list | None = None, **overrides) -> fit.TrainResult:
    data = prepared()
    config = tiny_config(model_dir, epochs=2, **overrides)
    return fit.fit(
        data.train, data.validation, config, events.append if events is not None else None
    )


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for name, tensor in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[name], tensor, atol=2e-4, rtol=1e-3)


def test_fit_on_the_graphed_path_trains_like_the_eager_path(tiny_model_dir, monkeypatch):
    plain = _fit(tiny_model_dir)
    monkeypatch.setattr(setup, "wants_cuda_graphs", lambda config, device, ranks: True)
    events = []
    graphed = _fit(tiny_model_dir, events)
    assert not [e for e in events if e["event"] == "cuda_graphs_off"]
    steps = [e for e in events if e["event"] == "step"]
    assert all(isinstance(e["learning_rate"], float) for e in steps)
    assert graphed.steps == plain.steps and graphed.stopped == "finished"
    _assert_same_weights(plain.model, graphed.model)


def test_out_of_memory_on_the_graphed_path_falls_back_to_eager_micro_batches(
    tiny_model_dir, monkeypatch
):
    plain = _fit(tiny_model_dir)
    monkeypatch.setattr(setup, "wants_cuda_graphs", lambda config, device, ranks: True)
    monkeypatch.setenv(FAULT_VARIABLE, "oom_above:4")
    events = []
    cut = _fit(tiny_model_dir, events)
    kinds = [e["event"] for e in events]
    assert kinds.count("cuda_graphs_off") == 1 and kinds.count("memory") == 1
    assert kinds.index("cuda_graphs_off") < kinds.index("memory")
    off = next(e for e in events if e["event"] == "cuda_graphs_off")
    assert "Injected out of memory" in off["error"] and "eagerly" in off["message"]
    assert next(e for e in events if e["event"] == "memory")["micro_batches"] == 2
    assert cut.steps == plain.steps
    _assert_same_weights(plain.model, cut.model)


def test_a_capture_error_falls_back_to_eager_steps_and_says_so(
    tiny_model_dir, graphed_path, monkeypatch
):
    calls = {"n": 0}
    original = GraphedStep.__call__

    def fail_at_the_third_step(self, batch, scale=1.0):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("operation not permitted when stream is capturing")
        return original(self, batch, scale)

    monkeypatch.setattr(GraphedStep, "__call__", fail_at_the_third_step)
    events = []
    result = _fit(tiny_model_dir, events)
    off = [e for e in events if e["event"] == "cuda_graphs_off"]
    assert len(off) == 1 and "not permitted" in off[0]["error"]
    assert calls["n"] == 3  # never called again
    assert result.stopped == "finished" and result.steps == 18


def test_injected_faults_work_on_the_graphed_path(tiny_model_dir, graphed_path, monkeypatch):
    monkeypatch.setenv(FAULT_VARIABLE, "nan_from:3")
    events = []
    assert _fit(tiny_model_dir, events).stopped == "diverged"
    assert not [e for e in events if e["event"] == "cuda_graphs_off"]
    monkeypatch.setenv(FAULT_VARIABLE, "step:2")
    with pytest.raises(RuntimeError, match="Injected fault"):
        _fit(tiny_model_dir)


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_the_captured_forward_and_backward_never_read_a_value_back_to_the_host(
    monkeypatch, problem_type
):
    """A read back (`.item()`, `bool(tensor)`) cannot be captured in a CUDA graph. On the meta
    device every such read raises; transformers is told that a capture is underway, as it is on a
    GPU, so that it keeps the attention mask instead of checking whether it can drop it."""
    from transformers import BertConfig, BertForSequenceClassification
    from transformers.utils import import_utils

    monkeypatch.setattr(import_utils, "is_cuda_stream_capturing", lambda: True)
    outputs = heads.output_size(problem_type, 3)
    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=outputs, hidden_dropout_prob=0.1,
    )  # fmt: skip
    targets = heads.targets(problem_type, np.zeros(8, dtype=int), np.zeros((8, 3))).to("meta")
    with torch.device("meta"):
        model = BertForSequenceClassification(config).train()
        loss_fn = heads.loss_function(problem_type, torch.ones(outputs))  # class weights too
        ids, mask = torch.zeros(8, 16, dtype=torch.long), torch.ones(8, 16, dtype=torch.long)
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = heads.row_weighted_loss(loss_fn, logits.float(), targets, torch.ones(8))
        loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_the_agreement_check_compares_the_padded_weighted_steps_with_the_eager_ones(
    tiny_model_dir, monkeypatch
):
    from benchmarks.graph_agreement import graphed_against_eager

    taken = []  # the graphed side takes the CUDA-graph path on the CPU, without capture

    def wanted(config, device, ranks):
        taken.append(config.cuda_graphs)
        return config.cuda_graphs

    monkeypatch.setattr(setup, "wants_cuda_graphs", wanted)
    data = prepared("single_label").train  # 72 rows: 2 batches of 32 and one of 8
    check = graphed_against_eager(data, steps=3, model=tiny_model_dir, device="cpu")
    assert check["steps"] == 3 and len(check["losses_eager_graphed"]) == 3
    assert check["graphs"] == 0 and check["cuda_graphs_off"] is None  # no capture on a CPU
    assert check["largest_loss_gap"] < 1e-5  # fp32 on the CPU: the same steps to rounding
    assert check["largest_weight_gap"] < 1e-6  # against 5e-5, the most a step moves a weight
    assert check["relative_weight_gap"] < 1e-6
    assert taken == [False, True]
