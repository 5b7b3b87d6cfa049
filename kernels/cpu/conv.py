"""2-D convolution on the CPU in Numba as an implicit GEMM: the register-tiled micro-kernel of
kernels/cpu/register_tiles.py reads the windows of the input where they lie, so no im2col matrix is ever built.

Shapes: x (N, C_in, H, W), w (C_out, Cg, KH, KW), y (N, C_out, H_out, W_out); G = groups, Cg = C_in/G,
Cog = C_out/G, CK = Cg·KH·KW taps per output, L = H_out·W_out positions per image.

The idea. Pad x with zeros (x_pad, planes of Hp × Wp). Every output is a dot product over the taps,

    y[n, u, p, q] = b[u] + Σ_{c,i,j} x_pad[n, g·Cg + c, p·sh + i·dh, q·sw + j·dw] · w[u, c, i, j],   u = g·Cog + o

and the flat index of that x_pad element is a part that depends only on the output position plus a part that
depends only on the tap:

    index = origin(n, p, q) + tap(g, c, i, j),   origin = (n·C_in·Hp + p·sh)·Wp + q·sw,
                                                  tap    = ((g·Cg + c)·Hp + i·dh)·Wp + j·dw

That is the micro-kernel's operand a[a_rows[r] + a_cols[k]]: put output positions on the rows of a tile and
taps on its columns, and the tile reads the windows in place. The padding is never written for the whole batch:
each task of a tile kernel places the image it works on in zeros (`_place_plane`) in scratch of one image per
thread, and its tiles read it from L1/L2 (so origin counts from that image, n = 0). There are two ways to lay a
tile over y:

    channel tiles  (`_correlate_channels_part`, any stride)   MR = 8 positions × NR = 32 output channels
        A = x_pad (a_rows = the positions' origins, a_cols = tap offsets), B = the weights as (G, CK, Cog
        rounded up to NR), so a row of B is 32 channels. A tile covers 32 channel planes, 8 values each,
        and is stored transposed in registers (`_transpose_tile`): 8 consecutive values per plane.
    row tiles  (`_correlate_rows_part`, stride 1)   MR = 8 output channels × NR = 32 consecutive positions
        Count positions in the padded width (t = p·Wp + q); then 32 consecutive positions read 32
        consecutive values of x_pad for every tap: B = x_pad itself (b_rows = tap offsets), A = the weights
        as they lie (C_out, CK). A tile row is a piece of an output row, stored without transposing; the
        columns q >= W_out of each padded row are computed and dropped (Wp/W_out - 1 of the work). Small
        images are placed side by side, up to eight to a padded row (`_side_by_side`), so fewer are dropped:
        at 8x8, 1.125 positions computed per output instead of 1.5.

`_correlate` takes whichever wastes less for the shape (row tiles on wide images, channel tiles on small ones
or strided convolutions). A first layer (CK <= 32 taps, stride 1 down the rows) takes neither: its forward and
grad_w are vector loops over positions on shifted copies of x (kernels/cpu/conv_taps.py). The backward reuses
both tilings:

    grad_x  = the correlation of grad_y, spread out by the stride and padded by dilation·(K - 1) - padding, with
              the flipped kernel whose channel axes are swapped, w'[c, o, i, j] = w[o, c, KH-1-i, KW-1-j]:
              grad_x[n, c, h, v] = Σ_{o,i,j} grad_y_pad[n, o, h + i·dh, v + j·dw] · w'[c, o, i, j]
              (every x element gathers from the outputs whose windows covered it; no col2im scatter-add)
    grad_w  = Σ over the N·L positions of windows(x_pad)^T @ grad_y^T: a tile of MR taps × NR channels, with
              the forward's addresses swapped (a_rows = tap offsets, a_cols = the positions' origins) and B =
              grad_y in channels-last layout (N·L, C_out)       `_weight_grad_part`, one accumulator per chunk
              For few taps (a first layer, CK <= 32) and stride 1 down the rows, dot products over positions
              instead: grad_w[o, (c, i, j)] = Σ_{n,l} grad_y[n, o, l] · shifted_j[n, c, l + i·dh·W_out], with
              x copied once per kernel column j (shifted_j[.., h, q] = x_pad[.., h, q·sw + j·dw]) so both
              operands are contiguous over l; grad_y is read as it lies           kernels/cpu/conv_taps.py
    grad_b  = Σ of grad_y over n, p, q: summed while grad_x's tile kernel places grad_y, or as one more "tap"
              of ones in kernels/cpu/conv_taps.py

Why it is fast (measured on a 2-core AVX-512 Xeon, float32, batch 64, 3x3 kernels, one thread): the im2col +
GEMM it replaced wrote the im2col matrix (288 x 12544 values, 14 MB, for 32->64 channels at 14x14), packed it
again for the GEMM and, for grad_x, scattered a matrix of that size back with col2im; it ran 4-6x slower.
Here the copies are the placed images, one image or block at a time in scratch that stays in L1/L2, on every
thread, and grad_w's channels-last grad_y; the micro-kernel's loads of x come from L1/L2, because
neighbouring positions share most of their windows. Index tables (window corners, tap offsets) are computed in
NumPy by the wrappers and passed in, so a first run compiles only the kernels.
"""
import functools
import math

import numba
import numpy as np
from llvmlite import ir
from numba import carray, config, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from kernels.cpu.conv_taps import VL
from kernels.cpu.conv_taps import correlate_by_taps as _correlate_by_taps
from kernels.cpu.conv_taps import weight_grad_by_taps as _weight_grad_by_taps
import kernels.cpu.variants  # noqa: F401 -- sets OpenMP's wait policy before the first parallel launch
from kernels.cpu.register_tiles import MR, NR, _micro_kernel, new_tile, stack_array, use_512_bit_vectors
from kernels.reference.conv import check_conv_grad_y, check_conv_inputs

# Multiply-adds (outputs × CK) below which the tile kernels run serially: a parallel launch costs a few µs on a
# quiet machine and milliseconds on a busy one, and every parallel variant a run uses adds seconds of compiling
# to its first start. The toy ConvNet's layers (at most 4.7M multiply-adds: 16->32 channels at 4x4, batch 64,
# ≈120 µs on one thread) stay serial.
SERIAL_MAX_WORK = 1 << 23
# The channel tiles' transposed store of one output value costs about as much as CHANNEL_STORE_MACS of their
# multiply-adds, so they pay 1 + CHANNEL_STORE_MACS / CK per multiply-add: `_correlate` weighs that against the
# row tiles' dropped columns. With it, `_correlate` picks the tiling measured faster (one thread, batch 64, 3x3):
# channel tiles for 32 -> 64 channels at 14x14 (forward 0.91x the row tiles' time, grad_x 0.90x) and for the
# forward of 16 -> 32 at 8x8 (0.61x), row tiles for grad_x at 8x8 (0.77x); at 4x4 grad_x takes row tiles, which
# measured 1.05x the channel tiles' time.
# CHANNEL_TILES_STORE_COST scales the whole channel-tile cost (1: as measured; tests set 0 or 1e9 to force a tiling).
CHANNEL_STORE_MACS = 32
CHANNEL_TILES_STORE_COST = 1.0
# Tasks of the tile kernels at least (when there are positions enough). A task places one image in zeros and walks
# a run of its position tiles (and, for each, every channel tile, so the input they share is read from L1); an
# image is split into runs, each placing it again, only when there are fewer images than this.
MIN_TASKS = 16
CACHE_LINE = 64  # bytes
# Positions ahead of a channel tile whose lines of y it prefetches for writing: without, the store of each tile
# that starts a cache line of its 32 planes waited for 32 lines from memory. Measured, one thread: forward at
# 32 -> 64 channels, 14x14, batch 64, 0.88x the time without; 16 and 64 positions ahead did no better.
PREFETCH_POSITIONS = 4 * MR
KC = 128  # positions per block of grad_w's reduction: a block of channels-last grad_y (KC × NR, 16 KiB) stays in L1
# Taps per output (Cg·KH·KW) up to which the forward and grad_w (with grad_b) take kernels/cpu/conv_taps.py (when
# the stride down the rows is 1 and L is a multiple of VL). Measured, one thread, batch 64, 3x3, time of that path
# / the general one, forward: 1 -> 32 channels at 28x28 0.29, 3 -> 32 0.52, 3 -> 64 at 16x16 0.39; grad_w:
# 1 -> 32 at 28x28 0.29, 3 -> 32 0.49, 2 -> 32 at 8x8 0.65, 3 -> 64 at 16x16 0.52; for grad_w past 32 taps
# it loses on small images (4 -> 64 at 4x4 1.24, 16 -> 32 at 8x8 1.69) and evens out on large ones (8 -> 32 at
# 28x28 0.95): per 16 vector multiply-adds its 4 x 4 tiles load 8 vectors, the micro-kernel 2 vectors and
# 8 scalars, so past a few taps the transposing copy it saves no longer pays for the extra loads.
TAPS_PATH_MAX_TAPS = 32
# Multiply-adds (outputs × CK) from which it does: below, a layer takes microseconds either way, and the
# general kernel, which the other layers compile anyway, spares a first run the seconds of compiling this one
# (the 8x8 digits' first layer, 1 -> 16 channels, stays general; MNIST's, 1 -> 32 at 28x28, 14M, does not).
TAPS_PATH_MIN_WORK = SERIAL_MAX_WORK
_stack_tile_transposed = stack_array(MR * NR)
CACHED_TABLE_SIZE = 1 << 15  # entries of an index table up to which `_cached` keeps it (256 KiB of uint64)
COPY_LANES = 16  # values per masked copy of a row piece (`_copy_add_masked`): one 512-bit vector of float32
# Images side by side in the row tiles' padded rows (`_side_by_side`): at most MAX_ACROSS, only for outputs at
# least MIN_SIDE_BY_SIDE_WIDTH wide (at 4x4 the pieces of 4 values cost what the dropped positions saved: grad_x
# of 16 -> 32 channels took the same time), and their row-piece copies weigh SIDE_BY_SIDE_COPY_COST in `_correlate`
# (one thread, batch 64, 3x3, 16 -> 32 channels at 8x8: the forward on row tiles side by side, 1.125 tiles per
# output, took 1.12x the channel tiles' time, which cost 1.22 by the model; grad_x 0.78-0.85x the one-image row
# tiles, 1.5 tiles per output).
MAX_ACROSS = 8
MIN_SIDE_BY_SIDE_WIDTH = 8
SIDE_BY_SIDE_COPY_COST = 1.2


@njit(inline="always")
def _new_columns(like):
    """MR·NR uninitialised values of like's dtype on the stack of the calling function: a tile, transposed."""
    return carray(_stack_tile_transposed(like), MR * NR)


@intrinsic
def _transpose_tile(typingctx, tile, columns):
    """columns[j·MR + r] = tile[r, j] for an (MR, NR) tile, MR = 8 (both C-contiguous, e.g. on the stack).

    Each 8 × 8 block of the tile is loaded as eight vectors of eight values (its rows) and transposed in
    registers by three rounds of shuffles, 24 in all: interleave pairs of rows (values 0 1 4 5 and 2 3 6 7), then
    pairs of those pairs, then swap halves; the eight results (its columns) are stored as eight vectors. Against
    the loop it replaced (all eight rows of a column in one statement, the shuffles left to LLVM), the channel
    tiles took about 4% less time at 32 -> 64 channels, 14x14 (one thread).
    """
    def codegen(context, builder, signature, args):
        tile_data = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0]).data
        columns_data = cgutils.create_struct_proxy(signature.args[1])(context, builder, value=args[1]).data
        vector_pointer = ir.VectorType(context.get_value_type(signature.args[0].dtype), MR).as_pointer()

        def pointer(data, offset):
            return builder.bitcast(builder.gep(data, [context.get_constant(types.intp, offset)]), vector_pointer)

        def shuffle(first, second, order):  # order indexes the 16 values of first, then second
            return builder.shuffle_vector(first, second, ir.Constant(ir.VectorType(ir.IntType(32), MR), order))

        for block in range(0, NR, MR):
            rows = [builder.load(pointer(tile_data, r * NR + block), align=4) for r in range(MR)]
            # rows r, r+1 -> [r_0, (r+1)_0, r_1, (r+1)_1, r_4, (r+1)_4, r_5, (r+1)_5] and the same of values 2, 3, 6, 7
            pairs = [shuffle(rows[r], rows[r + 1], order) for order in ([0, 8, 1, 9, 4, 12, 5, 13],
                                                                       [2, 10, 3, 11, 6, 14, 7, 15])
                     for r in range(0, MR, 2)]
            # pairs of pairs -> [r_j, (r+1)_j, (r+2)_j, (r+3)_j, the same of j + 4] for r = 0, 4 and j = 0 ... 3
            quads = {}
            for first_j, (rows_0_1, rows_2_3, rows_4_5, rows_6_7) in ((0, pairs[:4]), (2, pairs[4:])):
                for j, order in ((first_j, [0, 1, 8, 9, 4, 5, 12, 13]), (first_j + 1, [2, 3, 10, 11, 6, 7, 14, 15])):
                    quads[j, 0] = shuffle(rows_0_1, rows_2_3, order)
                    quads[j, 4] = shuffle(rows_4_5, rows_6_7, order)
            # halves -> column j (rows 0-3 of quads[j, 0], then of quads[j, 4]) and column j + 4 (their other halves)
            for j in range(4):
                for column, order in ((j, [0, 1, 2, 3, 8, 9, 10, 11]), (j + 4, [4, 5, 6, 7, 12, 13, 14, 15])):
                    builder.store(shuffle(quads[j, 0], quads[j, 4], order),
                                  pointer(columns_data, (block + column) * MR), align=4)
        return context.get_dummy_value()

    return types.none(tile, columns), codegen


@intrinsic
def _prefetch_for_write(typingctx, array, index):
    """Ask the CPU to bring the cache line of array[index] (a 1-D array, index unsigned) into cache for writing
    (x86 `prefetchw`); nothing else happens, and an address past the end is harmless."""
    def codegen(context, builder, signature, args):
        data = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        int32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [pointer.type, int32, int32, int32]), "llvm.prefetch.p0")
        builder.call(prefetch, [pointer, int32(1), int32(3), int32(1)])  # write, keep in all levels, data
        return context.get_dummy_value()

    return types.none(array, index), codegen


@intrinsic
def _copy_add_masked(typingctx, source, source_index, target, target_index, count, shift):
    """target[target_index + q] = source[source_index + q] + shift for q < count <= COPY_LANES (C-contiguous arrays
    of one dtype, indexed flat; indices unsigned): one masked vector load and one masked vector store (LLVM's
    masked intrinsics, AVX-512 mask registers), so a short piece of a row is no scalar loop. Lanes past count
    are neither read nor written: reading past the end of source is harmless."""
    def codegen(context, builder, signature, args):
        int32 = ir.IntType(32)
        value_type = context.get_value_type(signature.args[0].dtype)
        vector_type = ir.VectorType(value_type, COPY_LANES)
        suffix = "f32" if value_type == ir.FloatType() else "f64"
        broadcast = ir.Constant(ir.VectorType(int32, COPY_LANES), [0] * COPY_LANES)  # lane 0 into every lane

        def pointer(array_type, array, index):
            data = cgutils.create_struct_proxy(array_type)(context, builder, value=array).data
            return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())

        def splat(value, lane_type):
            vector = builder.insert_element(ir.Constant(ir.VectorType(lane_type, COPY_LANES), ir.Undefined),
                                            value, int32(0))
            return builder.shuffle_vector(vector, vector, broadcast)

        source_pointer = pointer(signature.args[0], args[0], args[1])
        target_pointer = pointer(signature.args[2], args[2], args[3])
        lanes = ir.Constant(ir.VectorType(ir.IntType(64), COPY_LANES), list(range(COPY_LANES)))
        mask = builder.icmp_unsigned("<", lanes, splat(args[4], ir.IntType(64)))  # lane q < count
        load = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector_type, [source_pointer.type, int32, mask.type, vector_type]),
            f"llvm.masked.load.v{COPY_LANES}{suffix}.p0")
        store = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [vector_type, target_pointer.type, int32, mask.type]),
            f"llvm.masked.store.v{COPY_LANES}{suffix}.p0")
        alignment = int32(signature.args[0].dtype.bitwidth // 8)  # one value's: a piece starts anywhere
        values = builder.call(load, [source_pointer, alignment, mask, ir.Constant(vector_type, ir.Undefined)])
        shift = context.cast(builder, args[5], signature.args[5], signature.args[0].dtype)
        builder.call(store, [builder.fadd(values, splat(shift, value_type)), target_pointer, alignment, mask])
        return context.get_dummy_value()

    return types.none(source, source_index, target, target_index, count, shift), codegen


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the stack arrays need the JIT; the same contracts in NumPy
    def _prefetch_for_write(array, index):  # a hint to the CPU, nothing to do in plain Python
        return None

    def _new_columns(like):  # noqa: F811
        return np.empty(MR * NR, like.dtype)

    def _transpose_tile(tile, columns):
        columns[:] = tile.T.reshape(-1)

    def _copy_add_masked(source, source_index, target, target_index, count, shift):
        source_flat, target_flat = source.reshape(-1), target.reshape(-1)
        source_index, target_index, count = int(source_index), int(target_index), int(count)
        target_flat[target_index:target_index + count] = source_flat[source_index:source_index + count] + shift


def _origins(n_batch, channels, hp, wp, h_out, w_out, sh, sw, count):
    """origins[m] = flat index in x_pad (N, channels, hp, wp) of the corner of output position m's window,
    m = (n·H_out + p)·W_out + q; entries past the last position repeat it (a tile's rows past the end).
    NumPy in the wrapper, passed to the kernels as an array: nothing extra to compile on the first run."""
    if count <= CACHED_TABLE_SIZE:
        return _cached(_origins_table, n_batch, channels, hp, wp, h_out, w_out, sh, sw, count)
    return _origins_table(n_batch, channels, hp, wp, h_out, w_out, sh, sw, count)


def _origins_table(n_batch, channels, hp, wp, h_out, w_out, sh, sw, count):
    positions = h_out * w_out
    m = np.minimum(np.arange(count), n_batch * positions - 1)
    n, p, q = m // positions, m % positions // w_out, m % w_out
    return ((n * channels * hp + p * sh) * wp + q * sw).astype(np.uint64)


def _tap_offsets(groups, c_per_group, kh, kw, hp, wp, dh, dw, count):
    """taps[g, k] = flat offset in x_pad of tap k = (c·KH + i)·KW + j of group g from a window's corner;
    entries past CK repeat the last tap (a tile's rows past the end)."""
    return _cached(_tap_offsets_table, groups, c_per_group, kh, kw, hp, wp, dh, dw, count)


def _tap_offsets_table(groups, c_per_group, kh, kw, hp, wp, dh, dw, count):
    ck = c_per_group * kh * kw
    tap = np.minimum(np.arange(count), ck - 1)
    c, i, j = tap // (kh * kw), tap // kw % kh, tap % kw
    g = np.arange(groups)[:, None]
    return (((g * c_per_group + c) * hp + i * dh) * wp + j * dw).astype(np.uint64)


@functools.lru_cache(maxsize=64)
def _cached(make_table, *geometry):
    """make_table(*geometry), kept for the next call with the same geometry (the kernels only read the tables):
    a training step asks for the same few every time, and at 4x4 images building them took a tenth of the
    convolution. Only tables up to CACHED_TABLE_SIZE entries are kept, so the cache stays a few MiB."""
    return make_table(*geometry)


@njit(fastmath=True, cache=True)
def _correlate_channels_part(x, placement, hp, wp, w_panels, bias, use_bias, origins, taps, n_runs, first_task,
                             end_task, image, plane_sums, y):
    """y[n, g·Cog + o, p, q] = bias + Σ_k x_pad[n]_flat[origins[l] + taps[g, k]] · w_panels[g, k, o],  l = p·W_out + q

    x (N, C, H, W) as it lies; x_pad[n] (C, Hp, Wp) = image n placed in zeros by `placement` (`_place_plane`),
    built by the task that reads it in `image` (C·Hp·Wp values of scratch); w_panels (G, CK, Cog_pad)
    with zero columns past Cog, y (N, C_out, H_out, W_out), origins (L rounded up to MR: the corners of one
    image's windows) and taps (G, CK) from `_origins` and `_tap_offsets`; when plane_sums (N, C) has rows, it
    gets Σ x[n, c] (conv2d's grad_b when x is grad_y). One task = (image, run of its position tiles): it places
    the image, then for each panel of NR channels and group computes its tiles while the image is in L1/L2, so
    no padded copy of the whole batch is written to memory and read back, and the placing runs on all threads.
    This function runs the tasks [first_task, end_task) of n_batch · n_runs (n_runs runs per image, more than
    one only when there are fewer than MIN_TASKS images): the whole loop nest on one thread, or one part's share
    of `_correlate_channels_parallel`.
    """
    use_512_bit_vectors()  # for the store loops here; the micro-kernel asks for itself
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    groups, ck, cog_pad = w_panels.shape
    c_out, h_out, w_out = y.shape[1], y.shape[2], y.shape[3]
    c_out_per_group = c_out // groups
    positions = h_out * w_out
    n_tiles = (positions + MR - 1) // MR
    per_run = (n_tiles + n_runs - 1) // n_runs
    weight_rows = np.arange(ck).astype(np.uint64) * np.uint64(cog_pad)  # row k of a group's weights
    x_flat = x.reshape(-1)
    w_flat = w_panels.reshape(-1)
    y_flat = y.reshape(-1)
    plane = np.uint64(height * width)
    plane_size = np.uint64(hp * wp)
    n_panels = cog_pad // NR
    ahead = np.uint64(PREFETCH_POSITIONS)
    tile = new_tile(y)
    for task in range(first_task, end_task):
        n = task // n_runs
        run = task % n_runs
        for c in range(channels):
            _place_plane(x_flat, np.uint64(n * channels + c) * plane, width, placement, image,
                         np.uint64(c) * plane_size, plane_size, wp)
        if run == 0 and plane_sums.shape[0] > 0:
            for c in range(channels):
                plane_sums[n, c] = _plane_sum(x_flat, np.uint64(n * channels + c) * plane, plane)
        for panel in range(n_panels):
            o0 = panel * NR
            for g in range(groups):
                first = g * c_out_per_group + o0
                n_channels = np.uint64(min(NR, c_out_per_group - o0))
                for t in range(run * per_run, min(n_tiles, (run + 1) * per_run)):
                    m0 = t * MR
                    # tile[r, j] belongs to channel first + j at position m0 + r; unsigned indices (no
                    # negative-index checks in the store loops)
                    start = np.uint64((n * c_out + first) * positions + m0)
                    if m0 + PREFETCH_POSITIONS < positions:
                        # the lines that a tile PREFETCH_POSITIONS on writes (one per plane), fetched while
                        # this tile computes: stores that miss the cache, one per plane, fill the store buffer
                        # and stall the core
                        for j in range(n_channels):
                            _prefetch_for_write(y_flat, start + j * np.uint64(positions) + ahead)
                    _micro_kernel(image, origins[m0:m0 + MR], taps[g], w_flat, weight_rows,
                                  np.uint64(g * ck * cog_pad + o0), tile, False)
                    if m0 + MR <= positions:
                        # column j is MR consecutive values of one plane, transposed in registers
                        # (`_transpose_tile`) and stored as one masked vector (`_copy_add_masked`): LLVM
                        # left the loop over its MR values scalar, and the vectors took 3% off the forward
                        # at 32 -> 64 channels, 14x14 (one thread)
                        columns = _new_columns(y)  # columns[j·MR + r] = tile[r, j]
                        _transpose_tile(tile, columns)
                        for j in range(n_channels):
                            shift = bias[first + j] if use_bias else bias[0]  # bias is [0] then: same dtype
                            _copy_add_masked(columns, j * np.uint64(MR), y_flat, start + j * np.uint64(positions),
                                             np.uint64(MR), shift)
                    else:  # the image's last tile, rows past its end repeat its last position: not stored
                        for r in range(np.uint64(positions - m0)):
                            for j in range(n_channels):
                                shift = bias[first + j] if use_bias else bias[0]
                                y_flat[start + j * np.uint64(positions) + r] = tile[r, j] + shift


@njit(parallel=True, fastmath=True, cache=True)
def _correlate_channels_parallel(x, placement, hp, wp, w_panels, bias, use_bias, origins, taps, n_runs, scratch,
                                 plane_sums, y):
    """`_correlate_channels_part` on all threads: the n_batch · n_runs tasks cut into one contiguous share per row
    of scratch (parts, C·Hp·Wp), so each part places its images in its own row. The part is a function of its
    own, compiled once for this and for the one-thread call (Numba's parallel lowering of a loop nest this deep
    is slow to compile, and can keep LLVM from holding a tile's accumulators in registers)."""
    n_tasks = x.shape[0] * n_runs
    n_parts = scratch.shape[0]
    for part in prange(n_parts):
        _correlate_channels_part(x, placement, hp, wp, w_panels, bias, use_bias, origins, taps, n_runs,
                                 part * n_tasks // n_parts, (part + 1) * n_tasks // n_parts, scratch[part],
                                 plane_sums, y)


@njit(fastmath=True, cache=True)
def _correlate_rows_part(x, placement, hp, wp, slot, across, taps, w_rows, bias, use_bias, n_segments, first_task,
                         end_task, image, plane_sums, y):
    """The same correlation for stride 1, tiled along output rows: MR channels × NR consecutive positions.

    Positions are counted in the padded width: output (p, q), tap k of group g reads x_pad_flat at
    t + taps[g, k] with t = p·Wp + q, x_pad (C, Hp, Wp) being `across` images placed side by side in zeros, image
    i from column i·slot (`_place_plane` with `placement`, whose columns are counted in its slot). For each tap,
    the NR positions t0..t0+NR-1 of a tile then read NR consecutive values: B is x_pad itself. The columns of
    a slot past W_out are computed and dropped. Several images share a padded row where one image's row would
    leave most of a tile's NR positions to drop (at 8x8, 3 tiles of 32 for 64 outputs; four images side by
    side, 9 tiles for 256): `_side_by_side` picks across and slot so that the reads of one image's windows past
    its slot land only in the next slot's first `left` columns, which are zeros. A = w_rows (C_out, CK), the
    weights as they lie; rows past Cog repeat the group's last channel.

        for task in [first_task, end_task) of n_blocks · G · n_segments:   # block = `across` images
            place the group's planes of the block's images in `image`        # scratch: C·Hp·Wp + NR + Wp values
            for t0 in the segment's positions, step NR:                      # the NR + Wp zeros past the planes:
                for channel_tile in the group's MR-channel tiles:           # the last tile's reads past the end
                    tile = w_rows[channel tile] @ x_pad[taps, t0:t0 + NR]   # `_micro_kernel`
                    copy each image's part of each padded row into y

    So the input a position tile shares with every channel tile (NR positions × CK taps) is read from L1 instead
    of once per channel tile from L2. Runs split the positions only when there are fewer than MIN_TASKS
    (block, group) pairs; tasks [first_task, end_task), as `_correlate_channels_part`; plane_sums as there.
    """
    use_512_bit_vectors()  # for the store loops here; the micro-kernel asks for itself
    groups, ck = taps.shape
    n_batch, c_out, h_out, w_out = y.shape
    c_out_per_group = c_out // groups
    span = h_out * wp  # padded positions of one block
    n_channel_tiles = (c_out_per_group + MR - 1) // MR
    weight_starts = np.empty((groups * n_channel_tiles, MR), dtype=np.uint64)
    for g in range(groups):
        for t in range(n_channel_tiles):
            for r in range(MR):
                channel = g * c_out_per_group + min(t * MR + r, c_out_per_group - 1)
                weight_starts[g * n_channel_tiles + t, r] = channel * ck
    weight_cols = np.arange(ck).astype(np.uint64)
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    c_per_group = channels // groups
    x_flat = x.reshape(-1)
    w_flat = w_rows.reshape(-1)
    y_flat = y.reshape(-1)
    plane = h_out * w_out
    source_plane = np.uint64(height * width)
    plane_size = np.uint64(hp * wp)
    n_position_tiles = (span + NR - 1) // NR
    per_segment = (n_position_tiles + n_segments - 1) // n_segments
    # one image (across 1): each padded row is copied whole (see below); side by side: only the W_out outputs
    copy_width = wp if across == 1 else w_out
    piece_source = np.empty(NR, dtype=np.uint64)  # a tile's pieces of output rows (at most one per position)
    piece_target = np.empty(NR, dtype=np.uint64)
    piece_count = np.empty(NR, dtype=np.uint64)
    tile = new_tile(y)
    for task in range(first_task, end_task):
        n0 = task // (groups * n_segments) * across
        n_images = min(across, n_batch - n0)
        g = (task // n_segments) % groups
        segment = task % n_segments
        for c in range(g * c_per_group, (g + 1) * c_per_group):
            for i in range(n_images):
                source = np.uint64((n0 + i) * channels + c) * source_plane
                # the first image's call zeroes the whole plane; the others place their rows in their slot
                target = np.uint64(c) * plane_size + np.uint64(i * slot)
                _place_plane(x_flat, source, width, placement, image, target, plane_size if i == 0 else np.uint64(0),
                             wp)
                if segment == 0 and plane_sums.shape[0] > 0:
                    plane_sums[n0 + i, c] = _plane_sum(x_flat, source, source_plane)
        segment_end = min(span, (segment + 1) * per_segment * NR)
        # one image: plane values this task produces end before `owned_end` (p·W_out + q of its last position)
        owned_end = (segment_end - 1) // wp * w_out + min((segment_end - 1) % wp, w_out - 1) + 1
        if across > 1:
            owned_end = plane
        for t0 in range(segment * per_segment * NR, segment_end, NR):
            t1 = min(t0 + NR, segment_end)
            # the pieces of output rows in this tile, found once for all its channels: positions
            # t0 + piece_source[k] ... of the tile go to y_flat[piece_target[k] + channel·L ...], piece_count[k]
            # values. With one image a row is copied to the end of its padded width, dropped columns included:
            # they land on the next row(s) of the plane, whose own values come from later positions of the same
            # task and overwrite them, so the pieces are whole padded rows (whole vectors when Wp is 16 or 32;
            # grad_x at 28x28 took 0.9x the time of pieces of W_out values, one thread); only the end of what
            # this task produces (the plane's end, or where the next task's positions start) is a hard stop.
            # Side by side, a piece is one image's W_out outputs of a row, or part of them.
            n_pieces = 0
            for p in range(t0 // wp, min(h_out, (t1 + wp - 1) // wp)):
                first = max(t0, p * wp) - p * wp  # the tile's columns in padded row p
                stop = min(t1, (p + 1) * wp) - p * wp
                for i in range(first // slot, min(n_images, (stop + slot - 1) // slot)):
                    q0 = max(0, first - i * slot)
                    q1 = min(stop - i * slot, copy_width, owned_end - p * w_out)
                    if q1 > q0:  # (else only dropped columns of this image lie in the tile)
                        piece_source[n_pieces] = p * wp + i * slot + q0 - t0
                        piece_target[n_pieces] = (n0 + i) * c_out * plane + p * w_out + q0
                        piece_count[n_pieces] = q1 - q0
                        n_pieces += 1
            for channel_tile in range(n_channel_tiles):
                _micro_kernel(w_flat, weight_starts[g * n_channel_tiles + channel_tile], weight_cols, image,
                              taps[g], np.uint64(t0), tile, False)
                # tile[r, j] is padded position t0 + j of channel g·Cog + MR·channel_tile + r: each piece of
                # each row as masked vectors of COPY_LANES (`_copy_add_masked`), with unsigned indices
                for r in range(min(MR, c_out_per_group - channel_tile * MR)):
                    channel = g * c_out_per_group + channel_tile * MR + r
                    shift = bias[channel] if use_bias else bias[0]  # bias is [0] then: same dtype
                    row = np.uint64(r * NR)
                    out = np.uint64(channel * plane)
                    for k in range(n_pieces):
                        for q in range(np.uint64(0), piece_count[k], np.uint64(COPY_LANES)):
                            _copy_add_masked(tile, row + piece_source[k] + q, y_flat, out + piece_target[k] + q,
                                             min(np.uint64(COPY_LANES), piece_count[k] - q), shift)


@njit(parallel=True, fastmath=True, cache=True)
def _correlate_rows_parallel(x, placement, hp, wp, slot, across, taps, w_rows, bias, use_bias, n_segments, scratch,
                             plane_sums, y):
    """`_correlate_rows_part` on all threads, the tasks cut into shares as in `_correlate_channels_parallel`."""
    n_tasks = (x.shape[0] + across - 1) // across * taps.shape[0] * n_segments
    n_parts = scratch.shape[0]
    for part in prange(n_parts):
        _correlate_rows_part(x, placement, hp, wp, slot, across, taps, w_rows, bias, use_bias, n_segments,
                             part * n_tasks // n_parts, (part + 1) * n_tasks // n_parts, scratch[part], plane_sums, y)


@njit(fastmath=True, cache=True)
def _weight_grad_part(x, placement, hp, wp, grad_y_last, images_per_block, origins, taps, first_block, end_block,
                      x_block, acc):
    """acc[g, t, panel, r, j] += Σ over the images n of blocks [first_block, end_block) and their positions l of
           x_pad[n]_flat[origins[l] + taps[g, t·MR + r]] · grad_y_last[n·L + l, g·Cog_pad + panel·NR + j]

    grad_w^T (taps × channels) of those images: the forward's addresses with rows and columns swapped.
    x (N, C, H, W) as it lies; x_pad[n] (C, Hp, Wp) = image n placed in zeros by `placement` (`_place_plane`);
    grad_y_last (N·L, G·Cog_pad) from `_channels_last`, the micro-kernel's B, whose rows of NR channels are whole
    vectors. The images come in blocks of images_per_block: a block's images are placed side by side in x_block
    (images·C·Hp·Wp values of scratch), while they fit in L2 (instead of a padded copy of the whole batch);
    origins (images·L) are the windows' corners in the block. Then, in pieces of at most KC positions, a piece ×
    NR panel of grad_y_last is reused by every tap tile. taps (G, tap tiles·MR); acc (G, tap tiles, channel
    panels, MR, NR). On one thread, or one chunk's share of `_weight_grad_parallel`.
    """
    groups, n_tap_tiles, n_panels = acc.shape[0], acc.shape[1], acc.shape[2]
    n_batch, channels, height, width = x.shape
    row_width = grad_y_last.shape[1]
    positions = grad_y_last.shape[0] // max(1, n_batch)
    cog_pad = n_panels * NR
    grad_rows = np.arange(images_per_block * positions).astype(np.uint64) * np.uint64(row_width)
    x_flat = x.reshape(-1)
    grad_flat = grad_y_last.reshape(-1)
    plane = np.uint64(height * width)
    plane_size = np.uint64(hp * wp)
    for block in range(first_block, end_block):
        n0 = block * images_per_block
        n_images = min(images_per_block, n_batch - n0)
        for i in range(n_images):
            for c in range(channels):
                _place_plane(x_flat, np.uint64((n0 + i) * channels + c) * plane, width, placement, x_block,
                             np.uint64(i * channels + c) * plane_size, plane_size, wp)
        count = n_images * positions
        block_start = np.uint64(n0 * positions * row_width)  # the block's first row of grad_y_last
        n_pieces = (count + KC - 1) // KC
        for piece in range(n_pieces):  # pieces of equal size: no short last k loop
            k0 = piece * count // n_pieces
            k1 = (piece + 1) * count // n_pieces
            # the piece's views made once, not per tile (each view of a heap array counts a reference)
            piece_origins = origins[k0:k1]
            piece_rows = grad_rows[k0:k1]
            for g in range(groups):
                for panel in range(n_panels):
                    column = block_start + np.uint64(g * cog_pad + panel * NR)
                    for t in range(n_tap_tiles):
                        _micro_kernel(x_block, taps[g, t * MR:(t + 1) * MR], piece_origins, grad_flat, piece_rows,
                                      column, acc[g, t, panel], True)


@njit(parallel=True, fastmath=True, cache=True)
def _weight_grad_parallel(x, placement, hp, wp, grad_y_last, images_per_block, origins, taps, x_scratch, acc):
    """`_weight_grad_part` on all threads: the blocks of images cut into one contiguous share per chunk, each with
    its row of x_scratch (chunks, images·C·Hp·Wp) and its accumulator acc[chunk] (acc zeroed; the caller sums
    the chunks), as `_correlate_channels_parallel`."""
    n_blocks = (x.shape[0] + images_per_block - 1) // images_per_block
    n_chunks = acc.shape[0]
    for chunk in prange(n_chunks):
        _weight_grad_part(x, placement, hp, wp, grad_y_last, images_per_block, origins, taps,
                          chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks, x_scratch[chunk],
                          acc[chunk])


def _placed_range(size, target_size, step, offset):
    """(first, stop): the p in range(size) whose place p·step + offset lies in [0, target_size)."""
    first = max(0, (-offset + step - 1) // step)
    stop = min(size, max(0, (target_size - offset + step - 1) // step))
    return first, max(first, stop)


@njit(inline="always")
def _place_plane(x_flat, source, width, placement, target_flat, target, plane_size, wp):
    """target_flat[target:target + plane_size] = a plane of Hp × Wp (plane_size values) of zeros with the plane of
    x that starts at x_flat[source] (rows of `width` values) placed as `placement` says: the int64 array
    (step_h, step_w, top, left, p0, p1, q0, q1) puts x[p, q] at (p·step_h + top, q·step_w + left) for p in
    [p0, p1), q in [q0, q1) (the p, q that land inside, from `_placement`). Zeroed first, then copied into while
    in L1, with unsigned indices, so the zeroing and the row copies are vector loops."""
    step_h, step_w, top, left = placement[0], placement[1], placement[2], placement[3]
    for i in range(plane_size):
        target_flat[target + i] = 0
    n_cols = np.uint64(max(0, placement[7] - placement[6]))
    step = np.uint64(step_w)
    for p in range(placement[4], placement[5]):
        row_target = target + np.uint64((p * step_h + top) * wp + placement[6] * step_w + left)
        row_source = source + np.uint64(p * width + placement[6])
        if step_w == 1:
            for q in range(n_cols):
                target_flat[row_target + q] = x_flat[row_source + q]
        else:
            for q in range(n_cols):
                target_flat[row_target + q * step] = x_flat[row_source + q]


@njit(inline="always")
def _plane_sum(x_flat, source, size):
    """Σ x_flat[source:source + size], in float64 for float32 x too (a plane of grad_y adds many values)."""
    total = 0.0
    for i in range(size):
        total += x_flat[source + i]
    return total


def _placement(x_shape, target_shape, step, offset):
    """The placement array of `_place_plane` for x (.., H, W) at step (step_h, step_w) and offset (top, left),
    which may be negative, in planes of target_shape (.., Hp, Wp): the rows and columns that land inside.
    Kept for the next call with the same geometry, as the index tables (`_cached`; the kernels only read it)."""
    return _cached(_placement_array, tuple(x_shape[-2:]), tuple(target_shape[-2:]), tuple(step), tuple(offset))


def _placement_array(x_shape, target_shape, step, offset):
    p0, p1 = _placed_range(x_shape[-2], target_shape[-2], step[0], offset[0])
    q0, q1 = _placed_range(x_shape[-1], target_shape[-1], step[1], offset[1])
    return np.array([step[0], step[1], offset[0], offset[1], p0, p1, q0, q1], dtype=np.int64)


def _row_tile_width(width, h_out, stride):
    """The padded row width Wp to lay out: `width` (the image's padded width), or, for stride 1, the next power
    of two when it is at most NR and needs at most 1/16 more row tiles of NR positions per image. Then a row
    tile holds whole rows of 16 or 32 (e.g. 28 + 2 -> 32, at 28 instead of 27 tiles per image), and
    `_correlate_rows_part` copies each as whole vectors; the extra columns are zeros, computed and dropped."""
    if stride != (1, 1) or width > NR:
        return width
    aligned = 1 << (width - 1).bit_length()
    tiles = -(-h_out * width // NR)
    aligned_tiles = -(-h_out * aligned // NR)
    return aligned if aligned_tiles * 16 <= tiles * 17 else width


def _side_by_side(x_shape, placement, hp, wp, h_out, w_out, reach):
    """(across, slot, Wp, placement) of the row tiles: `across` images side by side in each padded row, image i
    from column i·slot, when that needs at least 1/16 fewer tiles of NR positions per output than one image
    per row of Wp (else (1, Wp, Wp, placement) as given). x placed by `placement` at column offset `left`;
    reach = (KW - 1)·dw, how far right of an output's column its window reads.

    slot = W_out + reach - left: the windows of image i's last column read up to column i·slot + slot + left - 1,
    that is, past their slot only into the next slot's first `left` columns, where no image is placed (they,
    and past the last slot the next row's first columns, hold zeros). Only when left >= 0 and every column of
    x that is read lands inside the slot (the placement in slots keeps all the columns it kept in Wp), and
    left <= reach (so W_out <= slot: the outputs of an image fit in its slot).
    """
    one_image = (1, wp, wp, np.array(placement, dtype=np.int64))
    left = placement[3]
    slot = w_out + reach - left
    if wp >= NR or w_out < MIN_SIDE_BY_SIDE_WIDTH or left < 0 or left > reach:
        return one_image
    step, offset = (placement[0], placement[1]), (placement[2], left)
    in_slot = _placement(x_shape, (hp, slot), step, offset)
    if in_slot[6] != placement[6] or in_slot[7] != placement[7]:
        return one_image
    one_image_tiles = -(-h_out * wp // NR) / w_out  # tiles per output column: per output, times h_out
    best, best_tiles = one_image, one_image_tiles
    for across in range(2, min(x_shape[0], MAX_ACROSS) + 1):
        tiles = -(-h_out * across * slot // NR) / (w_out * across)
        if tiles < best_tiles:
            best, best_tiles = (across, slot, across * slot, in_slot), tiles
    return best if best_tiles * 16 <= one_image_tiles * 15 else one_image


def _weight_panels(w, groups):
    """w (C_out, Cg, KH, KW) -> (G, CK, Cog_pad): [g, (c·KH + i)·KW + j, o] = w[g·Cog + o, c, i, j], 0 past Cog."""
    c_out_per_group = w.shape[0] // groups
    ck = w.shape[1] * w.shape[2] * w.shape[3]
    cog_pad = -(-c_out_per_group // NR) * NR
    panels = (_aligned_empty if cog_pad == c_out_per_group else _aligned_zeros)((groups, ck, cog_pad), w.dtype)
    panels[:, :, :c_out_per_group] = w.reshape(groups, c_out_per_group, ck).transpose(0, 2, 1)
    return panels


def _channels_last(grad_y, groups):
    """grad_y (N, C_out, H_out, W_out) -> (N·L, G·Cog_pad): [n·L + l, g·Cog_pad + o] = grad_y[n, g·Cog + o, l],
    with zero columns up to Cog_pad (a multiple of NR), starting on a cache line (it is the micro-kernel's B).
    NumPy's transposing copy, which measured faster here than the loops written in Numba (by elements, or by
    8 × 32 blocks transposed in registers, placed beside x in grad_w's kernel: 0.62 against 0.39 ms at 64
    channels of 14x14, batch 64, one thread), even those on two threads beside one NumPy thread."""
    n_batch, c_out, h_out, w_out = grad_y.shape
    c_out_per_group = c_out // groups
    cog_pad = -(-c_out_per_group // NR) * NR
    rows = grad_y.reshape(n_batch, groups, c_out_per_group, h_out * w_out).transpose(0, 3, 1, 2)  # (N, L, G, Cog)
    if cog_pad == c_out_per_group:
        last = _aligned_empty((n_batch, h_out * w_out, groups, cog_pad), grad_y.dtype)
        last[...] = rows
    else:
        last = _aligned_zeros((n_batch, h_out * w_out, groups, cog_pad), grad_y.dtype)
        last[..., :c_out_per_group] = rows
    return last.reshape(n_batch * h_out * w_out, groups * cog_pad)


def _aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array of `shape` whose first value starts a cache line. For the operands
    the micro-kernel reads as B, rows of NR values: then no vector load straddles two lines (NumPy aligns to 16
    bytes, and the channel tiles ran 10-20% slower in processes whose panels happened to start mid-line)."""
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    storage = np.empty(size + CACHE_LINE // dtype.itemsize, dtype=dtype)
    address = storage.__array_interface__["data"][0]  # (`.ctypes.data` takes microseconds)
    start = (-address % CACHE_LINE) // dtype.itemsize
    return storage[start:start + size].reshape(shape)


def _aligned_zeros(shape, dtype):
    """`_aligned_empty` filled with zeros."""
    array = _aligned_empty(shape, dtype)
    array[...] = 0
    return array


def _correlate(x, placement, hp, wp, w, b, stride, dilation, groups, y, plane_sums=None):
    """y = b + the valid correlation with w (C_out, Cg, KH, KW), strided, of x (N, C, ..) placed in zero planes of
    Hp × Wp by `placement` (`_place_plane`); returns y. Given plane_sums (N, C), it also gets Σ x[n, c].

    Row tiles when the stride is 1 and the positions they compute and drop (and the channels past a multiple of
    MR) waste less than the channel tiles' padding to NR channels and transposed store; channel tiles otherwise.
    The tile kernels place each image themselves, in scratch of one image (or of the images side by side that
    the row tiles put in one padded row) per part (thread).
    """
    n_batch, c_out, h_out, w_out = y.shape
    c_in = x.shape[1]
    kh, kw = w.shape[2], w.shape[3]
    ck = w.shape[1] * kh * kw  # taps per output
    c_out_per_group = c_out // groups
    bias = b if b is not None else _empty_arrays(y.dtype)[0]
    sums = _empty_arrays(x.dtype)[1] if plane_sums is None else plane_sums
    serial = y.size * w.shape[1] * kh * kw < SERIAL_MAX_WORK
    parts = 1 if serial else numba.get_num_threads()
    across, slot, rows_wp, rows_placement = _cached(_side_by_side, x.shape, tuple(placement.tolist()), hp, wp,
                                                    h_out, w_out, (kw - 1) * dilation[1])
    row_tiles_cost = (-(-h_out * rows_wp // NR) * NR / (h_out * w_out * across)
                      * (-(-c_out_per_group // MR) * MR / c_out_per_group)
                      * (SIDE_BY_SIDE_COPY_COST if across > 1 else 1))
    channel_tiles_cost = (-(-c_out_per_group // NR) * NR / c_out_per_group
                          * (1 + CHANNEL_STORE_MACS / ck) * CHANNEL_TILES_STORE_COST)
    if stride == (1, 1) and row_tiles_cost <= channel_tiles_cost:
        taps = _tap_offsets(groups, c_in // groups, kh, kw, hp, rows_wp, dilation[0], dilation[1], ck)
        n_position_tiles = -(-h_out * rows_wp // NR)
        n_blocks = -(-n_batch // across)
        n_segments = min(n_position_tiles, -(-MIN_TASKS // (n_blocks * groups)))
        # the zeros past the planes stay zeros
        scratch = np.zeros((parts, c_in * hp * rows_wp + NR + rows_wp), dtype=x.dtype)
        arguments = (x, rows_placement, hp, rows_wp, slot, across, taps, w.reshape(c_out, -1), bias, b is not None,
                     n_segments)
        if serial:
            _correlate_rows_part(*arguments, 0, n_blocks * groups * n_segments, scratch[0], sums, y)
        else:
            _correlate_rows_parallel(*arguments, scratch, sums, y)
    else:
        n_tiles = -(-h_out * w_out // MR)
        n_runs = min(n_tiles, -(-MIN_TASKS // n_batch))
        taps = _tap_offsets(groups, c_in // groups, kh, kw, hp, wp, dilation[0], dilation[1], ck)
        origins = _origins(1, c_in, hp, wp, h_out, w_out, stride[0], stride[1], n_tiles * MR)
        scratch = np.empty((parts, c_in * hp * wp), dtype=x.dtype)
        arguments = (x, placement, hp, wp, _weight_panels(w, groups), bias, b is not None, origins, taps, n_runs)
        if serial:
            _correlate_channels_part(*arguments, 0, n_batch * n_runs, scratch[0], sums, y)
        else:
            _correlate_channels_parallel(*arguments, scratch, sums, y)
    return y


@functools.cache
def _empty_arrays(dtype):
    """(a zero, an empty (0, 0) array) of dtype: the kernels' arguments for no bias and no plane sums, which
    they only read, made once instead of on every call."""
    return np.zeros(1, dtype=dtype), np.empty((0, 0), dtype=dtype)


def _by_taps(w_shape, stride, h_out, w_out, outputs):
    """Whether kernels/cpu/conv_taps.py takes the forward and grad_w: few taps per output (a first layer), the
    stride 1 down the rows, H_out·W_out a multiple of VL, and work enough (see TAPS_PATH_MAX_TAPS)."""
    taps = w_shape[1] * w_shape[2] * w_shape[3]
    return (stride[0] == 1 and taps <= TAPS_PATH_MAX_TAPS and h_out * w_out % VL == 0
            and outputs * taps >= TAPS_PATH_MIN_WORK)


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, C_out, H_out, W_out) = conv2d(x (N, C_in, H, W), w (C_out, C_in/groups, KH, KW)) + b.

    >>> import numpy as np
    >>> x = np.ones((1, 1, 3, 3), np.float32); w = np.ones((1, 1, 3, 3), np.float32)
    >>> conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)[0, 0, 1]
    array([6., 9., 6.], dtype=float32)
    """
    h_out, w_out = check_conv_inputs("conv2d_forward", x, w, b, stride, padding, dilation, groups)
    n_batch, _, height, width = x.shape
    y = np.empty((n_batch, w.shape[0], h_out, w_out), dtype=x.dtype)
    if y.size == 0:
        return y
    if _by_taps(w.shape, stride, h_out, w_out, y.size):
        bias = None if b is None else np.ascontiguousarray(b)
        return _correlate_by_taps(x, np.ascontiguousarray(w), bias, stride, padding, dilation, groups, y)
    hp, wp = height + 2 * padding[0], _row_tile_width(width + 2 * padding[1], h_out, stride)
    placement = _placement(x.shape, (hp, wp), (1, 1), padding)
    bias = None if b is None else np.ascontiguousarray(b)
    return _correlate(np.ascontiguousarray(x), placement, hp, wp, np.ascontiguousarray(w), bias, stride, dilation,
                      groups, y)


def conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_input, need_weight, need_bias):
    """(grad_x, grad_w, grad_b) of conv2d_forward for upstream grad_y (N, C_out, H_out, W_out); None if not asked."""
    h_out, w_out = check_conv_inputs("conv2d_backward", x, w, None, stride, padding, dilation, groups)
    check_conv_grad_y("conv2d_backward", x, w, grad_y, h_out, w_out)
    n_batch, c_in, height, width = x.shape
    c_out, c_per_group, kh, kw = w.shape
    c_out_per_group = c_out // groups
    w = np.ascontiguousarray(w)
    grad_y = np.ascontiguousarray(grad_y)
    grad_x = grad_w = grad_b = None
    by_taps = need_weight and _by_taps(w.shape, stride, h_out, w_out, grad_y.size)
    # grad_b comes with the taps path's grad_w, or with grad_x's placing of grad_y, or from NumPy
    bias_from_padding = need_bias and need_input and not by_taps
    if by_taps:
        grad_w, bias_grad = _weight_grad_by_taps(x, w.shape, grad_y, stride, padding, dilation, groups)
        grad_b = bias_grad if need_bias else None
    elif need_bias and not bias_from_padding:
        grad_b = grad_y.reshape(n_batch, c_out, h_out * w_out).sum(axis=0).sum(axis=1)  # images first: vector adds
    if need_weight and not by_taps:
        serial = grad_y.size * c_per_group * kh * kw < SERIAL_MAX_WORK
        n_chunks = 1 if serial else numba.get_num_threads()
        hp, wp = height + 2 * padding[0], width + 2 * padding[1]
        positions = h_out * w_out
        images_per_block = max(1, min(n_batch, KC // positions))  # blocks of about KC positions at least
        n_tap_tiles = -(-c_per_group * kh * kw // MR)
        cog_pad = -(-c_out_per_group // NR) * NR
        acc = np.zeros((n_chunks, groups, n_tap_tiles, cog_pad // NR, MR, NR), dtype=x.dtype)
        origins = _origins(images_per_block, c_in, hp, wp, h_out, w_out, stride[0], stride[1],
                           images_per_block * positions)
        taps = _tap_offsets(groups, c_per_group, kh, kw, hp, wp, dilation[0], dilation[1], n_tap_tiles * MR)
        x_scratch = np.empty((n_chunks, images_per_block * c_in * hp * wp), dtype=x.dtype)
        grad_y_last = _channels_last(grad_y, groups)  # (N·L, G·Cog_pad)
        arguments = (np.ascontiguousarray(x), _placement(x.shape, (hp, wp), (1, 1), padding), hp, wp, grad_y_last,
                     images_per_block, origins, taps)
        if serial:
            _weight_grad_part(*arguments, 0, -(-n_batch // images_per_block), x_scratch[0], acc[0])
        else:
            _weight_grad_parallel(*arguments, x_scratch, acc)
        # (G, tap tiles, panels, MR, NR) -> (G, taps, channels) -> (C_out, Cg, KH, KW)
        grad_w_t = acc.sum(axis=0).transpose(0, 1, 3, 2, 4).reshape(groups, n_tap_tiles * MR, cog_pad)
        grad_w_t = grad_w_t[:, :c_per_group * kh * kw, :c_out_per_group]
        grad_w = np.ascontiguousarray(grad_w_t.transpose(0, 2, 1)).reshape(w.shape)
    if need_input:
        top = dilation[0] * (kh - 1) - padding[0]
        left = dilation[1] * (kw - 1) - padding[1]
        # grad_y spread by the stride and placed at (top, left) in planes of hp × wp
        hp = height + dilation[0] * (kh - 1)
        wp = _row_tile_width(width + dilation[1] * (kw - 1), height, (1, 1))
        placement = _placement(grad_y.shape, (hp, wp), stride, (top, left))
        plane_sums = np.zeros((n_batch, c_out), dtype=grad_y.dtype) if bias_from_padding else None
        w_flipped = w.reshape(groups, c_out_per_group, c_per_group, kh, kw)[:, :, :, ::-1, ::-1]
        w_flipped = np.ascontiguousarray(w_flipped.transpose(0, 2, 1, 3, 4)).reshape(c_in, c_out_per_group, kh, kw)
        grad_x = np.empty((n_batch, c_in, height, width), dtype=x.dtype)
        if grad_x.size:
            _correlate(grad_y, placement, hp, wp, w_flipped, None, (1, 1), dilation, groups, grad_x, plane_sums)
        if bias_from_padding:
            grad_b = plane_sums.sum(axis=0)
    return grad_x, grad_w, grad_b
