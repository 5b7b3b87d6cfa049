"""The benchmark harness on tiny shapes: the report's schema, torch present or absent, the markdown and profile rows,
paired ratios, the worker processes and the busy-loop load.

No timing is asserted: these runs only check that every section is produced and well formed.
"""
import json
import os
import sys
import time

import numpy as np
import pytest

from benchmarks import load, report, suite, workers


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


def test_ratios_are_medians_of_per_round_ratios_when_torch_is_present(with_torch_report):
    for row in with_torch_report["models"] + with_torch_report["overhead"]:
        spread = row["ratio_spread"]
        assert row["ratio"] == spread["median"]
        assert spread["q1"] <= spread["median"] <= spread["q3"]
        assert spread["rounds"] == with_torch_report["config"]["repeats"]
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
    assert quick.repeats < suite.Config().repeats
    assert suite.config_from_args(parser.parse_args(["--smoke"])).label == "smoke"


def test_paired_ratio_is_the_median_and_quartiles_of_round_by_round_ratios():
    ours = [2.0, 4.0, 9.0, 3.0]
    theirs = [1.0, 2.0, 3.0, 1.0]  # per-round ratios 2, 2, 3, 3: a drift that hits both sides cancels
    ratio = suite.paired_ratio(ours, theirs)
    assert ratio["median"] == 2.5 and ratio["q1"] == 2.0 and ratio["q3"] == 3.0 and ratio["rounds"] == 4
    assert suite.paired_ratio(ours, []) == "n/a"
    assert suite.paired_ratio([1.0], [0.0]) == "n/a"


def test_cases_filter_keeps_only_matching_case_names():
    config = tiny_config(cases=("MATMUL", "convnet"))
    names = [identifier for identifier in suite.selected(config)]
    assert names and all("matmul" in name.lower() or "convnet" in name.lower() for name in names)
    assert any(name.startswith("models:ConvNet") for name in names)


def test_quick_run_declares_the_issue_shapes_for_conv_attention_mnist_cnn_and_textcls():
    names = [identifier.split(":", 1)[1] for identifier in suite.selected(suite.quick_config())]
    for shape in ("1→32 28×28 b64", "32→64 14×14 b64", "16→32 8×8 b64", "16→32 4×4 b64"):
        assert f"conv2d fwd {shape}" in names and f"conv2d fwd+bwd {shape}" in names
    for length in (64, 128, 256):
        assert f"attention fwd+bwd 128×{length}×16 causal" in names
    assert "ConvNet MNIST-sized b64 28×28 conv 1→32→64 Adam" in names
    for arch in ("lstm", "gru", "transformer"):
        assert any(name.startswith(f"textcls {arch} step") and "b32 T16" in name for name in names)


def _parameter_count(model):
    return sum(int(parameter.numel()) for parameter in model.parameters())


@pytest.mark.parametrize("arch", ["lstm", "gru", "transformer"])
def test_textcls_torch_twin_has_the_engines_parameter_count_and_trains_a_step(arch):
    torch = pytest.importorskip("torch")
    from benchmarks import model_cases, torch_models
    from tinygrad_edu.models import textcls

    sizes = suite.smoke_config().sizes
    args, kwargs = model_cases._text_model_arguments(sizes, arch)
    name = "TransformerTextClassifier" if arch == "transformer" else "RecurrentTextClassifier"
    assert _parameter_count(getattr(torch_models, name)(*args, **kwargs)) == \
        _parameter_count(getattr(textcls, name)(*args, **kwargs))
    ids, mask, labels = model_cases._text_batch(sizes)
    assert mask[:, 0].all() and (ids[~mask] == 0).all() and (ids[mask] >= 2).all()
    assert np.isfinite(model_cases.torch_textcls(sizes, torch, arch)())
    assert np.isfinite(model_cases.ours_textcls(sizes, arch)())


def test_mnist_convnet_torch_twin_has_the_engines_parameter_count():
    pytest.importorskip("torch")
    from benchmarks import torch_models
    from tinygrad_edu.models import ConvNet

    assert _parameter_count(torch_models.ConvNet(image_size=28, channels=(32, 64))) == \
        _parameter_count(ConvNet(image_size=28, channels=(32, 64)))


def test_gemm_ladder_section_lists_every_size_against_blas_and_torch(with_torch_report):
    text = report.markdown(with_torch_report)
    assert "## GEMM ladder" in text
    assert "| 8 |" in text  # tiny_config's one matmul size


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_busy_load_starts_pauses_and_kills_its_processes():
    with load.BusyLoad(2) as busy:
        pids = [process.pid for process in busy.processes]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        with busy.paused():
            time.sleep(0.05)
            states = [open(f"/proc/{pid}/stat").read().split()[2] for pid in pids] if os.path.isdir("/proc") else []
            assert all(state == "T" for state in states)  # stopped while paused
    assert busy.processes == []
    with pytest.raises(ValueError, match="--load"):
        load.BusyLoad(-1)


def test_run_under_load_reports_each_sides_slowdown_against_its_quiet_samples():
    config = tiny_config(cases=("matmul 8",), sections=("kernels",), load=1, use_torch=False)
    result = suite.run(config, "pytest")
    rows = [row for row in result["kernels"] if row["backend"] == "cpu"]
    assert rows and result["load_processes"] == 1
    slowdown = rows[0]["slowdown"]["ours"]
    assert slowdown["q1"] <= slowdown["median"] <= slowdown["q3"]
    check_timing(rows[0]["quiet"]["ours"])
    assert "## Under load: 1 busy processes beside" in report.markdown(result)
    assert any("--load 1" in note for note in result["notes"])


def test_worker_process_answers_prepare_and_sample_requests():
    config = tiny_config(cases=("matmul 8",), sections=("kernels",))
    identifier = next(iter(suite.selected(config)))
    with workers.open_workers(config, ["ours:numpy"], threads=1) as pool:
        worker = pool["ours:numpy"]
        assert worker.prepare(identifier, 1)["once_s"] > 0
        assert worker.sample(identifier, 3)["seconds"] > 0
        assert "error" in worker.request(op="no such request")
        assert worker.request(op="info")["numba_threads"] == 1
    assert worker.process.poll() is not None  # closed when the block ended


def test_load_and_cases_arguments_reach_the_config():
    import argparse

    parser = argparse.ArgumentParser()
    suite.add_arguments(parser)
    config = suite.config_from_args(parser.parse_args(["--quick", "--load", "3", "--cases", "matmul", "ConvNet"]))
    assert config.load == 3 and config.cases == ("matmul", "ConvNet")
    assert min(config.matmul_sizes) == 64 and max(config.matmul_sizes) == 2048  # the GEMM ladder
    with pytest.raises(SystemExit):
        parser.parse_args(["--load", "-1"])


def _bench_parser():
    import argparse

    from tinygrad_edu import bench

    parser = argparse.ArgumentParser(prog="tinygrad-edu")
    bench.add_parser(parser.add_subparsers(dest="command"))
    return parser


def test_bench_from_a_checkout_takes_the_suites_options():
    args = _bench_parser().parse_args(["bench", "--quick", "--load", "1", "--cases", "matmul"])
    assert args.quick and args.load == 1 and args.cases == ["matmul"]


def test_bench_without_a_checkout_says_to_use_one(monkeypatch):
    """An installed wheel has no benchmarks/ folder: any arguments, --help included, get the instructions."""
    from tinygrad_edu import bench

    monkeypatch.setattr(bench, "benchmarks_folder", lambda: None)
    for argv in (["bench", "--quick", "--load", "3"], ["bench", "--help"], ["bench"]):
        args = _bench_parser().parse_args(argv)
        with pytest.raises(RuntimeError, match=r"pip install -e '\.\[bench\]'"):
            args.handler(args)


def test_benchmarks_is_not_packaged_as_a_top_level_package():
    import re

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as handle:
        text = handle.read()  # read as text: tomllib needs Python 3.11, the project supports 3.10
    section = text.split("[tool.setuptools.packages.find]", 1)[1]
    include = re.findall(r'"([^"]+)"', re.search(r"include\s*=\s*\[([^]]*)\]", section).group(1))
    assert not any(pattern.startswith("benchmarks") for pattern in include)
    assert "tinygrad_edu*" in include and "kernels*" in include
