"""The benchmark harness on tiny shapes: the report's schema, torch present or absent, the markdown and profile rows.

No timing is asserted: these runs only check that every section is produced and well formed.
"""
import json
import sys

import pytest

from benchmarks import report, suite


def tiny_config(**changes):
    config = suite.smoke_config()
    config.matmul_sizes = (8,)
    config.plots = False
    config.threads = 1  # steadier on a busy machine; the thread count is restored afterwards
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def check_timing(timing):
    assert set(timing) >= {"median_ms", "min_ms", "max_ms", "runs"}
    assert timing["runs"] >= 1
    assert timing["min_ms"] <= timing["median_ms"] <= timing["max_ms"]


@pytest.fixture(scope="module")
def with_torch_report():
    pytest.importorskip("torch")
    return suite.run(tiny_config(), "pytest")


@pytest.fixture(scope="module")
def without_torch_report():
    saved = sys.modules.get("torch")
    sys.modules["torch"] = None  # `import torch` now raises ImportError, as on an install without the bench extra
    try:
        return suite.run(tiny_config(sections=("kernels", "models")), "pytest")
    finally:
        if saved is None:
            del sys.modules["torch"]
        else:
            sys.modules["torch"] = saved


def test_report_has_every_section_and_machine_facts(with_torch_report):
    result = with_torch_report
    assert set(result) >= {"machine", "config", "kernels", "overhead", "models", "profiles", "targets", "cliff", "notes"}
    machine = result["machine"]
    for key in ("cpu", "cores", "numba_threading_layer", "numba_threads", "python", "numpy", "numba", "torch"):
        assert key in machine
    assert result["backends"] == ["numpy", "cpu"]
    json.dumps(result)  # JSON-ready as it is


def test_every_figure_has_a_median_between_min_and_max(with_torch_report):
    result = with_torch_report
    for row in result["kernels"] + result["overhead"] + result["models"]:
        assert not row["note"], row
        check_timing(row["timing"])
        check_timing(row["torch"])


def test_ratios_are_ours_over_torch_when_torch_is_present(with_torch_report):
    for row in with_torch_report["models"] + with_torch_report["overhead"]:
        assert row["ratio"] == pytest.approx(row["timing"]["median_ms"] / row["torch"]["median_ms"])
    matmul = [row for row in with_torch_report["kernels"] if row["family"] == "matmul"]
    assert matmul and all(isinstance(row["ratio_vs_torch"], float) for row in matmul)
    assert all(isinstance(row["gflops"], float) for row in matmul)
    targets = with_torch_report["targets"]
    assert targets and all(isinstance(row["met"], bool) for row in targets)


def test_torch_absent_gives_na_columns_and_still_times_the_engine(without_torch_report):
    result = without_torch_report
    assert result["machine"]["torch"] == "n/a"
    assert any("PyTorch not available" in note for note in result["notes"])
    for row in result["models"]:
        check_timing(row["timing"])
        assert row["torch"] == "n/a" and row["ratio"] == "n/a" and row["met"] == "n/a"
    for row in result["kernels"]:
        assert row["torch"] == "n/a" and row["ratio_vs_torch"] == "n/a"
    text = report.markdown(result)
    assert "n/a" in text
    assert "## 3. End to end" in text and "## 2." not in text


def test_markdown_renders_tables_targets_and_profile(with_torch_report):
    text = report.markdown(with_torch_report)
    for heading in ("## 1. Kernels", "## 2. Framework overhead", "## 3. End to end", "## Targets",
                    "## Where does a train step's time go?"):
        assert heading in text
    assert "| ConvNet b4 8×8 Adam | cpu |" in text
    assert "| kernel | conv2d_forward |" in text


def test_profile_rows_name_ops_and_kernels_for_each_model(with_torch_report):
    profiles = with_torch_report["profiles"]
    model_cases = {row["case"] for row in with_torch_report["models"]}
    assert {profile["case"] for profile in profiles} == model_cases
    for profile in profiles:
        assert profile["top_ops"] and profile["top_kernels"]
        assert {entry["kind"] for entry in profile["top_kernels"]} == {"kernel"}
        assert 0.0 <= profile["outside_kernels_share"] <= 1.0


def test_thread_count_is_restored_after_a_run(with_torch_report):
    import numba

    assert with_torch_report["machine"]["numba_threads"] == 1
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS


def test_cuda_is_skipped_with_a_note_without_a_real_gpu():
    runs, note = suite.backend_status("cuda")
    if not runs:
        assert note.startswith("cuda skipped")


def test_write_produces_json_and_markdown_files(with_torch_report, tmp_path):
    result = dict(with_torch_report, notes=list(with_torch_report["notes"]))
    paths = suite.write(result, str(tmp_path), plots=False)
    loaded = json.loads(open(paths["json"]).read())
    assert loaded["label"] == "smoke"
    assert open(paths["markdown"]).read().startswith("# tinygrad_edu benchmarks")


def test_cli_arguments_build_the_quick_and_smoke_configs():
    import argparse

    parser = argparse.ArgumentParser()
    suite.add_arguments(parser)
    quick = suite.config_from_args(parser.parse_args(["--quick", "--no-plots", "--backends", "cpu"]))
    assert quick.label == "quick" and quick.repeats >= 5 and not quick.plots and quick.backends == ("cpu",)
    assert 2048 not in quick.matmul_sizes
    assert suite.config_from_args(parser.parse_args(["--smoke"])).label == "smoke"
