"""The kernel interface (kernels/interface.py) against every kernel set: each declared function is defined in its
family module with exactly the declared parameters, and each set exports exactly the declared functions.
(That kernels/ never imports tinygrad_edu is checked with the other import rules in tests/test_layering.py.)
"""
import importlib
import inspect

import pytest

from kernels import interface

KERNEL_SETS = ["kernels.reference", "kernels.cpu", "kernels.cuda"]
DECLARED = [(family, stub) for family, stubs in interface.FAMILIES.items() for stub in stubs]
DECLARED_IDS = [stub.__name__ for _, stub in DECLARED]
CUDA_EXTRAS = {"is_available", "to_device", "to_host"}  # device helpers kernels.cuda exports besides the kernels


def test_the_declaration_names_every_function_once_with_a_contract():
    names = [stub.__name__ for _, stub in DECLARED]
    assert len(names) == len(set(names))
    assert all(stub.__doc__ and stub.__doc__.strip() for _, stub in DECLARED)


@pytest.mark.parametrize("family, stub", DECLARED, ids=DECLARED_IDS)
@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_each_kernel_set_defines_every_declared_function_with_its_exact_signature(kernel_set, family, stub):
    if kernel_set.split(".")[1] not in stub.kernel_sets:
        assert not hasattr(importlib.import_module(kernel_set), stub.__name__)  # declared for other sets only
        return
    module = importlib.import_module(f"{kernel_set}.{family}")
    function = getattr(module, stub.__name__, None)
    assert callable(function), f"{module.__name__} does not define {stub.__name__} (declared in kernels/interface.py)"
    assert inspect.signature(function) == inspect.signature(stub), (
        f"{module.__name__}.{stub.__name__}{inspect.signature(function)} differs from the declaration "
        f"{stub.__name__}{inspect.signature(stub)}")


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_each_kernel_set_exports_exactly_the_declared_functions(kernel_set):
    package = importlib.import_module(kernel_set)
    extras = CUDA_EXTRAS if kernel_set == "kernels.cuda" else set()
    declared = interface.declared_in(kernel_set)
    assert set(package.__all__) == {stub.__name__ for _, stub in declared} | extras
    for family, stub in declared:
        module = importlib.import_module(f"{kernel_set}.{family}")
        assert getattr(package, stub.__name__) is getattr(module, stub.__name__)


def test_the_cuda_engine_offers_every_declared_function_with_its_signature():
    engine = importlib.import_module("kernels.cuda.engine")
    declared = interface.declared_in("kernels.cuda")
    assert set(engine.__all__) == {stub.__name__ for _, stub in declared}
    for _, stub in declared:
        assert inspect.signature(getattr(engine, stub.__name__)) == inspect.signature(stub), stub.__name__


def test_a_missing_kernel_is_an_import_error_naming_module_and_function():
    @interface.family("gemm")
    def transposed_matmul(a, b):
        """A declaration no kernel set implements."""

    try:
        with pytest.raises(ImportError, match="kernels.reference.gemm does not define transposed_matmul"):
            interface.implementations("kernels.reference")
    finally:
        interface.FAMILIES["gemm"].remove(transposed_matmul)


def test_a_kernel_declared_for_some_sets_only_is_required_there_and_absent_elsewhere():
    partial = [stub for _, stub in DECLARED if stub.kernel_sets != interface.KERNEL_SETS]
    cpu_only = {"attention_forward_lse", "attention_backward_lse", "packed_attention_forward",
                "packed_attention_backward"}
    assert {stub.__name__ for stub in partial} == cpu_only
    assert all(set(stub.kernel_sets) <= set(interface.KERNEL_SETS) for stub in partial)
    cpu_names = {stub.__name__ for _, stub in interface.declared_in("kernels.cpu")}
    cuda_names = {stub.__name__ for _, stub in interface.declared_in("kernels.cuda")}
    assert cpu_names - cuda_names == cpu_only

