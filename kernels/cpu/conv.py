"""2-D convolution on the CPU in Numba as an implicit GEMM: the register-tiled micro-kernel of
kernels/cpu/register_tiles.py reads the windows of the input where they lie, so no im2col matrix is ever built.

Shapes: x (N, C_in, H, W), w (C_out, Cg, KH, KW), y (N, C_out, H_out, W_out); G = groups, Cg = C_in/G,
Cog = C_out/G, CK = Cg·KH·KW taps per output, L = H_out·W_out positions per image.

The idea. Pad x once with zeros (x_pad, planes of Hp × Wp). Every output is a dot product over the taps,

    y[n, u, p, q] = b[u] + Σ_{c,i,j} x_pad[n, g·Cg + c, p·sh + i·dh, q·sw + j·dw] · w[u, c, i, j],   u = g·Cog + o

and the flat index of that x_pad element is a part that depends only on the output position plus a part that
depends only on the tap:

    index = origin(n, p, q) + tap(g, c, i, j),   origin = (n·C_in·Hp + p·sh)·Wp + q·sw,
                                                  tap    = ((g·Cg + c)·Hp + i·dh)·Wp + j·dw

That is the micro-kernel's operand a[a_rows[r] + a_cols[k]]: put output positions on the rows of a tile and
taps on its columns, and the tile reads the windows in place. There are two ways to lay a tile over y:

    channel tiles  (`_correlate_channels_body`, any stride)   MR = 8 positions × NR = 32 output channels
        A = x_pad (a_rows = the positions' origins, a_cols = tap offsets), B = the weights as (G, CK, Cog
        rounded up to NR), so a row of B is 32 channels. A tile covers 32 channel planes, 8 values each,
        and is stored transposed: 8 consecutive values per plane when its positions lie in one image.
    row tiles  (`_correlate_rows_body`, stride 1)   MR = 8 output channels × NR = 32 consecutive positions
        Count positions in the padded width (t = p·Wp + q); then 32 consecutive positions read 32
        consecutive values of x_pad for every tap: B = x_pad itself (b_rows = tap offsets), A = the weights
        as they lie (C_out, CK). A tile row is a piece of an output row, stored without transposing; the
        columns q >= W_out of each padded row are computed and dropped (Wp/W_out - 1 of the work).

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
              grad_y in channels-last layout (N·L, C_out)       `_weight_grad_body`, one accumulator per chunk
              For few taps (a first layer, CK <= 32) and stride 1 down the rows, dot products over positions
              instead: grad_w[o, (c, i, j)] = Σ_{n,l} grad_y[n, o, l] · shifted_j[n, c, l + i·dh·W_out], with
              x copied once per kernel column j (shifted_j[.., h, q] = x_pad[.., h, q·sw + j·dw]) so both
              operands are contiguous over l; grad_y is read as it lies           kernels/cpu/conv_taps.py
    grad_b  = Σ of grad_y over n, p, q: summed while grad_y is copied for grad_x (`_pad_planes_body`), or as
              one more "tap" of ones in kernels/cpu/conv_taps.py

Why it is fast (measured on a 2-core AVX-512 Xeon, float32, batch 64, 3x3 kernels, one thread): the im2col +
GEMM it replaced wrote the im2col matrix (288 x 12544 values, 14 MB, for 32->64 channels at 14x14), packed it
again for the GEMM and, for grad_x, scattered a matrix of that size back with col2im; it ran 4-6x slower.
Here the extra memory traffic is one padded copy of x (or grad_y) and one transposed copy of grad_y, each the
size of the tensor, and the micro-kernel's loads of x come from L1/L2, because neighbouring positions share
most of their windows. Index tables (window corners, tap offsets) are computed in NumPy by the wrappers and
passed in, so a first run compiles only the kernels.
"""
import functools
import math

import numpy as np
from numba import carray, config, njit, prange

from kernels.cpu.conv_taps import VL
from kernels.cpu.conv_taps import correlate_by_taps as _correlate_by_taps
from kernels.cpu.conv_taps import weight_grad_by_taps as _weight_grad_by_taps
from kernels.cpu.register_tiles import MR, NR, _micro_kernel, new_tile, stack_array, use_512_bit_vectors
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.conv import check_conv_grad_y, check_conv_inputs

# Multiply-adds (outputs × CK) below which the tile kernels run serially: a parallel launch costs a few µs on a
# quiet machine and milliseconds on a busy one, and every parallel variant a run uses adds seconds of compiling
# to its first start. The toy ConvNet's layers (at most 4.7M multiply-adds: 16->32 channels at 4x4, batch 64,
# ≈120 µs on one thread) stay serial.
SERIAL_MAX_WORK = 1 << 23
# The channel tiles' transposed store of one output value costs about as much as CHANNEL_STORE_MACS of their
# multiply-adds (measured, one thread: a ninth of the tile's time at CK = 288, a fifth at CK = 144), so they pay
# 1 + CHANNEL_STORE_MACS / CK per multiply-add: `_correlate` weighs that against the row tiles' dropped columns.
# CHANNEL_TILES_STORE_COST scales the whole channel-tile cost (1: as measured; tests set 0 or 1e9 to force a tiling).
CHANNEL_STORE_MACS = 32
CHANNEL_TILES_STORE_COST = 1.0
# Tasks of `_correlate_rows_body` at least (when there are positions enough): a task walks a run of position tiles
# and, for each, every channel tile, so the tile of the input that the channel tiles share is read from L1.
ROW_TILE_TASKS = 16
# Values of a padded copy from which it runs on all threads beside a parallel tile kernel (1 MiB of float32):
# smaller copies take tens of µs, about what another parallel launch costs on a busy machine.
PARALLEL_COPY_MIN_SIZE = 1 << 18
CACHE_LINE = 64  # bytes
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


@njit(inline="always")
def _new_columns(like):
    """MR·NR uninitialised values of like's dtype on the stack of the calling function: a tile, transposed."""
    return carray(_stack_tile_transposed(like), MR * NR)


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the stack arrays need the JIT; the same contracts in NumPy
    def _new_columns(like):  # noqa: F811
        return np.empty(MR * NR, like.dtype)


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


def _correlate_channels_body(x_pad, w_panels, bias, use_bias, origins, taps, y):
    """y[n, g·Cog + o, p, q] = bias + Σ_k x_pad_flat[origins[m] + taps[g, k]] · w_panels[g, k, o]

    x_pad (N, C, Hp, Wp) already padded, w_panels (G, CK, Cog_pad) with zero columns past Cog, y (N, C_out,
    H_out, W_out), origins (N·L rounded up to MR) and taps (G, CK) from `_origins` and `_tap_offsets`. One task
    = (panel of NR channels, group, tile of MR positions); tasks run panel by panel, so a panel of weights
    (CK × NR) stays in cache while the position tiles stream past it.
    """
    use_512_bit_vectors()  # for the store loops here; the micro-kernel asks for itself
    n_batch = x_pad.shape[0]
    groups, ck, cog_pad = w_panels.shape
    c_out, h_out, w_out = y.shape[1], y.shape[2], y.shape[3]
    c_out_per_group = c_out // groups
    positions = h_out * w_out
    n_positions = n_batch * positions
    n_tiles = (n_positions + MR - 1) // MR
    weight_rows = np.arange(ck).astype(np.uint64) * np.uint64(cog_pad)  # row k of a group's weights
    out_base = np.empty(n_tiles * MR, dtype=np.uint64)  # y_flat index of position m in channel 0
    for m in range(n_tiles * MR):
        index = min(m, n_positions - 1)
        out_base[m] = (index // positions) * c_out * positions + index % positions
    x_flat = x_pad.reshape(-1)
    w_flat = w_panels.reshape(-1)
    y_flat = y.reshape(-1)
    n_panels = cog_pad // NR
    for task in prange(n_panels * groups * n_tiles):
        panel = task // (groups * n_tiles)
        g = (task // n_tiles) % groups
        m0 = (task % n_tiles) * MR
        o0 = panel * NR
        tile = new_tile(y)
        _micro_kernel(x_flat, origins[m0:m0 + MR], taps[g], w_flat, weight_rows,
                      np.uint64(g * ck * cog_pad + o0), tile, False)
        # tile[r, j] belongs to channel g·Cog + o0 + j at position m0 + r; unsigned indices (no negative-index
        # checks in the store loops)
        first = g * c_out_per_group + o0
        n_channels = np.uint64(min(NR, c_out_per_group - o0))
        start = out_base[m0] + np.uint64(first * positions)
        if m0 + MR <= n_positions and out_base[m0 + MR - 1] == out_base[m0] + np.uint64(MR - 1):
            # the MR positions are consecutive in one image: column j is MR consecutive values of one plane.
            # Transposed first into a stack buffer, all eight rows per column in one statement, which LLVM
            # turns into register shuffles; reading a column straight from the tile became a gather per column
            # (the store then took a fifth of the tile's time at CK = 288).
            columns = _new_columns(y)  # columns[j·MR + r] = tile[r, j]
            for j in range(np.uint64(NR)):
                columns[j * MR + 0] = tile[0, j]
                columns[j * MR + 1] = tile[1, j]
                columns[j * MR + 2] = tile[2, j]
                columns[j * MR + 3] = tile[3, j]
                columns[j * MR + 4] = tile[4, j]
                columns[j * MR + 5] = tile[5, j]
                columns[j * MR + 6] = tile[6, j]
                columns[j * MR + 7] = tile[7, j]
            for j in range(n_channels):
                shift = bias[first + j] if use_bias else bias[0]  # bias is [0] then: same dtype, no float64 detour
                out = start + j * np.uint64(positions)
                for r in range(np.uint64(MR)):
                    y_flat[out + r] = columns[j * MR + r] + shift
        else:  # the tile crosses into the next image (or ends the batch): row r goes to its own place
            for r in range(min(MR, n_positions - m0)):
                out = out_base[m0 + r] + np.uint64(first * positions)
                for j in range(n_channels):
                    shift = bias[first + j] if use_bias else bias[0]
                    y_flat[out + j * np.uint64(positions)] = tile[r, j] + shift


_correlate_channels_serial, _correlate_channels_parallel = serial_and_parallel(_correlate_channels_body,
                                                                               fastmath=True)


def _correlate_rows_body(x_flat, taps, image_stride, wp, w_rows, bias, use_bias, y):
    """The same correlation for stride 1, tiled along output rows: MR channels × NR consecutive positions.

    Positions are counted in the padded width: output (p, q) of image n, tap k of group g reads x_pad at
    n·image_stride + t + taps[g, k] with t = p·Wp + q (image_stride = C·Hp·Wp). For each tap, the NR positions
    t0..t0+NR-1 of a tile then read NR consecutive values: B is x_pad itself. The columns q >= W_out of each
    padded row are computed and dropped; each output row is copied out separately (`_row_tile_width` pads rows
    to 16 or 32 where that costs no extra tile, so a tile holds whole rows and the copies are whole vectors).
    A = w_rows (C_out, CK), the weights as they lie; rows past Cog repeat the group's last channel. x_flat holds
    NR + Wp zeros past the last image, for the last tile's reads. One task = (image, group, run of position
    tiles): for each position tile it computes every tile of MR channels, so the input those share (NR
    positions × CK taps) is read from L1 instead of once per channel tile from L2; runs split an image only
    when there are fewer than ROW_TILE_TASKS (image, group) pairs.
    """
    use_512_bit_vectors()  # for the store loops here; the micro-kernel asks for itself
    groups, ck = taps.shape
    n_batch, c_out, h_out, w_out = y.shape
    c_out_per_group = c_out // groups
    span = h_out * wp  # padded positions of one image
    n_channel_tiles = (c_out_per_group + MR - 1) // MR
    weight_starts = np.empty((groups * n_channel_tiles, MR), dtype=np.uint64)
    for g in range(groups):
        for t in range(n_channel_tiles):
            for r in range(MR):
                channel = g * c_out_per_group + min(t * MR + r, c_out_per_group - 1)
                weight_starts[g * n_channel_tiles + t, r] = channel * ck
    weight_cols = np.arange(ck).astype(np.uint64)
    w_flat = w_rows.reshape(-1)
    y_flat = y.reshape(-1)
    plane = h_out * w_out
    n_position_tiles = (span + NR - 1) // NR
    n_segments = min(n_position_tiles, (ROW_TILE_TASKS + n_batch * groups - 1) // (n_batch * groups))
    per_segment = (n_position_tiles + n_segments - 1) // n_segments
    for task in prange(n_batch * groups * n_segments):
        n = task // (groups * n_segments)
        g = (task // n_segments) % groups
        segment = task % n_segments
        tile = new_tile(y)
        segment_end = min(span, (segment + 1) * per_segment * NR)
        # plane values this task produces end before index `owned_end` (p·W_out + q of its last position)
        owned_end = (segment_end - 1) // wp * w_out + min((segment_end - 1) % wp, w_out - 1) + 1
        for t0 in range(segment * per_segment * NR, segment_end, NR):
            for channel_tile in range(n_channel_tiles):
                _micro_kernel(w_flat, weight_starts[g * n_channel_tiles + channel_tile], weight_cols, x_flat, taps[g],
                              np.uint64(n * image_stride + t0), tile, False)
                # tile[r, j] is padded position t0 + j of channel g·Cog + MR·channel_tile + r: copy it out row by row,
                # with unsigned indices (no negative-index checks in the copy loop). A row is copied to the end of its
                # padded width, dropped columns included: they land on the next row(s) of the plane, whose own values
                # come from later positions of the same task and overwrite them. So the copies are whole rows (whole
                # vectors when Wp is 16 or 32) instead of W_out values and a scalar remainder; only the end of what
                # this task produces (the plane's end, or where the next task's positions start) is a hard stop.
                for r in range(min(MR, c_out_per_group - channel_tile * MR)):
                    channel = g * c_out_per_group + channel_tile * MR + r
                    shift = bias[channel] if use_bias else bias[0]  # bias is [0] then: same dtype, no float64 detour
                    out = np.uint64((n * c_out + channel) * plane)
                    for p in range(t0 // wp, min(h_out, (t0 + NR + wp - 1) // wp)):
                        q0 = max(0, t0 - p * wp)
                        q1 = min(wp, owned_end - p * w_out, t0 + NR - p * wp)
                        if q1 <= q0:  # the tile starts in the last row's dropped columns
                            continue
                        source = np.uint64(p * wp + q0 - t0)
                        target = out + np.uint64(p * w_out + q0)
                        for q in range(np.uint64(q1 - q0)):
                            y_flat[target + q] = tile[r, source + q] + shift


_correlate_rows_serial, _correlate_rows_parallel = serial_and_parallel(_correlate_rows_body, fastmath=True)


def _weight_grad_body(x_pad, grad_y_last, origins, taps, acc):
    """acc[chunk, g, t, panel, r, j] = Σ over the chunk's positions m of
           x_pad_flat[origins[m] + taps[g, t·MR + r]] · grad_y_last[m, g·Cog_pad + panel·NR + j]

    grad_w^T (taps × channels) of each chunk of positions: the forward's addresses with rows and columns
    swapped. grad_y_last (N·L, G·Cog_pad), origins (N·L,), taps (G, tap tiles·MR), acc (chunks, G, tap tiles,
    channel panels, MR, NR) zeroed. A chunk walks its positions in blocks of KC; within a block, a KC × NR
    panel of grad_y_last is reused by every tap tile.
    """
    n_chunks, groups, n_tap_tiles, n_panels = acc.shape[0], acc.shape[1], acc.shape[2], acc.shape[3]
    n_positions = grad_y_last.shape[0]
    row_width = grad_y_last.shape[1]
    cog_pad = row_width // groups
    grad_rows = np.arange(n_positions).astype(np.uint64) * np.uint64(row_width)
    x_flat = x_pad.reshape(-1)
    grad_flat = grad_y_last.reshape(-1)
    per_chunk = (n_positions + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        stop = min(n_positions, (chunk + 1) * per_chunk)
        for k0 in range(chunk * per_chunk, stop, KC):
            k1 = min(stop, k0 + KC)
            for g in range(groups):
                for panel in range(n_panels):
                    column = np.uint64(g * cog_pad + panel * NR)
                    for t in range(n_tap_tiles):
                        _micro_kernel(x_flat, taps[g, t * MR:(t + 1) * MR], origins[k0:k1], grad_flat,
                                      grad_rows[k0:k1], column, acc[chunk, g, t, panel], True)


_weight_grad_serial, _weight_grad_parallel = serial_and_parallel(_weight_grad_body, fastmath=True)


def _placed_range(size, target_size, step, offset):
    """(first, stop): the p in range(size) whose place p·step + offset lies in [0, target_size)."""
    first = max(0, (-offset + step - 1) // step)
    stop = min(size, max(0, (target_size - offset + step - 1) // step))
    return first, max(first, stop)


def _pad_planes_body(x, rows, cols, step_h, step_w, top, left, padded, plane_sums):
    """padded[n, c] = zeros with x[n, c, p, q] placed at (p·step_h + top, q·step_w + left) for p in rows, q in
    cols; and, when plane_sums has N rows, plane_sums[n, c] = Σ x[n, c] (conv2d's grad_b, from the values the
    copy has just brought into L1). One plane per task: it is zeroed and then copied into while it is in L1,
    with unsigned indices, so the zeroing and the row copies are vector loops."""
    n_batch, channels, hp, wp = padded.shape
    height, width = x.shape[2], x.shape[3]
    x_flat = x.reshape(-1)
    padded_flat = padded.reshape(-1)
    plane_size = np.uint64(hp * wp)
    n_cols = np.uint64(max(0, cols[1] - cols[0]))
    step = np.uint64(step_w)
    for plane in prange(n_batch * channels):
        target = np.uint64(plane) * plane_size
        source = np.uint64(plane * height * width)
        for i in range(plane_size):
            padded_flat[target + i] = 0
        for p in range(rows[0], rows[1]):
            row_target = target + np.uint64((p * step_h + top) * wp + cols[0] * step_w + left)
            row_source = source + np.uint64(p * width + cols[0])
            if step_w == 1:
                for q in range(n_cols):
                    padded_flat[row_target + q] = x_flat[row_source + q]
            else:
                for q in range(n_cols):
                    padded_flat[row_target + q * step] = x_flat[row_source + q]
        if plane_sums.shape[0] > 0:
            total = 0.0  # float64 for float32 x too: the sum of an image's plane adds many values
            for i in range(np.uint64(height * width)):
                total += x_flat[source + i]
            plane_sums[plane // channels, plane % channels] = total


_pad_planes_serial, _pad_planes_parallel = serial_and_parallel(_pad_planes_body, fastmath=True)


def _padded(x, shape, step, offset, parallel=False, plane_sums=None):
    """(flat, padded): `padded`, a view of `shape` on the 1-D `flat`, holds x[n, c, p, q] at
    [n, c, p·step_h + top, q·step_w + left] wherever that lies inside and zero elsewhere; (top, left) = offset
    may be negative (the entries that land outside are dropped). `flat` ends in NR + Wp zeros past the view,
    for the reads of `_correlate_rows_body` past the last image. Given plane_sums (N, C), it also gets the
    sums of x's planes (conv2d's grad_b), from the values the copy has just read. On all threads beside a
    parallel tile kernel (`parallel`) from PARALLEL_COPY_MIN_SIZE values, so the copy is no one-thread stretch
    between two parallel kernels; serially otherwise. The Numba loop measured 15-40% faster than NumPy's zeroed
    allocation and strided copy on one thread (grad_y of 64 channels at 14x14, batch 64: 0.53 against 0.62 ms;
    32 channels at 8x8: 0.08 against 0.13 ms; conv2d's backward at 16 -> 32 channels, 4x4, 15% faster)."""
    size = shape[0] * shape[1] * shape[2] * shape[3]
    p0, p1 = _placed_range(x.shape[2], shape[2], step[0], offset[0])
    q0, q1 = _placed_range(x.shape[3], shape[3], step[1], offset[1])
    flat = np.empty(size + NR + shape[3], dtype=x.dtype)
    flat[size:] = 0
    padded = flat[:size].reshape(shape)
    sums = np.empty((0, 0), dtype=x.dtype) if plane_sums is None else plane_sums
    kernel = _pad_planes_parallel if parallel and size >= PARALLEL_COPY_MIN_SIZE else _pad_planes_serial
    kernel(np.ascontiguousarray(x), np.array([p0, p1]), np.array([q0, q1]), step[0], step[1], offset[0],
           offset[1], padded, sums)
    return flat, padded


def _row_tile_width(width, h_out, stride):
    """The padded row width Wp to lay out: `width` (the image's padded width), or, for stride 1, the next power
    of two when it is at most NR and needs at most 1/16 more row tiles of NR positions per image. Then a row
    tile holds whole rows of 16 or 32 (e.g. 28 + 2 -> 32, at 28 instead of 27 tiles per image), and
    `_correlate_rows_body` stores each as whole vectors; the extra columns are zeros, computed and dropped."""
    if stride != (1, 1) or width > NR:
        return width
    aligned = 1 << (width - 1).bit_length()
    tiles = -(-h_out * width // NR)
    aligned_tiles = -(-h_out * aligned // NR)
    return aligned if aligned_tiles * 16 <= tiles * 17 else width


def _weight_panels(w, groups):
    """w (C_out, Cg, KH, KW) -> (G, CK, Cog_pad): [g, (c·KH + i)·KW + j, o] = w[g·Cog + o, c, i, j], 0 past Cog."""
    c_out_per_group = w.shape[0] // groups
    ck = w.shape[1] * w.shape[2] * w.shape[3]
    panels = _aligned_zeros((groups, ck, -(-c_out_per_group // NR) * NR), w.dtype)
    panels[:, :, :c_out_per_group] = w.reshape(groups, c_out_per_group, ck).transpose(0, 2, 1)
    return panels


def _channels_last(grad_y, groups):
    """grad_y (N, C_out, H_out, W_out) -> (N·L, G·Cog_pad): [n·L + l, g·Cog_pad + o] = grad_y[n, g·Cog + o, l],
    with zero columns up to Cog_pad (a multiple of NR), starting on a cache line (it is the micro-kernel's B).
    NumPy's transposing copy, which measured faster here than the loops written in Numba, even those on two
    threads beside one NumPy thread."""
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


def _correlate(padded, w, b, stride, dilation, groups, y):
    """y = b + the valid correlation of the padded input with w (C_out, Cg, KH, KW), strided; returns y.

    padded = (flat, view) from `_padded`. Row tiles when the stride is 1 and the positions they compute and drop
    (and the channels past a multiple of MR) waste less than the channel tiles' padding to NR channels and
    transposed store; channel tiles otherwise.
    """
    flat, x_pad = padded
    n_batch, c_out, h_out, w_out = y.shape
    c_in, hp, wp = x_pad.shape[1], x_pad.shape[2], x_pad.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    c_out_per_group = c_out // groups
    bias = b if b is not None else np.zeros(1, dtype=y.dtype)
    serial = y.size * w.shape[1] * kh * kw < SERIAL_MAX_WORK
    row_tiles_cost = (-(-h_out * wp // NR) * NR / (h_out * w_out)
                      * (-(-c_out_per_group // MR) * MR / c_out_per_group))
    channel_tiles_cost = (-(-c_out_per_group // NR) * NR / c_out_per_group
                          * (1 + CHANNEL_STORE_MACS / w[0].size) * CHANNEL_TILES_STORE_COST)
    if stride == (1, 1) and row_tiles_cost <= channel_tiles_cost:
        taps = _tap_offsets(groups, c_in // groups, kh, kw, hp, wp, dilation[0], dilation[1], w[0].size)
        kernel = _correlate_rows_serial if serial else _correlate_rows_parallel
        kernel(flat, taps, c_in * hp * wp, wp, w.reshape(c_out, -1), bias, b is not None, y)
    else:
        origins = _origins(n_batch, c_in, hp, wp, h_out, w_out, stride[0], stride[1], -(-y[:, 0].size // MR) * MR)
        taps = _tap_offsets(groups, c_in // groups, kh, kw, hp, wp, dilation[0], dilation[1], w[0].size)
        kernel = _correlate_channels_serial if serial else _correlate_channels_parallel
        kernel(x_pad, _weight_panels(w, groups), bias, b is not None, origins, taps, y)
    return y


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
    n_batch, c_in, height, width = x.shape
    y = np.empty((n_batch, w.shape[0], h_out, w_out), dtype=x.dtype)
    if y.size == 0:
        return y
    if _by_taps(w.shape, stride, h_out, w_out, y.size):
        bias = None if b is None else np.ascontiguousarray(b)
        return _correlate_by_taps(x, np.ascontiguousarray(w), bias, stride, padding, dilation, groups, y)
    row_width = _row_tile_width(width + 2 * padding[1], h_out, stride)
    parallel = y.size * w[0].size >= SERIAL_MAX_WORK  # the same test as `_correlate`'s
    padded = _padded(x, (n_batch, c_in, height + 2 * padding[0], row_width), (1, 1), padding, parallel)
    bias = None if b is None else np.ascontiguousarray(b)
    return _correlate(padded, np.ascontiguousarray(w), bias, stride, dilation, groups, y)


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
    # grad_b comes with the taps path's grad_w, or with grad_y's padded copy for grad_x, or from NumPy
    bias_from_padding = need_bias and need_input and not by_taps
    if by_taps:
        grad_w, bias_grad = _weight_grad_by_taps(x, w.shape, grad_y, stride, padding, dilation, groups)
        grad_b = bias_grad if need_bias else None
    elif need_bias and not bias_from_padding:
        grad_b = grad_y.reshape(n_batch, c_out, h_out * w_out).sum(axis=0).sum(axis=1)  # images first: vector adds
    if need_weight and not by_taps:
        serial = grad_y.size * c_per_group * kh * kw < SERIAL_MAX_WORK
        grad_y_last = _channels_last(grad_y, groups)  # (N·L, G·Cog_pad)
        _, x_pad = _padded(x, (n_batch, c_in, height + 2 * padding[0], width + 2 * padding[1]), (1, 1), padding,
                           not serial)
        n_tap_tiles = -(-c_per_group * kh * kw // MR)
        cog_pad = grad_y_last.shape[1] // groups
        n_chunks = 1 if serial else config.NUMBA_NUM_THREADS
        acc = np.zeros((n_chunks, groups, n_tap_tiles, cog_pad // NR, MR, NR), dtype=x.dtype)
        origins = _origins(n_batch, c_in, x_pad.shape[2], x_pad.shape[3], h_out, w_out, stride[0], stride[1],
                           grad_y_last.shape[0])
        taps = _tap_offsets(groups, c_per_group, kh, kw, x_pad.shape[2], x_pad.shape[3], dilation[0], dilation[1],
                            n_tap_tiles * MR)
        kernel = _weight_grad_serial if serial else _weight_grad_parallel
        kernel(x_pad, grad_y_last, origins, taps, acc)
        # (G, tap tiles, panels, MR, NR) -> (G, taps, channels) -> (C_out, Cg, KH, KW)
        grad_w_t = acc.sum(axis=0).transpose(0, 1, 3, 2, 4).reshape(groups, n_tap_tiles * MR, cog_pad)
        grad_w_t = grad_w_t[:, :c_per_group * kh * kw, :c_out_per_group]
        grad_w = np.ascontiguousarray(grad_w_t.transpose(0, 2, 1)).reshape(w.shape)
    if need_input:
        top = dilation[0] * (kh - 1) - padding[0]
        left = dilation[1] * (kw - 1) - padding[1]
        row_width = _row_tile_width(width + dilation[1] * (kw - 1), height, (1, 1))
        shape = (n_batch, c_out, height + dilation[0] * (kh - 1), row_width)
        parallel = n_batch * c_in * height * width * c_out_per_group * kh * kw >= SERIAL_MAX_WORK  # as `_correlate`
        plane_sums = np.empty((n_batch, c_out), dtype=grad_y.dtype) if bias_from_padding else None
        grad_y_padded = _padded(grad_y, shape, stride, (top, left), parallel, plane_sums)
        if bias_from_padding:
            grad_b = plane_sums.sum(axis=0)
        w_flipped = w.reshape(groups, c_out_per_group, c_per_group, kh, kw)[:, :, :, ::-1, ::-1]
        w_flipped = np.ascontiguousarray(w_flipped.transpose(0, 2, 1, 3, 4)).reshape(c_in, c_out_per_group, kh, kw)
        grad_x = np.empty((n_batch, c_in, height, width), dtype=x.dtype)
        if grad_x.size:
            _correlate(grad_y_padded, w_flipped, None, (1, 1), dilation, groups, grad_x)
    return grad_x, grad_w, grad_b
