"""The program file format (``*.rtlcnn.npz``): written plainly, read as untrusted bytes.

A program file is a zip archive of ``.npy`` members, readable with numpy's
``np.load(path, allow_pickle=False)``:

- ``format``: the string ``"rtlcnn-program"``;
- ``version``: an integer, 1 or 2 (:data:`FORMAT_VERSION`, the newest);
- ``header``: a JSON string: input shape and scale, name, meta, every op's scalars, the
  release that wrote it (``writer``) and ``digests``: the SHA-256 of every array member
  (over its dtype, shape and bytes, :func:`array_digest`);
- ``op<i>.<field>``: the arrays of op ``i`` (weight, bias, mult, shift, acc_scale).

Version 1 (rtlcnn 0.1.0): a chain of conv2d (kernel 1..7, stride 1 or 2), linear and 2x2
maxpool/avgpool ops. The header holds ``input_shape``, ``input_scale``, ``name``,
``meta``, optionally ``input_range``, and per op ``kind``, ``name``, ``stride``,
``padding``, ``relu``, ``pool``, ``out_int32`` and ``out_scale``.

Version 2 (rtlcnn 0.2) adds graphs and new ops. Header: optionally ``output_fn``
(``"softmax"``/``"log_softmax"``) and ``input_norm`` (``{"mean": [...], "std": [...]}``);
per op, besides the version-1 fields, those of :data:`rtlcnn.core.ops.V2_DEFAULTS` that
differ from their default (``inputs``: a list of tensor names; ``groups``,
``pool_kernel``, ``pool_stride``, ``pool_padding``, ``act_min``, ``act_max``: integers;
``ceil_mode``, ``count_include_pad``: booleans); a field left out has its default, an
unknown op field is refused. The kinds ``globalavgpool``, ``add`` (arrays ``mult`` (2,),
``shift`` (1,)) and ``concat`` are version 2, as are kernels above 7 and strides above 2.
:meth:`rtlcnn.Program.save` writes the lowest version that holds the program
(:meth:`rtlcnn.Program.format_version`), so a plain chain stays a version-1 file that
rtlcnn 0.1.0 reads; a version-1 file with a version-2 field is refused. (Files of the
0.2 development line before version 2 may hold ``input_norm`` in version 1; they load.)

:func:`read` checks everything before a number is used: only plain ``.npy`` members
(no pickles, no object dtypes, no duplicates, no unknown names), each member's declared
shape against its stored size (so a damaged header cannot make it allocate gigabytes), the
zip CRC of every member (read to its end), the format tag, the version compared exactly,
and every array against its digest. Files written before digests existed (rtlcnn 0.1.0)
are covered by the CRCs. Any problem, whatever the bytes, is one
:class:`~rtlcnn.core.errors.ProgramFormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile

import numpy as np

from .errors import ProgramFormatError
from .version import __version__

__all__ = ["FORMAT_VERSION", "FORMAT_TAG", "READS", "array_digest", "write", "read"]

#: Version of the program file format this rtlcnn writes.
FORMAT_VERSION = 2
#: The versions this rtlcnn reads (compared exactly).
READS = (1, 2)
FORMAT_TAG = "rtlcnn-program"
#: Largest uncompressed archive read (the biggest program the engine could run is far smaller).
MAX_BYTES = 1 << 30
_RESERVED = ("format", "version", "header")
_ARRAY_KEY = re.compile(r"op(0|[1-9][0-9]*)\.(weight|bias|mult|shift|acc_scale)")


def array_digest(a: np.ndarray) -> str:
    """SHA-256 over an array's dtype, shape and C-order bytes (hex)."""
    a = np.asarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{tuple(a.shape)}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def write(path, header: dict, arrays: dict, version: int = FORMAT_VERSION) -> None:
    """Write ``header`` (JSON-able) and ``arrays`` (name -> ndarray) as a program file of
    format ``version`` (one of :data:`READS`; the header must be of that version)."""
    if version not in READS:
        raise ValueError(f"format version {version!r} is not one of {READS}")
    header = dict(header, writer=f"rtlcnn {__version__}",
                  digests={k: array_digest(v) for k, v in sorted(arrays.items())})
    path = os.fspath(path)
    with open(path, "wb") as fh:  # np.savez would append ".npz" to other names
        np.savez_compressed(
            fh,
            format=np.array(FORMAT_TAG),
            version=np.array(version, dtype=np.int64),
            header=np.array(json.dumps(header, default=_json_default)),
            **arrays,
        )


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"meta value {obj!r} is not JSON serializable")


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member, its declared size checked before reading, its CRC after."""
    with zf.open(info) as f:
        major, minor = np.lib.format.read_magic(f)
        if (major, minor) == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif (major, minor) == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {major}.{minor} is not read")
        if dtype.hasobject or dtype.fields is not None or dtype.itemsize == 0:
            raise ValueError(f"dtype {dtype} is not a plain numeric or string dtype")
        count = 1
        for n in shape:
            count *= int(n)
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - f.tell():
            raise ValueError(f"declares shape {tuple(shape)} of {dtype} ({nbytes} bytes) but holds "
                             f"{info.file_size - f.tell()} bytes")
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):  # reading to the end checks the member's CRC
            raise ValueError("member is shorter or longer than its header says")
    a = np.frombuffer(data, dtype=dtype)
    return a.reshape(shape, order="F" if fortran else "C").copy()


def _members(path: str) -> dict:
    try:
        zf = zipfile.ZipFile(path)
    except Exception as e:  # BadZipFile, OSError, ValueError, ... for bytes that are no zip
        raise ProgramFormatError(f"{path}: not a readable rtlcnn program file "
                                 f"(not a zip archive: truncated or corrupted?): {e}") from e
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise ProgramFormatError(f"{path}: not a readable rtlcnn program file "
                                     "(corrupted: a member appears twice)")
        total = sum(max(0, i.file_size) for i in infos)
        if total > MAX_BYTES:
            raise ProgramFormatError(f"{path}: declares {total:,} bytes of arrays, more than any "
                                     f"program ({MAX_BYTES:,}); the file is corrupted")
        out = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ProgramFormatError(f"{path}: unexpected member {info.filename!r} (not a .npy array)")
            key = info.filename[:-4]
            try:
                out[key] = _member(zf, info)
            except Exception as e:  # zlib.error, BadZipFile (CRC), EOFError, ValueError, ...
                raise ProgramFormatError(f"{path}: not a readable rtlcnn program file (member "
                                         f"{info.filename!r} truncated or corrupted: {e})") from e
    return out


def _text(a: np.ndarray, what: str, path: str) -> str:
    if a.shape != () or a.dtype.kind != "U":
        raise ProgramFormatError(f"{path}: member {what!r} must be a string, got {a.dtype} {a.shape}")
    return str(a)


def _newer(header_text: str) -> str:
    """The release that wrote a newer file, from its header if it can be read."""
    try:
        writer = json.loads(header_text).get("writer", "")
    except Exception:
        return "a newer rtlcnn"
    m = re.fullmatch(r"rtlcnn ([0-9][0-9A-Za-z.+-]*)", str(writer))
    return f"rtlcnn {m.group(1)}" if m else "a newer rtlcnn"


def read(path, with_version: bool = False) -> tuple:
    """``(header dict, arrays dict)`` of a checked program file (with ``with_version``:
    ``(header, arrays, version)``); ProgramFormatError else."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"program file {path!r} does not exist")
    data = _members(path)
    if "format" not in data or data["format"].shape != () or data["format"].dtype.kind != "U" \
            or str(data["format"]) != FORMAT_TAG:
        raise ProgramFormatError(f"{path}: not an rtlcnn program file (no '{FORMAT_TAG}' tag)")
    if "version" not in data:
        raise ProgramFormatError(f"{path}: program file has no format version")
    v = data["version"]
    if v.shape != () or v.dtype.kind not in "iu":
        raise ProgramFormatError(f"{path}: the format version must be one integer, got {v.dtype} "
                                 f"{v.tolist()!r}")
    version = int(v)
    header_text = _text(data["header"], "header", path) if "header" in data else ""
    if version not in READS:
        if version > FORMAT_VERSION:
            who = _newer(header_text)
            need = f"install {who} or newer" if who != "a newer rtlcnn" else "upgrade rtlcnn"
            raise ProgramFormatError(
                f"{path}: program file format version {version} is newer than this rtlcnn reads "
                f"(rtlcnn {__version__} reads {', '.join(map(str, READS))}); it was written by {who}: "
                f"{need} (pip install -U rtlcnn), or recompile the model with this version")
        raise ProgramFormatError(f"{path}: invalid program file format version {version} "
                                 f"(this rtlcnn reads {', '.join(map(str, READS))})")
    if "header" not in data:
        raise ProgramFormatError(f"{path}: program file header is damaged: no header member")
    try:
        header = json.loads(header_text)
    except ValueError as e:
        raise ProgramFormatError(f"{path}: program file header is damaged: {e!r}") from e
    if not isinstance(header, dict):
        raise ProgramFormatError(f"{path}: program file header is damaged: not a JSON object")
    arrays = {k: a for k, a in data.items() if k not in _RESERVED}
    for k in arrays:
        if not _ARRAY_KEY.fullmatch(k):
            raise ProgramFormatError(f"{path}: unexpected member {k!r}")
    digests = header.get("digests")
    if digests is not None:  # files of rtlcnn 0.1.0 have none: their CRCs were checked above
        if not isinstance(digests, dict):
            raise ProgramFormatError(f"{path}: program file header is damaged: digests is not a table")
        if set(digests) != set(arrays):
            missing, extra = sorted(set(digests) - set(arrays)), sorted(set(arrays) - set(digests))
            raise ProgramFormatError(f"{path}: the arrays do not match the header "
                                     f"(missing {missing}, not in the header {extra})")
        for k, a in arrays.items():
            if digests[k] != array_digest(a):
                raise ProgramFormatError(f"{path}: array {k!r} does not match its digest: "
                                         "the file is corrupted")
    return (header, arrays, version) if with_version else (header, arrays)
