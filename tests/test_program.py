"""Program files: round trip, validation, and clear errors for bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from rtlcnn import FORMAT_VERSION, Op, Program, ProgramFormatError
from rtlcnn.core import reference as R
from rtlcnn.core.programfile import array_digest


def small_program(rng) -> Program:
    w1 = rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8)
    w2 = rng.integers(-127, 128, (3, 4 * 3 * 3)).astype(np.int8)

    def per_ch(o, lo, hi):
        return rng.integers(lo, hi, o).astype(np.int32)

    return Program(
        input_shape=(2, 7, 6),
        input_scale=0.02,
        ops=[
            Op("conv2d", "conv", w1, per_ch(4, -99, 99), per_ch(4, 2**30, 2**31 - 1), per_ch(4, 5, 9),
               stride=1, padding=1, relu=True, pool="avg", out_scale=0.1),
            Op("linear", "fc", w2, per_ch(3, -99, 99), per_ch(3, 2**30, 2**31 - 1), per_ch(3, 5, 9),
               out_int32=True, acc_scale=np.array([0.1, 0.2, 0.3], np.float32)),
        ],
        name="small",
        meta={"labels": ["a", "b", "c"], "accuracy": 0.5},
    )


def test_round_trip_keeps_every_field_and_result(tmp_path, rng):
    prog = small_program(rng)
    path = tmp_path / "small.rtlcnn.npz"
    prog.save(path)
    assert path.exists()  # the name is kept as given (np.savez would append .npz)
    back = Program.load(path)
    assert back.name == "small" and back.meta == prog.meta
    assert back.input_shape == prog.input_shape and back.input_scale == prog.input_scale
    for a, b in zip(prog.ops, back.ops):
        for f in ("kind", "name", "stride", "padding", "relu", "pool", "out_int32", "out_scale"):
            assert getattr(a, f) == getattr(b, f), f
        for f in ("weight", "bias", "mult", "shift", "acc_scale"):
            va, vb = getattr(a, f), getattr(b, f)
            assert (va is None) == (vb is None)
            if va is not None:
                assert va.dtype == vb.dtype
                np.testing.assert_array_equal(va, vb)
    x = rng.random((3, 2, 7, 6), dtype=np.float32)
    np.testing.assert_array_equal(R.run(prog, x), R.run(back, x))
    # the file is a plain npz: no pickled objects; a plain chain stays a version-1 file
    with np.load(path, allow_pickle=False) as z:
        assert int(z["version"]) == prog.format_version() == 1 < FORMAT_VERSION


def test_truncated_file_is_rejected(tmp_path, rng):
    path = tmp_path / "t.rtlcnn.npz"
    small_program(rng).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProgramFormatError, match="truncated or corrupted"):
        Program.load(path)


def test_garbage_file_is_rejected(tmp_path):
    path = tmp_path / "g.rtlcnn.npz"
    path.write_bytes(b"this is not a program" * 10)
    with pytest.raises(ProgramFormatError, match="not a readable rtlcnn program"):
        Program.load(path)


def rewrite(path, resign=True, **changes):
    """Change members of a program file; with ``resign`` the header's digests follow (so
    the semantic checks behind the digest check are reached)."""
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    data.update(changes)
    for k, v in list(data.items()):
        if v is None:
            del data[k]
    if resign:
        try:
            header = json.loads(str(data["header"]))
        except ValueError:
            header = None
        if isinstance(header, dict) and "digests" in header:
            header["digests"] = {k: array_digest(v) for k, v in data.items()
                                 if k not in ("format", "version", "header")}
            data["header"] = np.array(json.dumps(header))
    with open(path, "wb") as fh:
        np.savez(fh, **data)


def test_newer_format_version_is_rejected(tmp_path, rng):
    path = tmp_path / "v.rtlcnn.npz"
    small_program(rng).save(path)
    rewrite(path, version=np.array(FORMAT_VERSION + 1))
    with pytest.raises(ProgramFormatError, match="newer than this rtlcnn reads"):
        Program.load(path)


def test_other_npz_is_not_a_program(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ProgramFormatError, match="not an rtlcnn program"):
        Program.load(path)


def test_inconsistent_shape_is_rejected(tmp_path, rng):
    path = tmp_path / "s.rtlcnn.npz"
    small_program(rng).save(path)
    rewrite(path, **{"op1.weight": np.zeros((3, 35), np.int8)})
    with pytest.raises(ProgramFormatError, match="linear expects 35 input features"):
        Program.load(path)
    small_program(rng).save(path)
    rewrite(path, **{"op0.bias": np.zeros(5, np.int32)})
    with pytest.raises(ProgramFormatError, match=r"bias must have shape \(4,\)"):
        Program.load(path)


def test_damaged_header_is_rejected(tmp_path, rng):
    path = tmp_path / "h.rtlcnn.npz"
    small_program(rng).save(path)
    rewrite(path, header=np.array("{not json"))
    with pytest.raises(ProgramFormatError, match="header is damaged"):
        Program.load(path)
    small_program(rng).save(path)
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
    header["ops"][0]["kind"] = "deconv"
    rewrite(path, header=np.array(json.dumps(header)))
    with pytest.raises(ProgramFormatError, match="unknown kind 'deconv'"):
        Program.load(path)


def test_pickled_arrays_are_refused(tmp_path, rng):
    path = tmp_path / "p.rtlcnn.npz"
    small_program(rng).save(path)
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    data["op0.bias"] = np.array([object()] * 4, dtype=object)
    with open(path, "wb") as fh:
        np.savez(fh, **data)
    with pytest.raises(ProgramFormatError):
        Program.load(path)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Program.load(tmp_path / "nope.rtlcnn.npz")


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda p: setattr(p.ops[0], "weight", p.ops[0].weight.astype(np.int16)), "dtype must be int8"),
        (lambda p: p.ops[0].weight.__setitem__((0, 0, 0, 0), -128), r"\[-127, 127\]"),
        (lambda p: setattr(p.ops[0], "stride", 0), "stride 0 outside 1..65536"),
        (lambda p: setattr(p.ops[0], "padding", 3), "padding 3"),
        (lambda p: setattr(p.ops[0], "pool", "median"), "pool must be"),
        (lambda p: setattr(p.ops[0], "out_int32", True), "only the last op"),
        (lambda p: p.ops[0].shift.__setitem__(0, 40), "outside 1..62"),
        (lambda p: setattr(p.ops[1], "acc_scale", None), "need acc_scale"),
        (lambda p: setattr(p, "input_shape", (3, 7, 6)), "input channels"),
        (lambda p: p.ops[1].bias.__setitem__(0, 2**31 - 1), "overflows int32"),
    ],
)
def test_check_names_the_problem(rng, mutate, match):
    prog = small_program(rng)
    mutate(prog)
    with pytest.raises(ProgramFormatError, match=match):
        prog.check()


def test_shapes_macs_and_summary(rng):
    prog = small_program(rng)
    assert prog.shapes() == [(4, 3, 3), (3,)]
    # conv: 6x6 outputs kept by the 2x2 pool (7 -> 6 rows), 2*9 MACs per output channel
    assert prog.macs() == 6 * 6 * 4 * 2 * 9 + 3 * 36
    assert "fc" in prog.summary()


def test_zip_members_are_plain_npy(tmp_path, rng):
    path = tmp_path / "z.rtlcnn.npz"
    small_program(rng).save(path)
    names = zipfile.ZipFile(path).namelist()
    assert "header.npy" in names and "op0.weight.npy" in names


def test_non_finite_images_are_counted_and_located(rng):
    from rtlcnn.core.errors import InputError

    prog = small_program(rng)
    x = np.zeros((2, 2, 7, 6), np.float32)
    x[0, 0, 4, 5] = np.nan
    x[1, 1, 0, 0] = np.inf
    x[1, 1, 2, 3] = -np.inf
    want = r"^images contain 3 NaN or infinite values \(first at index \(0, 0, 4, 5\)\)$"
    with pytest.raises(InputError, match=want):
        prog.check_images(x)
    x[1] = 0
    with pytest.raises(InputError, match=r"^images contain 1 NaN or infinite value \(first"):
        prog.quantize_input(x)


def test_an_edited_array_without_its_digest_is_refused(tmp_path, rng):
    path = tmp_path / "d.rtlcnn.npz"
    prog = small_program(rng)
    prog.save(path)
    w = prog.ops[0].weight.copy()
    w.flat[0] = -w.flat[0] if w.flat[0] else 1
    rewrite(path, resign=False, **{"op0.weight": w})
    with pytest.raises(ProgramFormatError, match="'op0.weight' does not match its digest"):
        Program.load(path)


def test_extra_and_missing_members_are_named(tmp_path, rng):
    path = tmp_path / "m.rtlcnn.npz"
    small_program(rng).save(path)
    rewrite(path, resign=False, **{"op0.extra": np.zeros(2)})
    with pytest.raises(ProgramFormatError, match="unexpected member 'op0.extra'"):
        Program.load(path)
    small_program(rng).save(path)
    rewrite(path, resign=False, **{"op7.bias": np.zeros(2, np.int32)})
    with pytest.raises(ProgramFormatError, match=r"not in the header \['op7.bias'\]"):
        Program.load(path)
    small_program(rng).save(path)
    rewrite(path, resign=False, **{"op0.mult": None})
    with pytest.raises(ProgramFormatError, match=r"missing \['op0.mult'\]"):
        Program.load(path)


@pytest.mark.parametrize("version", [np.array(1.7), np.array(1.0), np.array([1]), np.array("1")])
def test_the_version_is_one_integer_compared_exactly(tmp_path, rng, version):
    path = tmp_path / "v.rtlcnn.npz"
    small_program(rng).save(path)
    rewrite(path, version=version)
    with pytest.raises(ProgramFormatError, match="format version must be one integer"):
        Program.load(path)


def test_a_file_from_a_newer_release_says_which_to_install(tmp_path, rng):
    path = tmp_path / "n.rtlcnn.npz"
    small_program(rng).save(path)
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
    header["writer"] = "rtlcnn 0.7.2"
    rewrite(path, version=np.array(FORMAT_VERSION + 3), header=np.array(json.dumps(header)))
    want = r"written by rtlcnn 0\.7\.2: install rtlcnn 0\.7\.2 or newer"
    with pytest.raises(ProgramFormatError, match=want):
        Program.load(path)


def test_files_written_before_digests_still_load(tmp_path, rng):
    """rtlcnn 0.1.0 wrote no digests (the shipped digits and lenet5_mnist files, as they
    were shipped): they load, their CRCs checked; the models written since carry digests."""
    from rtlcnn import models

    old = {"digits", "lenet5_mnist"}
    for name in models.available():
        with np.load(models.path(name), allow_pickle=False) as z:
            assert ("digests" in json.loads(str(z["header"]))) == (name not in old), name
        Program.load(models.path(name))
    assert old <= set(models.available())


def test_declared_sizes_are_checked_before_reading(tmp_path, rng):
    """A member whose .npy header claims a huge shape is refused without allocating it."""
    path = tmp_path / "big.rtlcnn.npz"
    small_program(rng).save(path)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    import io

    fake = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        fake, {"descr": "|i1", "fortran_order": False, "shape": (100000, 100000, 100000)})
    members["op0.weight.npy"] = fake.getvalue() + b"\x01" * 64
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    with pytest.raises(ProgramFormatError, match="op0.weight.npy.*declares shape"):
        Program.load(path)


def test_pixels_0_to_255_fed_to_a_0_to_1_program_warn_and_strict_refuses(rng):
    import warnings

    from rtlcnn import InputError, models
    from rtlcnn.core.errors import InputRangeWarning

    p = models.load("lenet5_mnist")  # written before input ranges: the input scale bounds it
    x = rng.integers(0, 256, (4, 1, 28, 28)).astype(np.float32)
    with pytest.warns(InputRangeWarning, match=r"integer pixel values up to 255.*8-bit pixels / 255"):
        R.run(p, x)
    with pytest.raises(InputError, match="integer pixel values"):
        R.run(p, x, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        R.run(p, x / 255)  # the right scaling: no word
        R.run(p, x[:0])


def test_values_that_saturate_or_leave_the_calibrated_range_warn(rng, tmp_path):
    from rtlcnn.core.errors import InputRangeWarning

    p = small_program(rng)  # input_scale 0.02: +-2.55 representable
    x = rng.normal(0, 3, (2, 2, 7, 6)).astype(np.float32)
    with pytest.warns(InputRangeWarning, match=r"beyond \+-2.55.*saturate"):
        p.quantize_input(x)
    p.input_range = (0.0, 0.5)
    path = tmp_path / "r.rtlcnn.npz"
    p.save(path)
    q = Program.load(path)
    assert q.input_range == (0.0, 0.5)
    with pytest.warns(InputRangeWarning, match=r"far outside the range \[0, 0.5\]"):
        q.quantize_input(np.full((1, 2, 7, 6), 1.3, np.float32))
    assert q.input_domain_problem(np.full((1, 2, 7, 6), 0.7, np.float32)) is None  # within one width


def test_input_normalization_is_applied_while_quantizing_and_kept_in_the_file(tmp_path, rng):
    from rtlcnn import ProgramFormatError as PFE

    p = small_program(rng)
    p.input_norm = ((0.1307, 0.2), (0.3081, 0.5))
    p.input_scale = 0.0222
    p.check()
    x = np.array([0.5, 0.0, 1.0], np.float32)
    img = np.broadcast_to(x[:, None, None, None].reshape(1, 3, 1, 1)[:, :1], (1, 2, 7, 6)).copy()
    img[0, 0, 0, 0] = 0.5
    q = p.quantize_input(img)
    assert q[0, 0, 0, 0] == 54  # docs/numerics.md's worked example
    want = np.clip(np.rint(((img.astype(np.float64) - np.array([0.1307, 0.2]).reshape(1, 2, 1, 1))
                            / np.array([0.3081, 0.5]).reshape(1, 2, 1, 1)) / 0.0222), -128, 127)
    assert np.array_equal(q, want.astype(np.int8))
    path = tmp_path / "n.rtlcnn.npz"
    p.save(path)
    assert Program.load(path).input_norm == p.input_norm
    assert np.array_equal(R.run(Program.load(path), img), R.run(p, img))
    p.input_norm = ((0.1, 0.2, 0.3), (1.0, 1.0, 1.0))  # 3 values for 2 channels
    with pytest.raises(PFE, match="input_norm needs 1 or 2"):
        p.check()
    p.input_norm = ((0.1,), (0.0,))
    with pytest.raises(PFE, match="stds finite and positive"):
        p.check()
