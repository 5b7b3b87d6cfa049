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
        ), 2.54),
        ('kernels.cpu.conv._correlate_channels_serial', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(float32, 3, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            'bool',
            "Array(uint64, 1, 'C', False, aligned=True)",
            "Array(uint64, 2, 'C', False, aligned=True)",
            "Array(float32, 4, 'C', False, aligned=True)",
        ), 1.69),
        ('kernels.cpu.conv._correlate_rows_serial', (
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(uint64, 2, 'C', False, aligned=True)",
            'int64',
            'int64',
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            'bool',
            "Array(float32, 4, 'C', False, aligned=True)",
        ), 1.58),
        ('kernels.cpu.conv._weight_grad_serial', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(uint64, 1, 'C', False, aligned=True)",
            "Array(uint64, 2, 'C', False, aligned=True)",
            "Array(float32, 6, 'C', False, aligned=True)",
        ), 1.29),
        ('kernels.cpu.conv._pad_planes_serial', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'int64',
            'int64',
            'int64',
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(float32, 2, 'C', False, aligned=True)",
        ), 0.5),
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
        ), 0.44),
        ('kernels.cpu.softmax._cross_entropy_forward_serial', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'float64',
            "Array(float32, 1, 'C', False, aligned=True)",
            "Array(float32, 2, 'C', False, aligned=True)",
        ), 0.38),
        ('kernels.cpu.softmax._cross_entropy_backward_serial', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(int64, 1, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
            'int64',
            'float64',
            "Array(float32, 2, 'C', False, aligned=True)",
        ), 0.28),
        ('kernels.cpu.pool._max_backward_serial', (
            "Array(float32, 4, 'C', False, aligned=True)",
            "Array(int64, 4, 'C', False, aligned=True)",
            "Array(float32, 3, 'C', False, aligned=True)",
        ), 0.19),
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
        ('kernels.cpu.linear._bias_grad_kernel', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
        ), 0.11),
        ('kernels.cpu.linear._add_bias_kernel', (
            "Array(float32, 2, 'C', False, aligned=True)",
            "Array(float32, 1, 'C', False, aligned=True)",
        ), 0.1),
        ('kernels.cpu.softmax._first_bad_target', (
            "Array(int64, 1, 'C', False, aligned=True)",
            'int64',
            'int64',
        ), 0.08),
    ],
}
CALLS = {
    'cnn': {
        'kernels.cpu.conv._correlate_channels_serial': {
            "kernels.cpu.register_tiles._micro_kernel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), uint64, Array(float32, 2, 'C', False, aligned=True), Literal[bool](False))": 0.43,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.03,
            'numba.np.arrayobj.impl_carray.<locals>.impl(float32*, UniTuple(int64, 2), omitted(default=None))': 0.02,
            'numba.np.arrayobj.np_arange.<locals>.impl(int64, omitted(default=None), omitted(default=None), omitted(default=None))': 0.22,
            'numba.np.arrayobj.ol_np_empty.<locals>.impl(int64, class(uint64))': 0.04,
        },
        'kernels.cpu.conv._correlate_rows_serial': {
            "kernels.cpu.register_tiles._micro_kernel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), uint64, Array(float32, 2, 'C', False, aligned=True), Literal[bool](False))": 0.41,
            'numba.cpython.builtins.ol_max.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 3),)': 0.02,
            'numba.np.arrayobj.impl_carray.<locals>.impl(float32*, UniTuple(int64, 2), omitted(default=None))': 0.02,
            'numba.np.arrayobj.np_arange.<locals>.impl(int64, omitted(default=None), omitted(default=None), omitted(default=None))': 0.18,
            'numba.np.arrayobj.ol_np_empty.<locals>.impl(UniTuple(int64, 2), class(uint64))': 0.09,
        },
        'kernels.cpu.conv._pad_planes_serial': {
            'numba.cpython.builtins.ol_max.<locals>.impl(UniTuple(int64, 2),)': 0.02,
        },
        'kernels.cpu.conv._weight_grad_serial': {
            "kernels.cpu.register_tiles._micro_kernel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(float32, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), uint64, Array(float32, 2, 'C', False, aligned=True), Literal[bool](True))": 0.42,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.np.arrayobj.np_arange.<locals>.impl(int64, omitted(default=None), omitted(default=None), omitted(default=None))': 0.21,
        },
        'kernels.cpu.gemm._gemm_tasks': {
            "kernels.cpu.gemm._pack_panels(Array(float32, 1, 'C', False, aligned=True), uint64, bool, int64, int64, int64, int64, uint64, uint64, Array(float32, 1, 'C', False, aligned=True))": 0.47,
            "kernels.cpu.gemm._row_tiles_times_panel(Array(float32, 1, 'C', False, aligned=True), Array(uint64, 2, 'C', False, aligned=True), uint64, int64, int64, int64, Array(float32, 1, 'C', False, aligned=True), uint64, uint64, Array(float32, 1, 'C', False, aligned=True), uint64, uint64, uint64, bool)": 0.99,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.03,
        },
        'kernels.cpu.pool._max_forward_serial': {
            'numba.cpython.builtins.ol_max.<locals>.impl(UniTuple(int64, 2),)': 0.02,
            'numba.cpython.builtins.ol_min.<locals>.impl(UniTuple(int64, 2),)': 0.02,
        },
        'kernels.cpu.softmax._cross_entropy_backward_serial': {
            'numba.cpython.numbers.scalar_view.<locals>.impl(int64, class(float64))': 0.02,
        },
        'kernels.cpu.softmax._cross_entropy_forward_serial': {
            'numba.cpython.numbers.scalar_view.<locals>.impl(int64, class(float64))': 0.02,
        },
    },
}
