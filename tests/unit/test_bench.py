"""The benchmark's arithmetic: medians of alternated runs and the ratios of runs made side by
side. (The timings themselves are the benchmark's business, never a test's.)"""

from __future__ import annotations

import pytest

from benchmarks import bench, throughput
from benchmarks.throughput import Throughput


def run(variant: str, samples_per_s: float) -> Throughput:
    return Throughput(variant, 1000, 1000 / samples_per_s, 0.5, 13_000, 100.0)


def test_rows_are_median_runs_and_ratios_are_medians_of_pairs(monkeypatch):
    padded = [run("padded", 10.0)]
    grouped = [run("grouped", 100.0), run("grouped", 80.0), run("grouped", 120.0)]
    ours = [run("ours", 130.0), run("ours", 100.0), run("ours", 150.0)]
    monkeypatch.setattr(bench, "labelled", lambda path, rows: None)
    monkeypatch.setattr(
        throughput,
        "compare",
        lambda data, samples, scratch, repeats, model: [padded, grouped, ours],
    )
    result = bench.training_benchmark("train.csv", 1000, 3, "bundled")
    rows = {r["variant"]: r for r in result["variants"]}
    assert rows["grouped"]["samples_per_s"] == pytest.approx(100.0)  # the median run
    # Pairs 1.3, 1.25, 1.25: their median, not the ratio of the medians (130 / 100).
    assert rows["grouped"]["project_speedups"] == pytest.approx([1.3, 1.25, 1.25])
    assert rows["grouped"]["project_speedup"] == pytest.approx(1.25)
    assert rows["padded"]["project_speedup"] == pytest.approx(13.0)  # median of ours / its one run
    assert rows["ours"]["project_speedup"] == pytest.approx(1.0)
    assert result["repeats"] == 3


def test_without_a_run_the_explanation_part_says_so_and_ends_well(models, tmp_path, capsys):
    table = tmp_path / "dev.csv"
    table.write_text("text,label\nfine film,positive\n")
    code = bench.main(["--part", "explain", "--data", str(table), "--train-data", str(table)])
    assert code == 0
    assert bench.NO_RUN in capsys.readouterr().out


def test_a_missing_data_file_is_named_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_code:
        bench.main(["--part", "train", "--train-data", str(tmp_path / "none.csv")])
    assert exit_code.value.code == 2
    assert "none.csv" in capsys.readouterr().err
