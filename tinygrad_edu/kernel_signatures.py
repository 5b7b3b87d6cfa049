"""The Numba CPU kernels each `train` command calls, with their argument types: what
tinygrad_edu/precompile.py compiles in parallel on a cold cache. Generated; do not edit by hand:

    NUMBA_CACHE_DIR=$(mktemp -d) python -m tinygrad_edu.record_signatures cnn

Each row: (kernel, argument types as numba.core.types writes them, seconds to compile it alone in a
fresh process, the kernels it calls included: only to split the work into equal shares).
CALLS: for each kernel, the kernels its compile compiled too, with their seconds: a worker compiles
those once for all the kernels of its share.
"""
SIGNATURES = {
    'cnn': [
        ('kernels.cpu.conv._correlate_rows_part', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'int64',
            "Array(uint64, 2, 'C', False, aligned=True)",
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            'bool',
            'int64',
            'int64',
            'int64',
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 4, 'C', False, aligned=True)",
        ), 2.54),
        ('kernels.cpu.conv._correlate_channels_part', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'int64',
            "Array(float32, 3, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            'bool',
            "Array(uint64, 1, 'C', False, aligned=True)",
            "Array(uint64, 2, 'C', False, aligned=True)",
            'int64',
            'int64',
            'int64',
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 4, 'C', False, aligned=True)",
        ), 2.42),
        ('kernels.cpu.gemm._gemm_tasks', (
            "Array(float32, 3, 'C', False, aligned=True)",
            'bool',
            "Array(float32, 3, 'C', False, aligned=True)",
            'bool',
            "Array(float32, 3, 'C', False, aligned=True)",
            'int64',
            'int64',
            'int64',
            'int64',
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(uint64, 1, 'C', False, aligned=True)",
        ), 2.18),
        ('kernels.cpu.conv._weight_grad_part', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'int64',
            "Array(float32, 2, 'C', False, aligned=True)",
            'int64',
            "Array(uint64, 1, 'C', False, aligned=True)",
            "Array(uint64, 2, 'C', False, aligned=True)",
            'int64',
            'int64',
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 5, 'C', False, aligned=True)",
        ), 1.78),
        ('kernels.cpu.pool._max_forward_serial', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 3, 'C', False, aligned=True)",
            "Array(int64, 3, 'C', False, aligned=True)",
            'int64',
            'int64',
            'int64',
            'int64',
            'int64',
            'int64',
            'int64',
            'int64',
        ), 0.46),
        ('kernels.cpu.softmax._cross_entropy_forward_serial', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'float64',
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 2, 'C', False, aligned=True)",
        ), 0.4),
        ('kernels.cpu.softmax._cross_entropy_backward_serial', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            'int64',
            'float64',
            "Array(float32, 2, 'C', False, aligned=True)",
        ), 0.29),
        ('kernels.cpu.pool._max_backward_serial', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(int64, 4, 'C', False, aligned=True)",
            "Array(float32, 3, 'C', False, aligned=True)",
        ), 0.2),
        ('kernels.cpu.optim._adam_kernel_serial', (
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            'float32',
            'float32',
            'float32',
            'float32',
            'float32',
            'float32',
            'float32',
            'float32',
            'float32',
        ), 0.14),
        ('kernels.cpu.linear._add_bias_kernel', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
        ), 0.11),
        ('kernels.cpu.linear._bias_grad_kernel', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
        ), 0.11),
        ('kernels.cpu.softmax._first_bad_target', (
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'int64',
        ), 0.08),
    ],
}
CALLS = {
    'cnn': {
        'kernels.cpu.conv._correlate_channels_part': {
            "kernels.cpu.register_tiles._micro_kernel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), uint64, Array(float32, 2, 'C', False, aligned=True), Literal[bool](False))": 0.55,
            'numba.cpython.builtins.ol_max.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.np.arrayobj.impl_carray.<locals>.impl(float32*, UniTuple(int64, 2), omitted(default=None))': 0.02,
            'numba.np.arrayobj.np_arange.<locals>.impl(int64, omitted(default=None), omitted(default=None), omitted(default=None))': 0.26,
        },
        'kernels.cpu.conv._correlate_rows_part': {
            "kernels.cpu.register_tiles._micro_kernel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), uint64, Array(float32, 2, 'C', False, aligned=True), Literal[bool](False))": 0.63,
            'numba.cpython.builtins.ol_max.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.03,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 3),)': 0.03,
            'numba.np.arrayobj.impl_carray.<locals>.impl(float32*, UniTuple(int64, 2), omitted(default=None))': 0.02,
            'numba.np.arrayobj.np_arange.<locals>.impl(int64, omitted(default=None), omitted(default=None), omitted(default=None))': 0.19,
            'numba.np.arrayobj.ol_np_empty.<locals>.impl(UniTuple(int64, 2), class(uint64))': 0.13,
        },
        'kernels.cpu.conv._weight_grad_part': {
            "kernels.cpu.register_tiles._micro_kernel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), uint64, Array(float32, 2, 'C', False, aligned=True), Literal[bool](True))": 0.54,
            'numba.cpython.builtins.ol_max.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.np.arrayobj.np_arange.<locals>.impl(int64, omitted(default=None), omitted(default=None), omitted(default=None))': 0.24,
        },
        'kernels.cpu.gemm._gemm_tasks': {
            "kernels.cpu.gemm._pack_panels(Array(float32, 1, 'C', False, aligned=True), uint64, bool, int64, int64, int64, int64, uint64, uint64, Array(float32, 1, 'C', False, aligned=True))": 0.34,
            "kernels.cpu.gemm._row_tiles_times_panel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 2, 'C', False, aligned=True), uint64, int64, int64, int64, Array(float32, 1, 'C', False, aligned=True), uint64, uint64, Array(float32, 1, 'C', False, aligned=True), uint64, uint64, uint64, bool)": 0.87,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.02,
        },
        'kernels.cpu.pool._max_forward_serial': {
            'numba.cpython.builtins.ol_max.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.02,
        },
        'kernels.cpu.softmax._cross_entropy_backward_serial': {
            'numba.cpython.numbers.scalar_view.<locals>.impl(int64, class(float64))': 0.02,
        },
        'kernels.cpu.softmax._cross_entropy_forward_serial': {
            'numba.cpython.numbers.scalar_view.<locals>.impl(int64, class(float64))': 0.03,
        },
    },
}
