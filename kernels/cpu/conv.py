"""2-D convolution on the CPU in Numba as an implicit GEMM: the register-tiled micro-kernel of
kernels/cpu/gemm.py reads the windows of the input where they lie, so no im2col matrix is ever built.

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
        and is stored transposed, value by value (about a fifth of the tile's work at CK = 144).
    row tiles  (`_correlate_rows_body`, stride 1)   MR = 8 output channels × NR = 32 consecutive positions
        Count positions in the padded width (t = p·Wp + q); then 32 consecutive positions read 32
        consecutive values of x_pad for every tap: B = x_pad itself (b_rows = tap offsets), A = the weights
        as they lie (C_out, CK). A tile row is a piece of an output row, stored without transposing; the
        columns q >= W_out of each padded row are computed and dropped (Wp/W_out - 1 of the work).

`_correlate` takes whichever wastes less for the shape (row tiles on wide images, channel tiles on small ones
or strided convolutions). The backward reuses both:

    grad_x  = the correlation of grad_y, spread out by the stride and padded by dilation·(K - 1) - padding, with
              the flipped kernel whose channel axes are swapped, w'[c, o, i, j] = w[o, c, KH-1-i, KW-1-j]:
              grad_x[n, c, h, v] = Σ_{o,i,j} grad_y_pad[n, o, h + i·dh, v + j·dw] · w'[c, o, i, j]
              (every x element gathers from the outputs whose windows covered it; no col2im scatter-add)
    grad_w  = Σ over the N·L positions of windows(x_pad)^T @ grad_y^T: a tile of MR taps × NR channels, with
              the forward's addresses swapped (a_rows = tap offsets, a_cols = the positions' origins) and B =
              grad_y in channels-last layout (N·L, C_out)       `_weight_grad_body`, one accumulator per chunk
    grad_b  = Σ of grad_y over n, p, q

Why it is fast (measured on a 2-core AVX-512 Xeon, float32, batch 64, 3x3 kernels, one thread): the im2col +
GEMM it replaced wrote the im2col matrix (288 x 12544 values, 14 MB, for 32->64 channels at 14x14), packed it
again for the GEMM and, for grad_x, scattered a matrix of that size back with col2im; it ran 4-6x slower.
Here the extra memory traffic is one padded copy of x (or grad_y) and one transposed copy of grad_y, each the
size of the tensor, and the micro-kernel's loads of x come from L1/L2, because neighbouring positions share
most of their windows.
"""
import numpy as np
from numba import config, njit, prange

from kernels.cpu.gemm import MR, NR, _micro_kernel, use_512_bit_vectors, new_tile
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.conv import check_conv_grad_y, check_conv_inputs

# Multiply-adds (outputs × CK) below which the tile kernels run serially: a parallel launch costs a few µs on a
# quiet machine and milliseconds on a busy one, and every parallel variant a run uses adds seconds of compiling
# to its first start. The toy ConvNet's layers (at most 4.7M multiply-adds: 16->32 channels at 4x4, batch 64,
# ≈120 µs on one thread) stay serial.
SERIAL_MAX_WORK = 1 << 23
# 1 + the channel tiles' transposed store as a fraction of their multiply-adds (≈0.2 at CK = 144, counting the
# instructions per output value): `_correlate` weighs it against the row tiles' dropped columns.
CHANNEL_TILES_STORE_COST = 1.2
# Tasks of `_correlate_rows_body` at least (when there are positions enough): a task walks a run of position tiles
# and, for each, every channel tile, so the tile of the input that the channel tiles share is read from L1.
ROW_TILE_TASKS = 16
# Values of a padded copy from which it runs on all threads beside a parallel tile kernel (1 MiB of float32):
# smaller copies take tens of µs, about what another parallel launch costs on a busy machine.
PARALLEL_COPY_MIN_SIZE = 1 << 18
KC = 128  # positions per block of grad_w's reduction: a block of channels-last grad_y (KC × NR, 16 KiB) stays in L1


@njit(cache=True)
def _origins(n_batch, channels, hp, wp, h_out, w_out, sh, sw, count):
    """origins[m] = flat index in x_pad (N, channels, hp, wp) of the corner of output position m's window,
    m = (n·H_out + p)·W_out + q; entries past the last position repeat it (a tile's rows past the end)."""
    positions = h_out * w_out
    last = n_batch * positions - 1
    origins = np.empty(count, dtype=np.uint64)
    for m in range(count):
        index = min(m, last)
        n = index // positions
        p = (index % positions) // w_out
        q = index % w_out
        origins[m] = (n * channels * hp + p * sh) * wp + q * sw
    return origins


@njit(cache=True)
def _tap_offsets(groups, c_per_group, kh, kw, hp, wp, dh, dw, count):
    """taps[g, k] = flat offset in x_pad of tap k = (c·KH + i)·KW + j of group g from a window's corner;
    entries past CK repeat the last tap (a tile's rows past the end)."""
    ck = c_per_group * kh * kw
    taps = np.empty((groups, count), dtype=np.uint64)
    for g in range(groups):
        for k in range(count):
            tap = min(k, ck - 1)
            c = tap // (kh * kw)
            i = (tap // kw) % kh
            j = tap % kw
            taps[g, k] = ((g * c_per_group + c) * hp + i * dh) * wp + j * dw
    return taps


def _correlate_channels_body(x_pad, w_panels, bias, use_bias, sh, sw, dh, dw, kh, kw, y):
    """y[n, g·Cog + o, p, q] = bias + Σ_k x_pad_flat[origin(n, p, q) + tap(g, k)] · w_panels[g, k, o]

    x_pad (N, C, Hp, Wp) already padded, w_panels (G, CK, Cog_pad) with zero columns past Cog, y (N, C_out,
    H_out, W_out). One task = (panel of NR channels, group, tile of MR positions); tasks run panel by panel,
    so a panel of weights (CK × NR) stays in cache while the position tiles stream past it.
    """
    use_512_bit_vectors()  # for the store loops here; the micro-kernel asks for itself
    n_batch, channels, hp, wp = x_pad.shape
    groups, ck, cog_pad = w_panels.shape
    c_out, h_out, w_out = y.shape[1], y.shape[2], y.shape[3]
    c_out_per_group = c_out // groups
    positions = h_out * w_out
    n_positions = n_batch * positions
    n_tiles = (n_positions + MR - 1) // MR
    origins = _origins(n_batch, channels, hp, wp, h_out, w_out, sh, sw, n_tiles * MR)
    taps = _tap_offsets(groups, channels // groups, kh, kw, hp, wp, dh, dw, ck)
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
        # tile[r, j] belongs to channel g·Cog + o0 + j at position m0 + r: each row r goes to NR planes, one
        # value in each; unsigned indices (no negative-index checks in the store loop)
        first = g * c_out_per_group + o0
        for r in range(min(MR, n_positions - m0)):
            out = out_base[m0 + r] + np.uint64(first * positions)
            for j in range(np.uint64(min(NR, c_out_per_group - o0))):
                shift = bias[first + j] if use_bias else bias[0]  # bias is [0] then: same dtype, no float64 detour
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


def _weight_grad_body(x_pad, grad_y_last, kh, kw, sh, sw, dh, dw, h_out, w_out, acc):
    """acc[chunk, g, t, panel, r, j] = Σ over the chunk's positions m of
           x_pad_flat[origin(m) + tap(g, t·MR + r)] · grad_y_last[m, g·Cog_pad + panel·NR + j]

    grad_w^T (taps × channels) of each chunk of positions: the forward's addresses with rows and columns
    swapped. grad_y_last (N·L, G·Cog_pad), acc (chunks, G, tap tiles, channel panels, MR, NR) zeroed. A chunk
    walks its positions in blocks of KC; within a block, a KC × NR panel of grad_y_last is reused by every
    tap tile.
    """
    n_batch, channels, hp, wp = x_pad.shape
    n_chunks, groups, n_tap_tiles, n_panels = acc.shape[0], acc.shape[1], acc.shape[2], acc.shape[3]
    n_positions = grad_y_last.shape[0]
    row_width = grad_y_last.shape[1]
    cog_pad = row_width // groups
    origins = _origins(n_batch, channels, hp, wp, h_out, w_out, sh, sw, n_positions)
    taps = _tap_offsets(groups, channels // groups, kh, kw, hp, wp, dh, dw, n_tap_tiles * MR)
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


@njit(parallel=True, cache=True)
def _pad_planes_parallel(x, rows, cols, step_h, step_w, top, left, padded):
    """padded[n, c] = zeros with x[n, c, p, q] placed at (p·step_h + top, q·step_w + left) for p in rows, q in
    cols; one plane per task, so both threads zero and copy (the plane is small: it is written twice in cache)."""
    n_batch, channels = padded.shape[0], padded.shape[1]
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        padded[n, c] = 0
        for p in range(rows[0], rows[1]):
            if step_w == 1:  # a slice copy: whole vectors
                padded[n, c, p * step_h + top, cols[0] + left:cols[1] + left] = x[n, c, p, cols[0]:cols[1]]
            else:
                for q in range(cols[0], cols[1]):
                    padded[n, c, p * step_h + top, q * step_w + left] = x[n, c, p, q]


def _padded(x, shape, step, offset, parallel=False):
    """(flat, padded): `padded`, a view of `shape` on the 1-D `flat`, holds x[n, c, p, q] at
    [n, c, p·step_h + top, q·step_w + left] wherever that lies inside and zero elsewhere; (top, left) = offset
    may be negative (the entries that land outside are dropped). `flat` ends in NR + Wp zeros past the view,
    for the reads of `_correlate_rows_body` past the last image. Serially NumPy's zeroed allocation and strided
    copy: they measured faster than a Numba loop that zeroes each plane and copies its rows in (rows of 14
    values copy as scalars there), and there is no kernel to compile. Beside a parallel tile kernel
    (`parallel`) and from PARALLEL_COPY_MIN_SIZE values, a Numba loop on all threads instead, so the copy is no one-thread stretch between two parallel
    kernels (at batch 64 it measured 10-50% faster than NumPy's there)."""
    size = shape[0] * shape[1] * shape[2] * shape[3]
    p0, p1 = _placed_range(x.shape[2], shape[2], step[0], offset[0])
    q0, q1 = _placed_range(x.shape[3], shape[3], step[1], offset[1])
    if parallel and size >= PARALLEL_COPY_MIN_SIZE:
        flat = np.empty(size + NR + shape[3], dtype=x.dtype)
        flat[size:] = 0
        padded = flat[:size].reshape(shape)
        _pad_planes_parallel(np.ascontiguousarray(x), np.array([p0, p1]), np.array([q0, q1]), step[0], step[1],
                             offset[0], offset[1], padded)
        return flat, padded
    flat = np.zeros(size + NR + shape[3], dtype=x.dtype)
    padded = flat[:size].reshape(shape)
    if size and p1 > p0 and q1 > q0:
        rows = slice(p0 * step[0] + offset[0], (p1 - 1) * step[0] + offset[0] + 1, step[0])
        cols = slice(q0 * step[1] + offset[1], (q1 - 1) * step[1] + offset[1] + 1, step[1])
        padded[:, :, rows, cols] = x[:, :, p0:p1, q0:q1]
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
    panels = np.zeros((groups, ck, -(-c_out_per_group // NR) * NR), dtype=w.dtype)
    panels[:, :, :c_out_per_group] = w.reshape(groups, c_out_per_group, ck).transpose(0, 2, 1)
    return panels


def _channels_last(grad_y, groups):
    """grad_y (N, C_out, H_out, W_out) -> (N·L, G·Cog_pad): [n·L + l, g·Cog_pad + o] = grad_y[n, g·Cog + o, l],
    with zero columns up to Cog_pad (a multiple of NR). NumPy's transposing copy, which measured faster here
    than the loops written in Numba, even those on two threads beside one NumPy thread."""
    n_batch, c_out, h_out, w_out = grad_y.shape
    c_out_per_group = c_out // groups
    cog_pad = -(-c_out_per_group // NR) * NR
    rows = grad_y.reshape(n_batch, groups, c_out_per_group, h_out * w_out).transpose(0, 3, 1, 2)  # (N, L, G, Cog)
    if cog_pad == c_out_per_group:
        return np.ascontiguousarray(rows).reshape(n_batch * h_out * w_out, groups * cog_pad)
    padded = np.zeros((n_batch, h_out * w_out, groups, cog_pad), dtype=grad_y.dtype)
    padded[..., :c_out_per_group] = rows
    return padded.reshape(n_batch * h_out * w_out, groups * cog_pad)


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
    channel_tiles_cost = -(-c_out_per_group // NR) * NR / c_out_per_group * CHANNEL_TILES_STORE_COST
    if stride == (1, 1) and row_tiles_cost <= channel_tiles_cost:
        taps = _tap_offsets(groups, c_in // groups, kh, kw, hp, wp, dilation[0], dilation[1], w[0].size)
        kernel = _correlate_rows_serial if serial else _correlate_rows_parallel
        kernel(flat, taps, c_in * hp * wp, wp, w.reshape(c_out, -1), bias, b is not None, y)
    else:
        kernel = _correlate_channels_serial if serial else _correlate_channels_parallel
        kernel(x_pad, _weight_panels(w, groups), bias, b is not None, stride[0], stride[1], dilation[0],
               dilation[1], kh, kw, y)
    return y


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
    if need_bias:
        grad_b = grad_y.reshape(n_batch, c_out, h_out * w_out).sum(axis=0).sum(axis=1)  # images first: vector adds
    if need_weight:
        serial = grad_y.size * c_per_group * kh * kw < SERIAL_MAX_WORK
        grad_y_last = _channels_last(grad_y, groups)  # (N·L, G·Cog_pad)
        _, x_pad = _padded(x, (n_batch, c_in, height + 2 * padding[0], width + 2 * padding[1]), (1, 1), padding,
                           not serial)
        n_tap_tiles = -(-c_per_group * kh * kw // MR)
        cog_pad = grad_y_last.shape[1] // groups
        n_chunks = 1 if serial else config.NUMBA_NUM_THREADS
        acc = np.zeros((n_chunks, groups, n_tap_tiles, cog_pad // NR, MR, NR), dtype=x.dtype)
        kernel = _weight_grad_serial if serial else _weight_grad_parallel
        kernel(x_pad, grad_y_last, kh, kw, stride[0], stride[1], dilation[0], dilation[1], h_out, w_out, acc)
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
        grad_y_padded = _padded(grad_y, shape, stride, (top, left), parallel)
        w_flipped = w.reshape(groups, c_out_per_group, c_per_group, kh, kw)[:, :, :, ::-1, ::-1]
        w_flipped = np.ascontiguousarray(w_flipped.transpose(0, 2, 1, 3, 4)).reshape(c_in, c_out_per_group, kh, kw)
        grad_x = np.empty((n_batch, c_in, height, width), dtype=x.dtype)
        if grad_x.size:
            _correlate(grad_y_padded, w_flipped, None, (1, 1), dilation, groups, grad_x)
    return grad_x, grad_w, grad_b
