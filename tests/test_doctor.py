"""`tinygrad-edu doctor`: every line is "ok" or a fix, the fixes name what to do, and the self-test trains."""
import argparse
import io
import os

import pytest

from tinygrad_edu import doctor


def run_doctor():
    stream = io.StringIO()
    report = doctor.Report(stream)
    return report, stream


def test_every_line_is_ok_or_a_fix_and_every_check_is_there(capsys):
    code = doctor.run(argparse.Namespace(no_self_test=True))
    lines = capsys.readouterr().out.strip().splitlines()
    checks, summary = lines[:-1], lines[-1]
    assert all(line.split()[0] in ("ok", "fix") for line in checks), checks
    topics = {line[5:19].strip() for line in checks}
    assert {"python", "numpy", "numba", "threads", "wait policy", "kernel cache", "cuda", "openmp/blas"} <= topics
    fixes = [line for line in checks if line.startswith("fix")]
    assert code == (1 if fixes else 0)
    assert summary.endswith(f"({len(checks)} checks)")


def test_self_test_passes_its_gradcheck_and_halves_the_loss():
    passed, first, last, seconds = doctor.self_test()
    assert passed
    assert last < 0.5 * first
    assert seconds > 0


def test_self_test_lines_say_ok_when_it_learns():
    report, stream = run_doctor()
    doctor.check_self_test(report)
    assert [line[:2] for line in report.lines] == [("ok", "gradcheck"), ("ok", "training")]


def test_clash_verdict_flags_a_stall_and_not_noise():
    assert doctor.clash_verdict(alone_ms=0.1, after_ms=8.0)
    assert not doctor.clash_verdict(alone_ms=0.1, after_ms=0.25)   # within 1 ms: noise
    assert not doctor.clash_verdict(alone_ms=2.0, after_ms=5.0)    # within 3x
    report, _ = run_doctor()
    doctor.check_clash(report, ("omp", 0.1, 8.0))
    assert report.lines[0][0] == "fix" and "OPENBLAS_NUM_THREADS=1" in report.lines[0][2]


LONG_SPINS = [({"GOMP_SPINCOUNT": "300000"}, True), ({"OMP_WAIT_POLICY": "ACTIVE"}, True),
              ({"OMP_WAIT_POLICY": "PASSIVE"}, False), ({"GOMP_SPINCOUNT": "1000"}, False)]


@pytest.mark.parametrize("setting, flagged", LONG_SPINS)
def test_a_long_openmp_spin_is_a_fix(monkeypatch, setting, flagged):
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    report, _ = run_doctor()
    doctor.check_threads(report, "omp")
    line = [line for line in report.lines if line[1] == "wait policy"][0]
    assert (line[0] == "fix") == flagged
    if flagged:
        assert "GOMP_SPINCOUNT=1000" in line[2]


def test_a_missing_optional_extra_is_ok_and_says_how_to_install(monkeypatch):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version", lambda name: None if name == "torch" else real(name))
    report, _ = run_doctor()
    doctor.check_versions(report)
    line = [line for line in report.lines if line[1] == "torch"][0]
    assert line[0] == "ok" and "pip install 'tinygrad_edu[bench]'" in line[2]


def test_a_missing_required_package_is_a_fix(monkeypatch):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version", lambda name: "0.50.0" if name == "numba" else real(name))
    report, _ = run_doctor()
    doctor.check_versions(report)
    line = [line for line in report.lines if line[1] == "numba"][0]
    assert line[0] == "fix" and "pip install -U numba" in line[2]


def test_an_unwritable_kernel_cache_is_a_fix_naming_numba_cache_dir(monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    report, _ = run_doctor()
    doctor.check_kernel_cache(report)
    assert report.lines[0][0] == "fix" and "NUMBA_CACHE_DIR" in report.lines[0][2]


def test_cuda_line_names_the_simulator_when_it_is_on(monkeypatch):
    import numba

    monkeypatch.setattr(numba.config, "ENABLE_CUDASIM", 1)
    monkeypatch.setattr(doctor, "installed_version", lambda name: "1.0")
    report, _ = run_doctor()
    doctor.check_cuda(report)
    assert report.lines[0][0] == "ok" and "simulator" in report.lines[0][2]


def test_doctor_subcommand_parses_and_points_at_run():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    doctor.add_parser(commands)
    args = parser.parse_args(["doctor", "--no-self-test"])
    assert args.no_self_test and args.handler is doctor.run and args.func is doctor.run
