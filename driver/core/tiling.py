"""Tiling a layer onto the engine's buffers (pure Python): output-channel slices whose
weights fit the weight buffer, row bands (with their halo) and column tiles whose input fits
the input buffer, and the bands of an elementwise ADD (no halo; each operand in half the
input buffer). :mod:`rtlcnn.core.schedule` builds its layer plans from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import stream as S
from .errors import LayerNotSupported

__all__ = ["Slice", "Band", "add_bands", "balanced", "partly_resident", "resident_slices"]


def _cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def balanced(n: int, size: int) -> list:
    """[i0, i1) of the ceil(n / size) parts of ``range(n)`` of balanced sizes (at most
    ``size`` each, the first ones one larger)."""
    k = _cdiv(n, size)
    base, extra = divmod(n, k) if k else (0, 0)
    out, i0 = [], 0
    for j in range(k):
        i1 = i0 + base + (1 if j < extra else 0)
        out.append((i0, i1))
        i0 = i1
    return out


@dataclass(frozen=True)
class Slice:
    """Output channels [oc0, oc1) of a layer, their weights at ``wbase``, params at ``pbase``."""

    oc0: int
    oc1: int
    wbase: int
    pbase: int
    words: int


@dataclass(frozen=True)
class Band:
    """Input rows [r0, r1) of the layer's input map producing output rows [o0, o1); for a
    map too wide for the input buffer, also a column tile: input columns [c0, c1) with their
    zero padding, producing output columns [x0, x1) (``c1`` None: all columns, the layer's
    own left/right padding)."""

    r0: int
    r1: int
    pad_top: int
    pad_bottom: int
    o0: int
    o1: int
    c0: int = 0
    c1: Optional[int] = None
    pad_left: int = 0
    pad_right: int = 0
    x0: int = 0
    x1: Optional[int] = None

    def cols(self, w: int) -> tuple:
        """(c0, c1) of the input columns, ``w`` the map's width."""
        return (0, w) if self.c1 is None else (self.c0, self.c1)

    def out_cols(self, w: int) -> tuple:
        """(x0, x1) of the output columns, ``w`` the output's width."""
        return (0, w) if self.x1 is None else (self.x0, self.x1)


def _tiles(h: int, w: int, c: int, k: int, s: int, p: int, pooled: bool, ibuf: int, p_ic: int,
           where: str, kw: Optional[int] = None, pw: Optional[int] = None) -> list:
    """Row bands of a conv (or pool, k=s=2 with ``pooled=False``) whose input fits IBUF; when
    even a band of the fewest rows of the whole width does not fit, column tiles first (each
    with its halo of ``kw - s`` columns and its own zero padding), then row bands of each.
    ``kw``/``pw``: the kernel width and left/right padding when not ``k``/``p`` (the K x 1
    kernels of the kx layout: 1 and 0)."""
    kw = k if kw is None else kw
    pw = p if pw is None else pw
    icg = _cdiv(c, p_ic)
    rows = k + (s if pooled else 0)  # the fewest input rows of a band
    if rows * w * icg <= ibuf:
        return _bands(h, w, c, k, s, p, pooled, ibuf, p_ic, where)
    sw = s if kw > 1 or k == kw else 1  # K x 1 kernels step one column
    conv_w = (w + 2 * pw - kw) // sw + 1
    used = conv_w // 2 * 2 if pooled else conv_w
    fit = ibuf // (rows * icg)  # input columns of a tile
    tw = (fit - kw) // sw + 1 if fit >= kw else 0
    step = 2 if pooled else 1
    tw -= tw % step
    if tw < step:
        raise LayerNotSupported(
            f"{where}: one tile ({rows} input rows of {kw} columns x {icg} channel groups) does not "
            f"fit the input buffer of {ibuf} words; use a build with a larger IBUF_DEPTH")
    n_tiles = _cdiv(used // step, tw // step)
    base, extra = divmod(used // step, n_tiles)
    out, u0 = [], 0
    for t in range(n_tiles):
        u1 = u0 + (base + (1 if t < extra else 0)) * step
        left, right = u0 * sw - pw, (u1 - 1) * sw + kw - pw
        c0, c1 = max(0, left), min(w, right)
        x0, x1 = (u0 // 2, u1 // 2) if pooled else (u0, u1)
        for b in _bands(h, c1 - c0, c, k, s, p, pooled, ibuf, p_ic, where):
            out.append(Band(b.r0, b.r1, b.pad_top, b.pad_bottom, b.o0, b.o1,
                            c0, c1, c0 - left, right - c1, x0, x1))
        u0 = u1
    return out


def _bands(h: int, w: int, c: int, k: int, s: int, p: int, pooled: bool, ibuf: int,
           p_ic: int, where: str) -> list:
    """Row bands of a conv (or pool, k=s=2 with ``pooled=False``) whose input fits IBUF."""
    icg = _cdiv(c, p_ic)
    conv_rows = (h + 2 * p - k) // s + 1
    used = conv_rows // 2 * 2 if pooled else conv_rows
    max_in_rows = ibuf // (w * icg) if w * icg else 0
    if max_in_rows < k + (s if pooled else 0):
        raise LayerNotSupported(
            f"{where}: one row band ({k + (s if pooled else 0)} input rows of {w} columns x "
            f"{icg} channel groups) does not fit the input buffer of {ibuf} words; "
            "use a build with a larger IBUF_DEPTH or a narrower input")
    n_max = (max_in_rows - k) // s + 1
    if pooled:
        n_max -= n_max % 2
    n_bands = _cdiv(used, n_max)
    step = 2 if pooled else 1
    base, extra = divmod(used // step, n_bands)
    bands, c0 = [], 0
    for i in range(n_bands):
        n = (base + (1 if i < extra else 0)) * step
        top = c0 * s - p
        bottom = (c0 + n - 1) * s + k - p
        r0, r1 = max(0, top), min(h, bottom)
        o0, o1 = (c0 // 2, (c0 + n) // 2) if pooled else (c0, c0 + n)
        bands.append(Band(r0, r1, r0 - top, bottom - r1, o0, o1))
        c0 += n
    return bands


def _slices(out_c: int, words_per_group: int, build: S.Build, wbase: int, pbase: int,
            wroom: int, proom: int, where: str) -> list:
    per = min(wroom // words_per_group if words_per_group else 10**9, proom // build.p_oc)
    if per < 1:
        raise LayerNotSupported(
            f"{where}: the weights of one group of {build.p_oc} output channels "
            f"({words_per_group} words) do not fit the weight buffer ({wroom} of "
            f"{build.wbuf_depth} words free) or its parameters the parameter buffer; use a "
            "build with a larger WBUF_DEPTH, or a smaller layer")
    ngroups = _cdiv(out_c, build.p_oc)
    per = min(per, ngroups)
    n_slices = _cdiv(ngroups, per)
    base, extra = divmod(ngroups, n_slices)
    out, g0 = [], 0
    for i in range(n_slices):
        g = base + (1 if i < extra else 0)
        oc0, oc1 = g0 * build.p_oc, min(out_c, (g0 + g) * build.p_oc)
        out.append(Slice(oc0, oc1, wbase, pbase, g * words_per_group))  # slices share a place
        g0 += g
    return out


def add_bands(c: int, h: int, w: int, build: S.Build, where: str) -> list:
    """Bands of an elementwise ADD of two (c, h, w) maps: each operand's band must fit half
    the input buffer (IBUF_DEPTH/2 words, check 8), so as many whole rows as fit, balanced;
    a row too wide for that is cut into column tiles (no halo, no padding)."""
    icg = _cdiv(c, build.p_ic)
    half = build.ibuf_depth // 2
    if icg > half:
        raise LayerNotSupported(f"{where}: one pixel of {icg} channel groups does not fit half the "
                                f"input buffer ({half} words); use a build with a larger IBUF_DEPTH")
    tiles = [(0, w)]
    rows = half // (w * icg)
    if rows < 1:  # column tiles of balanced widths, one row each
        n = _cdiv(w, half // icg)
        base, extra = divmod(w, n)
        tiles, x0 = [], 0
        for j in range(n):
            x1 = x0 + base + (1 if j < extra else 0)
            tiles.append((x0, x1))
            x0 = x1
        rows = 1
    n_bands = _cdiv(h, rows)
    base, extra = divmod(h, n_bands)
    out, r0 = [], 0
    for i in range(n_bands):
        r1 = r0 + base + (1 if i < extra else 0)
        for x0, x1 in tiles:
            if len(tiles) == 1:
                out.append(Band(r0, r1, 0, 0, r0, r1))
            else:
                out.append(Band(r0, r1, 0, 0, r0, r1, x0, x1, 0, 0, x0, x1))
        r0 = r1
    return out


def _slice_words(u) -> int:
    return sum(s.words for s in u.slices)


def partly_resident(ops, build, best, in_shapes, shapes):
    """The layer plans of ``ops`` where not all weights fit the buffers: the first k layers
    each at a place of their own (they stay on chip from batch to batch, and a segment of
    them chains), every later one in the room left, all at its start (reloaded each batch);
    k the most that leaves that room for the largest later layer. None if k would be 0 or
    a later layer does not fit. ``best(i, op, in_shape, out_shape, wbase, pbase, wroom,
    proom, made=...)`` plans one op (:func:`rtlcnn.core.schedule.plan`'s); parameters get
    room up to a multiple of P_IC."""
    W, P, q = build.wbuf_depth, build.pbuf_depth, build.p_ic
    alone = []
    try:
        for i, op in enumerate(ops):  # each layer planned alone: what it needs
            alone.append(best(i, op, in_shapes[i], shapes[i + 1], 0, 0, W, P, made=alone))
    except LayerNotSupported:
        return None
    units = [[u for u in lp.units() if u.has_weights] for lp in alone]
    own = [all(not u.rsplit and len(u.slices) == 1 for u in us) for us in units]
    w = [sum(_slice_words(u) for u in us) for us in units]
    p = [sum(_cdiv(u.slices[-1].oc1, q) * q for u in us) for us in units]
    need_w = [max([s.words for u in us for s in u.slices] or [0]) for us in units]  # (at one place)
    need_p = [max([_cdiv(s.oc1 - s.oc0, q) * q for u in us for s in u.slices] or [0]) for us in units]
    k = 0
    while k < len(ops) and own[k] and sum(w[:k + 1]) + max(need_w[k + 1:] or [0]) <= W \
            and sum(p[:k + 1]) + max(need_p[k + 1:] or [0]) <= P:
        k += 1
    if k == 0:
        return None
    layers, wbase, pbase = [], 0, 0
    for lp, us in zip(alone[:k], units[:k]):
        for u in us:
            sl = u.slices[0]
            u.slices = [Slice(sl.oc0, sl.oc1, wbase, pbase, sl.words)]
            wbase += sl.words
            pbase += _cdiv(sl.oc1, q) * q
        layers.append(lp)
    try:
        for i in range(k, len(ops)):
            layers.append(best(i, ops[i], in_shapes[i], shapes[i + 1], wbase, pbase, W - wbase, P - pbase,
                               made=layers))
    except LayerNotSupported:
        return None
    return layers


def resident_slices(layers) -> tuple:
    """(slices whose weights share the buffer with no other's, all slices) of layer plans:
    the first stay on chip from batch to batch."""
    spans = [(s.wbase, s.wbase + s.words) for lp in layers for u in lp.units() if u.has_weights
             for s in u.slices]
    alone = sum(all(a >= e or b <= s0 for s0, e in spans[:k] + spans[k + 1:])
                for k, (a, b) in enumerate(spans))
    return alone, len(spans)
