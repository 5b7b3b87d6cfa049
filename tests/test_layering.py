"""Which package may import which, checked on the source (every import statement, at module level or inside a
function, except those under `if TYPE_CHECKING:`, which never run) and on what a fresh interpreter loads.

The rules (see the docstring of tinygrad_edu/__init__.py):
  * `kernels/` never imports `tinygrad_edu`: kernels are pure functions over arrays;
  * `tinygrad_edu` imports the top-level `benchmarks` package only from the `bench` command (tinygrad_edu/bench.py);
  * inside `tinygrad_edu` the one import cycle is the documented back-reference: the modules tensor.py imports
    (autograd, trace, the ops its methods call) build their results as Tensors, so they refer back to
    tinygrad_edu.tensor, as a module object read when an op runs; and autograd.py re-exports, at its end, the
    pieces built on it under PyTorch's `torch.autograd.*` names.
"""
import ast
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tinygrad_edu"
TENSOR_MODULE = "tinygrad_edu.tensor"
# The layers under tensor.py: it imports them, and they build their results as Tensors (the back-reference).
UNDER_TENSOR = ("tinygrad_edu.autograd", "tinygrad_edu.custom_function", "tinygrad_edu.anomaly", "tinygrad_edu.trace",
                "tinygrad_edu.ops")
BENCH_COMMAND = "tinygrad_edu.bench"
# autograd.py ends with imports of modules built on it, so that `tinygrad_edu.autograd.Function`, `.grad` and
# `.detect_anomaly` exist where PyTorch users look for them.
AUTOGRAD_REEXPORTS = {"tinygrad_edu.autograd": {"tinygrad_edu.custom_function", "tinygrad_edu.anomaly"}}


def _module_name(path):
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking_block(node):
    test = node.test
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _runtime_import_nodes(tree):
    """Every Import/ImportFrom node that can run: anywhere in the file except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking_block(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path):
    """(imported name, binds the module object, line) for each import in the file; `from a import b` gives
    "a.b" (b may be a module or a name in a: `_resolve` decides)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _runtime_import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, True, node.lineno) for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # a relative import: from the package, one level up per extra dot
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        found.extend((f"{base}.{alias.name}", False, node.lineno) for alias in node.names)
    return found


def _python_files(folder):
    return sorted(path for path in (REPO_ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)


def _resolve(name, modules):
    """The module an imported name lives in: the longest prefix of `name` that is a module of the package."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def import_graph():
    """{module: {imported module: binds the module object}} over the modules of tinygrad_edu."""
    files = {_module_name(path): path for path in _python_files(PACKAGE)}
    graph = {}
    for module, path in files.items():
        edges = graph.setdefault(module, {})
        for name, binds_module, _ in imports_of(path):
            target = _resolve(name, files)
            if target and target != module:
                # `from tinygrad_edu import tensor` binds the module too: then the name itself is a module.
                edges[target] = edges.get(target, False) or binds_module or name == target
    return graph


def _reachable(graph, start):
    seen, stack = set(), [start]
    while stack:
        for target in graph[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


# ----- kernels ------------------------------------------------------------------------------------------------------
def test_no_kernel_source_imports_tinygrad_edu():
    offending = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {name}"
        for path in _python_files("kernels")
        for name, _, line in imports_of(path)
        if name == PACKAGE or name.startswith(PACKAGE + ".")
    ]
    assert offending == []


def test_importing_the_kernels_loads_no_tinygrad_edu_module():
    code = ("import sys, kernels.cpu, kernels.reference; "
            "print(sorted(m for m in sys.modules if m == 'tinygrad_edu' or m.startswith('tinygrad_edu.')))")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


# ----- benchmarks ---------------------------------------------------------------------------------------------------
def test_tinygrad_edu_imports_benchmarks_only_from_the_bench_command():
    importers = {
        _module_name(path)
        for path in _python_files(PACKAGE)
        for name, _, _ in imports_of(path)
        if name == "benchmarks" or name.startswith("benchmarks.")
    }
    assert importers <= {BENCH_COMMAND}


# ----- the one cycle ------------------------------------------------------------------------------------------------
def _is_under_tensor(module):
    return any(module == layer or module.startswith(layer + ".") for layer in UNDER_TENSOR)


def _back_references(graph):
    """The imports of tinygrad_edu.tensor by the layers under it."""
    return {(module, TENSOR_MODULE) for module in graph if _is_under_tensor(module) and TENSOR_MODULE in graph[module]}


def test_the_back_reference_to_tensor_is_the_only_import_cycle():
    graph = import_graph()
    allowed = _back_references(graph)
    allowed |= {(module, target) for module, targets in AUTOGRAD_REEXPORTS.items() for target in targets}
    without_allowed = {module: {t for t in targets if (module, t) not in allowed} for module, targets in graph.items()}
    assert _cycles(without_allowed) == []


def test_the_back_reference_takes_the_tensor_module_not_names_from_it():
    """tensor.py is still loading when the modules it imports run their imports: only the module object exists
    yet, so they read `tensor_module.Tensor` when an op runs (`from tinygrad_edu.tensor import Tensor` would fail,
    or work only as long as tensor.py happens to import them late)."""
    graph = import_graph()
    loaded_by_tensor = _reachable(graph, TENSOR_MODULE)
    by_name = sorted(module for module, _ in _back_references(graph)
                     if module in loaded_by_tensor and not graph[module][TENSOR_MODULE])
    assert by_name == []


def test_the_cycle_check_sees_a_cycle_and_ignores_type_checking_imports(tmp_path, monkeypatch):
    """The checker itself: a two-module cycle is found, and an import under TYPE_CHECKING is not an edge."""
    assert _cycles({"a": {"b": True}, "b": {"a": True}, "c": {"a": True}}) == [["a", "b"]]
    source = tmp_path / "module.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tinygrad_edu.nn\n"
                      "def f():\n    import tinygrad_edu.optim\n")
    monkeypatch.setitem(globals(), "REPO_ROOT", tmp_path)
    assert sorted(name for name, _, _ in imports_of(source)) == ["tinygrad_edu.optim", "typing.TYPE_CHECKING"]
