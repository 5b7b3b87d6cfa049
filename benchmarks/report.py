"""Turn a benchmark result (the dict `suite.run` returns) into a markdown report and PNG plots.

Ratios are ours_time / their_time everywhere: below 1 the engine is faster. A missing baseline reads "n/a".
"""
import os


def _ms(timing):
    if not isinstance(timing, dict):
        return "n/a"
    return f"{timing['median_ms']:.3f} ({timing['min_ms']:.3f}–{timing['max_ms']:.3f})"


def _us(timing):
    if not isinstance(timing, dict):
        return "n/a"
    return f"{timing['median_ms'] * 1e3:.1f} ({timing['min_ms'] * 1e3:.1f}–{timing['max_ms'] * 1e3:.1f})"


def _rate(rate):
    if not isinstance(rate, dict):
        return "n/a"
    return f"{rate['median']:.1f} ({rate['min']:.1f}–{rate['max']:.1f})"


def _ratio(value):
    return f"{value:.2f}×" if isinstance(value, float) else "n/a"


def _spread(ratio):
    """A paired ratio as "median× (q1–q3)": the interquartile range of the per-round ratios."""
    if not isinstance(ratio, dict):
        return "n/a"
    return f"{ratio['median']:.2f}× ({ratio['q1']:.2f}–{ratio['q3']:.2f})"


def _gflops(flops, timing):
    return flops / (timing["median_ms"] * 1e-3) / 1e9 if isinstance(timing, dict) and flops else None


def _met(row):
    if row.get("met") == "n/a" or row.get("target") is None:
        return "n/a" if row.get("target") else ""
    return "yes" if row["met"] else "**MISS**"


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_lines(result):
    machine = result.get("machine", {})
    load = machine.get("load_average")
    load_text = ", ".join(f"{x:.2f}" for x in load) if isinstance(load, list) else "n/a"
    before = result.get("load_average_before")
    before_text = ", ".join(f"{x:.2f}" for x in before) if isinstance(before, list) else "n/a"
    return [
        f"- command: `{result.get('command') or 'run(config)'}` ({result['label']}), {result['date']}, "
        f"{result.get('wall_s', 0):.0f} s",
        f"- CPU: {machine.get('cpu')}, {machine.get('cores')} cores; load average (1, 5, 15 min) before {before_text}, "
        f"after {load_text}",
        f"- numba {machine.get('numba')} (threading layer {machine.get('numba_threading_layer')}, "
        f"{machine.get('numba_threads')} threads); numpy {machine.get('numpy')} (BLAS: {machine.get('blas')}); "
        f"python {machine.get('python')}; torch {machine.get('torch')} ({machine.get('torch_threads')} threads)"
        + (f"; --threads {result['config']['threads']}" if result.get("config", {}).get("threads") else ""),
        f"- backends run: {', '.join(result['backends'])}"
        + (f"; {result['load_processes']} busy-loop processes beside (--load)" if result.get("load_processes") else ""),
    ]


def kernels_section(result):
    rows = []
    for row in result["kernels"]:
        gflops = f"{row['gflops']:.1f}" if isinstance(row["gflops"], float) else ""
        timing = _ms(row["timing"]) if not row["note"] else row["note"]
        rows.append([row["case"], row["backend"], timing, gflops, _ms(row["numpy_blas"]),
                     _spread(row.get("ratio_vs_numpy_blas_spread")), _ms(row["torch"]),
                     _spread(row.get("ratio_vs_torch_spread"))])
    head = ["kernel", "backend", "ms median (min–max)", "GFLOP/s", "NumPy BLAS ms", "ours/BLAS (IQR)", "torch ms",
            "ours/torch (IQR)"]
    return "## 1. Kernels\n\n" + _table(head, rows)


def ladder_section(result):
    """The GEMM ladder: n×n @ n×n float32, ours against OpenBLAS (through NumPy) and PyTorch, GFLOP/s."""
    rows = []
    for row in result["kernels"]:
        if row["family"] != "matmul" or row["backend"] != "cpu":
            continue
        rates = [_gflops(row["flops"], row[key]) for key in ("timing", "numpy_blas", "torch")]
        rows.append([row["case"].split()[-1]] + [f"{rate:.1f}" if rate else "n/a" for rate in rates]
                    + [_spread(row.get("ratio_vs_numpy_blas_spread")), _spread(row.get("ratio_vs_torch_spread"))])
    if not rows:
        return ""
    head = ["n", "ours GFLOP/s", "NumPy/OpenBLAS GFLOP/s", "torch GFLOP/s", "ours/BLAS time (IQR)", "ours/torch time (IQR)"]
    return "## GEMM ladder (float32, n×n @ n×n, cpu backend)\n\n" + _table(head, rows)


def load_section(result):
    """Under --load: how much each side slowed down against its own quiet samples, paired by round."""
    rows = []
    for row in result["kernels"] + result["overhead"] + result["models"]:
        if "slowdown" not in row:
            continue
        quiet = row["quiet"]
        rows.append([row["case"], row["backend"], _ms(quiet.get("ours")), _ms(row["timing"]),
                     _spread(row["slowdown"].get("ours")), _ms(quiet.get("torch")), _ms(row["torch"]),
                     _spread(row["slowdown"].get("torch"))])
    if not rows:
        return ""
    head = ["case", "backend", "ours quiet ms", "ours loaded ms", "ours slowdown (IQR)", "torch quiet ms",
            "torch loaded ms", "torch slowdown (IQR)"]
    return (f"## Under load: {result['load_processes']} busy processes beside\n\n"
            "Slowdown = loaded / quiet time of the same side, paired by round (the load is paused for the quiet "
            "samples).\n\n" + _table(head, rows))


def overhead_section(result):
    rows = [[row["case"], row["backend"], _us(row["timing"]) if not row["note"] else row["note"], _us(row["torch"]),
             _spread(row.get("ratio_spread")), f"≤ {row['target']}×" if row["target"] else "", _met(row)]
            for row in result["overhead"]]
    head = ["case", "backend", "ours µs median (min–max)", "torch µs", "ours/torch (IQR)", "target", "met"]
    return "## 2. Framework overhead\n\n" + _table(head, rows)


def models_section(result):
    rows = [[row["case"], row["backend"], _rate(row.get("steps_per_s")) if not row["note"] else row["note"],
             _ms(row["timing"]), _rate(row.get("torch_steps_per_s")), _spread(row.get("ratio_spread")),
             f"≤ {row['target']}×" if row["target"] else "", _met(row)]
            for row in result["models"]]
    head = ["model (train step)", "backend", "ours steps/s median (min–max)", "ours ms/step", "torch steps/s",
            "ours/torch time (IQR)", "target", "met"]
    return "## 3. End to end: train steps\n\n" + _table(head, rows)


def targets_section(result):
    lines = ["## Targets (goals, not tests): ours_time / torch_time", ""]
    if not result["targets"]:
        return "\n".join(lines + ["(no overhead or model section was run)"])
    for row in result["targets"]:
        lines.append(f"- {row['case']} [{row['backend']}]: {_ratio(row['ratio'])} vs target ≤ {row['target']}× — "
                     f"{_met(row) or 'n/a'}")
    return "\n".join(lines)


def profile_section(result):
    lines = ["## Where does a train step's time go? (`tg.profile()`)", "",
             "Op rows time each Function's forward/backward (kernels included); kernel rows time only the calls into "
             "the kernel set. The time outside kernels is Python: building the graph, autograd bookkeeping, "
             "NumPy glue (reshapes, broadcasts, small elementwise ops). The profiler adds some overhead of its own."]
    for profile in result["profiles"]:
        lines += ["", f"### {profile['case']} [{profile['backend']}]", "",
                  f"{profile['wall_ms_per_step']:.2f} ms per profiled step (forward ops {profile['forward_ms_per_step']:.2f} ms, "
                  f"backward ops {profile['backward_ms_per_step']:.2f} ms, kernels {profile['kernel_ms_per_step']:.2f} ms; "
                  f"{profile['outside_kernels_share']:.0%} of the step is outside kernels), over {profile['steps']} steps", ""]
        rows = [[entry["kind"], entry["name"], entry["calls"], f"{entry['total_ms']:.2f}", f"{entry['per_call_us']:.1f}",
                 f"{entry['share']:.0%}"] for entry in profile["top_ops"] + profile["top_kernels"]]
        lines.append(_table(["kind", "name", "calls", "total ms", "µs per call", "share of its kind"], rows))
    return "\n".join(lines)


def cliff_section(result):
    cliff = result.get("cliff") or {}
    if not cliff:
        return ""
    items = [f"- {key}: {value:.3f}" if isinstance(value, float) else f"- {key}: {value}" for key, value in cliff.items()]
    return "## OpenMP/BLAS probe: a 128×128 matmul alone and right after a prange kernel, in one process\n\n" + "\n".join(items)


def markdown(result):
    parts = [f"# tinygrad_edu benchmarks ({result['label']})", "\n".join(machine_lines(result))]
    if result.get("notes"):
        parts.append("Notes:\n" + "\n".join(f"- {note}" for note in result["notes"]))
    config = result.get("config", {})
    parts.append(f"Each side runs in its own warm process; each of {config.get('repeats')} rounds takes one sample of "
                 f"every side (order reversed every other round) after {config.get('warmup')} warm-up calls; a sample "
                 "of a short call repeats it and divides. Times: median (min–max) over rounds. Ratios: median of the "
                 "per-round ratios ours / theirs, with their interquartile range; below 1 the engine is faster.")
    if result["kernels"]:
        parts.append(ladder_section(result))
        parts.append(kernels_section(result))
    if result["overhead"]:
        parts.append(overhead_section(result))
    if result["models"]:
        parts.append(models_section(result))
    parts.append(load_section(result))
    parts.append(targets_section(result))
    if result["profiles"]:
        parts.append(profile_section(result))
    parts.append(cliff_section(result))
    if result.get("files"):
        parts.append("Files: " + ", ".join(f"{kind} `{path}`" for kind, path in result["files"].items()))
    return "\n\n".join(part for part in parts if part) + "\n"


def plot(result, base):
    """PNG plots next to `base`: matmul GFLOP/s vs size, model steps/s vs PyTorch. Returns (paths, note)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return {}, "plots skipped: matplotlib is not installed (pip install 'tinygrad_edu[plot]')"
    paths = {}
    matmul = [row for row in result["kernels"] if row["family"] == "matmul" and isinstance(row["gflops"], float)]
    if matmul:
        figure, axis = plt.subplots(figsize=(6, 4))
        series = {}
        for row in matmul:
            size = int(row["case"].split()[-1])
            series.setdefault(row["backend"], {})[size] = row["gflops"]
            for name in ("numpy_blas", "torch"):
                if isinstance(row[name], dict):
                    series.setdefault(name, {})[size] = row["flops"] / (row[name]["median_ms"] * 1e-3) / 1e9
        labels = {"cpu": "ours (Numba cpu)", "numpy": "ours (NumPy reference)", "cuda": "ours (cuda)",
                  "numpy_blas": "NumPy / OpenBLAS", "torch": "PyTorch CPU"}
        for name, points in series.items():
            sizes = sorted(points)
            axis.plot(sizes, [points[s] for s in sizes], marker="o", label=labels.get(name, name))
        axis.set_xscale("log", base=2)
        axis.set_xticks(sorted({int(row["case"].split()[-1]) for row in matmul}))
        axis.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.tick_params(axis="x", labelsize=7)
        axis.set_xlabel("matrix size n (n×n @ n×n, float32)")
        axis.set_ylabel("GFLOP/s (median over rounds)")
        axis.set_title("GEMM ladder")
        axis.grid(alpha=0.3)
        axis.legend()
        figure.tight_layout()
        paths["matmul_png"] = base + "-matmul.png"
        figure.savefig(paths["matmul_png"], dpi=100)
        plt.close(figure)
    models = [row for row in result["models"] if isinstance(row.get("steps_per_s"), dict)]
    if models:
        names = list(dict.fromkeys(row["case"] for row in models))
        backends = list(dict.fromkeys(row["backend"] for row in models))
        bars = {backend: {row["case"]: row["steps_per_s"]["median"] for row in models if row["backend"] == backend}
                for backend in backends}
        bars["torch"] = {row["case"]: row["torch_steps_per_s"]["median"] for row in models if "torch_steps_per_s" in row}
        figure, axis = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(bars)
        for index, (label, values) in enumerate(bars.items()):
            positions = [i + index * width for i in range(len(names))]
            axis.bar(positions, [values.get(name, 0.0) for name in names], width, label=label)
        axis.set_xticks([i + 0.4 - width / 2 for i in range(len(names))])
        axis.set_xticklabels([name.split(" (")[0][:28] for name in names], rotation=20, ha="right", fontsize=7)
        axis.set_yscale("log")
        axis.set_ylabel("train steps/s (median, log scale)")
        axis.set_title("toy models: ours vs PyTorch CPU eager")
        axis.legend()
        figure.tight_layout()
        paths["models_png"] = base + "-models.png"
        figure.savefig(paths["models_png"], dpi=100)
        plt.close(figure)
    return paths, ""
