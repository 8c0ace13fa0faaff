"""torchrun with 2 CPU processes (gloo): identical weights on both ranks, one whole run folder."""

from __future__ import annotations

import pytest

from bertviz_lib import runs
from bertviz_lib.train import distributed
from tests.helpers import train_under_torchrun


def test_each_rank_gets_an_equal_disjoint_share_of_the_batches():
    batches = [[i] for i in range(11)]
    shares = [distributed.share(batches, distributed.Ranks(r, 3, r)) for r in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]  # the 2 left over would stall one rank
    flat = [b[0] for s in shares for b in s]
    assert sorted(flat) == list(range(9)) and len(set(flat)) == 9
    single = distributed.Ranks()
    assert distributed.share(batches, single) == batches and single.main and not single.several


@pytest.mark.slow  # a separate process, or a training to its end
def test_two_processes_under_torchrun_train_identical_weights_and_rank_0_writes_the_run(
    tiny_model_dir, tmp_path
):
    models = train_under_torchrun(
        tiny_model_dir, tmp_path, "--epochs", "6", "--run-name", "two-ranks"
    )
    listed = runs.list_runs(models)
    assert len(listed) == 1  # rank 1 made no folder of its own
    run = listed[0]
    assert run.state == "completed" and run.loadable
    for name in ("config.json", "predictions.csv", "README.md", "final_metrics.json"):
        assert (run.path / name).is_file(), name
    events = run.events()
    start = next(e for e in events if e["event"] == "start")
    end = next(e for e in events if e["event"] == "end")
    assert end["ranks"] == 2 and end["ranks_agree"] is True  # bit-identical weights on both
    # each rank takes half the batches of 8 (an odd one left over is dropped), for 6 epochs
    per_rank = -(-start["train_rows"] // 8) // 2
    assert start["total_steps"] == end["steps"] == 6 * per_rank
    assert run.metrics["accuracy"] >= 0.75
