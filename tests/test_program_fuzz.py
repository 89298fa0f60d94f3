"""Program.load on thousands of damaged files: only ProgramFormatError, never other numbers.

Each case starts from a good file (the shipped ``digits`` model, written before digests,
a small chain written with them, both format version 1, and a random graph program of
version 2) and damages it one way: truncation, byte flips anywhere or in the zip's
structure (local headers, central directory), members rewritten with other dtypes or
shapes, other versions, extra and missing members, header and op fields (version-2
fields included) set to values of every JSON type. Whatever the
bytes, loading either raises :class:`rtlcnn.ProgramFormatError` or gives exactly the
original program (a flip in a zip timestamp changes nothing).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from test_program import small_program

from rtlcnn import Op, Program, ProgramFormatError, models
from rtlcnn.core import random_programs as RP
from rtlcnn.core.ops import V2_DEFAULTS

CASES = 5000
#: what a damaged op field becomes: every JSON type, edge numbers, names of tensors
FIELD_VALUES = [None, "x", "", -1, 0, 1, 2, 3, 7, 200, -129, 2**70, 1e308, 0.5, True, False, [], {}, [1, 2],
                ["input"], ["input", "input"], ["mp"], ["sum", "input"], ["dw", "mp"], "add", "concat",
                "globalavgpool", "max", "avg"]


def _same(a: Program, b: Program) -> bool:
    if (tuple(a.input_shape), a.input_scale, a.name, a.meta) != (tuple(b.input_shape), b.input_scale,
                                                                  b.name, b.meta):
        return False
    if a.output_fn != b.output_fn:
        return False
    for x, y in zip(a.ops, b.ops):
        for f in ("kind", "name", "stride", "padding", "relu", "pool", "out_int32", "out_scale") + tuple(
                V2_DEFAULTS):
            if getattr(x, f) != getattr(y, f) and not (f == "inputs" and tuple(x.inputs) == tuple(y.inputs)):
                return False
        for f in ("weight", "bias", "mult", "shift", "acc_scale"):
            u, v = getattr(x, f), getattr(y, f)
            if (u is None) != (v is None):
                return False
            if u is not None and (u.dtype != v.dtype or not np.array_equal(u, v)):
                return False
    return len(a.ops) == len(b.ops)


def _arrays_same(a: Program, b: Program) -> bool:
    """Only the arrays (what the digests cover; a valid edit of the header can load)."""
    return len(a.ops) == len(b.ops) and all(
        (getattr(x, f) is None) == (getattr(y, f) is None)
        and (getattr(x, f) is None or np.array_equal(getattr(x, f), getattr(y, f)))
        for x, y in zip(a.ops, b.ops) for f in ("weight", "bias", "mult", "shift", "acc_scale"))


def _members(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename[:-4]: np.load(io.BytesIO(zf.read(i)), allow_pickle=False) for i in zf.infolist()}


def _npz(members: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **members)
    return buf.getvalue()


def _edit_members(rng, data: bytes) -> bytes:
    m = _members(data)
    arrays = [k for k in m if k not in ("format", "version", "header")]
    what = rng.integers(7)
    if what == 0:  # another dtype
        k = arrays[rng.integers(len(arrays))]
        m[k] = m[k].astype(rng.choice(["int8", "int16", "int32", "int64", "float32", "uint8", ">i4"]))
    elif what == 1:  # another shape
        k = arrays[rng.integers(len(arrays))]
        m[k] = m[k].reshape(-1)[: max(0, m[k].size - int(rng.integers(0, 3)))]
    elif what == 2:  # a version
        dtype = rng.choice(["int64", "int8", "uint16"])
        m["version"] = np.array(rng.choice([0, 1, 2, 3, -1, 2**40]), dtype=dtype)
    elif what == 3:  # an extra member
        m[rng.choice(["op9.weight", "extra", "op0.weights", "op1.bias"])] = np.zeros(3, np.int32)
    elif what == 4:  # a missing member
        del m[rng.choice(list(m))]
    elif what == 5:  # a header field
        h = json.loads(str(m["header"]))
        key = rng.choice(["input_shape", "input_scale", "ops", "name", "meta", "digests", "output_fn"])
        h[key] = [None, "x", -1, 1e308, [], {}, [1, 2], "softmax"][rng.integers(8)]
        m["header"] = np.array(json.dumps(h))
    else:  # a field of an op, version 1 or 2
        h = json.loads(str(m["header"]))
        op = h["ops"][rng.integers(len(h["ops"]))]
        key = rng.choice(["kind", "name", "stride", "padding", "relu", "pool", "out_int32", "out_scale"]
                         + list(V2_DEFAULTS) + ["extra"])
        op[key] = FIELD_VALUES[rng.integers(len(FIELD_VALUES))]
        m["header"] = np.array(json.dumps(h))
    return _npz(m)


def _damage(rng, data: bytes) -> tuple:
    """(damaged bytes, whether it is corruption); the member edits (a fifth of the cases)
    write a valid zip, which a file without digests cannot tell from a deliberate edit."""
    kind = rng.integers(5)
    if kind == 4:
        return _edit_members(rng, data), False
    return _corrupt(rng, data, kind), True


def _corrupt(rng, data: bytes, kind: int) -> bytes:
    b = bytearray(data)
    if kind == 0:  # truncation
        return bytes(b[: rng.integers(0, len(b))])
    if kind == 1:  # flips anywhere
        for _ in range(rng.integers(1, 9)):
            b[rng.integers(len(b))] ^= 1 << int(rng.integers(8))
        return bytes(b)
    if kind == 2:  # flips in the zip structure: the central directory at the end, a local header
        for _ in range(rng.integers(1, 4)):
            at = (len(b) - 1 - int(rng.integers(min(len(b), 400))) if rng.random() < 0.7
                  else int(rng.integers(64)))
            b[at] = int(rng.integers(256))
        return bytes(b)
    if kind == 3:  # a run of bytes overwritten
        at = int(rng.integers(len(b)))
        n = int(rng.integers(1, 64))
        b[at:at + n] = rng.integers(0, 256, min(n, len(b) - at), dtype=np.uint8).tobytes()
        return bytes(b)


def graph_program(rng) -> Program:
    """A small version-2 program with every version-2 field (few arrays: loads fast)."""
    ops = [RP.conv(rng, 3, 4, 3, padding=1, act_max=100, name="c0"),
           Op("maxpool", "mp", pool_kernel=3, pool_stride=2, pool_padding=1, ceil_mode=True),
           RP.conv(rng, 4, 4, 3, padding=1, groups=4, inputs=("mp",), name="dw"),
           RP.add(rng, "mp", "dw", "sum", relu=True, act_min=-5),
           Op("avgpool", "ap", pool_kernel=3, pool_stride=1, pool_padding=1, count_include_pad=False),
           Op("concat", "cat", inputs=("ap", "sum")), Op("globalavgpool", "gap"),
           RP.linear(rng, 8, 3, relu=False, out_int32=True, name="fc")]
    return Program((3, 9, 9), 1 / 64, ops, name="graph", output_fn="log_softmax").check()


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    small = d / "small.rtlcnn.npz"
    small_program(np.random.default_rng(0)).save(small)
    g = d / "graph.rtlcnn.npz"
    graph_program(np.random.default_rng(1)).save(g)
    out = []
    for path in (small, models.path("digits"), g):
        out.append((path.read_bytes(), Program.load(path)))
    return out


def test_thousands_of_damaged_files_raise_only_program_format_error(tmp_path, originals):
    rng = np.random.default_rng(2026)
    path = tmp_path / "f.rtlcnn.npz"
    raised = same = 0
    for case in range(CASES):
        data, prog = originals[case % len(originals)]
        bad, corrupt = _damage(rng, data)
        path.write_bytes(bad)
        try:
            got = Program.load(path)
        except ProgramFormatError as e:
            assert str(path) in str(e)
            raised += 1
            continue
        except Exception as e:  # noqa: BLE001 - the point of the test
            pytest.fail(f"case {case}: {type(e).__name__}: {e}")
        if corrupt or "digests" in json.loads(str(_members(data)["header"])):
            assert _same(got, prog) or not corrupt and _arrays_same(got, prog), \
                f"case {case}: a damaged file loaded with other numbers"
        same += 1
    assert raised + same == CASES and raised > CASES * 0.8, (raised, same)
