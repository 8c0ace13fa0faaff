"""The switch that turns every patch of transformers internals off: a step without them takes the
same loss and gradients as a step with them, a model is left plain when it is off, and the
process-wide variable turns off the inference shortcut too."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bertviz_lib.model.patches import FAST_PATHS_VARIABLE
from bertviz_lib.model.patches.cls_only import cls_only_in_eval
from bertviz_lib.train import batching
from bertviz_lib.train.setup import Setup, set_up
from tests.helpers import prepared, tiny_config

ROWS = list(range(8))


def setup(tiny_model_dir: str, fast_paths: bool) -> Setup:
    data = prepared()
    return set_up(data.train, data.validation, tiny_config(tiny_model_dir, fast_paths=fast_paths))


def loss_and_gradients(s: Setup) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    inputs = batching.collate([s.train_ids[i] for i in ROWS], s.pad_id, 1)
    s.model.train()
    loss = s.loss_fn(s.model(**inputs).logits.float(), s.targets[ROWS])
    loss.backward()
    return loss.detach(), {n: p.grad.to_dense() for n, p in s.network.named_parameters()}


def is_plain(s: Setup) -> bool:
    last = s.network.bert.encoder.layer[-1]
    attention = s.network.config._attn_implementation
    return "forward" not in vars(last) and "bertviz" not in attention


def test_a_step_without_the_fast_paths_has_the_same_loss_and_gradients(tiny_model_dir):
    fast, plain = setup(tiny_model_dir, True), setup(tiny_model_dir, False)
    assert fast.cls_only and fast.cpu_dropout and fast.sparse_embedding is not None
    assert not (plain.cls_only or plain.cpu_dropout or plain.sparse_embedding)
    assert not is_plain(fast) and is_plain(plain)
    (fast_loss, fast_gradients), (plain_loss, plain_gradients) = map(
        loss_and_gradients, (fast, plain)
    )
    torch.testing.assert_close(fast_loss, plain_loss, rtol=0, atol=1e-6)
    assert fast_gradients.keys() == plain_gradients.keys()
    for name, gradient in fast_gradients.items():
        torch.testing.assert_close(gradient, plain_gradients[name], rtol=1e-5, atol=1e-6, msg=name)


def test_a_model_evaluated_with_the_shortcut_still_trains_its_whole_last_layer(tiny_model_dir):
    plain = setup(tiny_model_dir, False)
    with cls_only_in_eval(plain.network) as shortcut:  # what each epoch's evaluation does
        assert shortcut
    inputs = batching.collate([plain.train_ids[i] for i in ROWS], plain.pad_id, 1)
    hidden = plain.network.train()(**inputs, output_hidden_states=True).hidden_states[-1]
    assert hidden.shape[1] == inputs["input_ids"].shape[1]  # every position, not [CLS] alone


def test_the_process_switch_turns_off_training_and_inference_patches(tiny_model_dir, monkeypatch):
    monkeypatch.setenv(FAST_PATHS_VARIABLE, "0")
    s = setup(tiny_model_dir, True)
    assert not (s.cls_only or s.cpu_dropout or s.sparse_embedding) and is_plain(s)
    with cls_only_in_eval(s.network) as shortcut:
        assert not shortcut


@pytest.mark.parametrize("flag, expected", [("--fast-paths", True), ("--no-fast-paths", False)])
def test_the_command_line_sets_the_switch(flag, expected):
    from bertviz_lib.cli import build_parser

    args = build_parser().parse_args(["train", flag])
    assert args.fast_paths is expected
    assert "fast_paths" in {f.name for f in dataclasses.fields(type(tiny_config("m")))}
