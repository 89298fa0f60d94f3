"""The engine's register map, its constants and its build parameters (pure Python).

One home for every engine constant the driver shares with the RTL:

- :data:`REGISTER_TABLE`: every register of the AXI4-Lite window (name, byte offset,
  access, one-line meaning). The ``REG_<NAME>`` offsets, :data:`REGISTERS` and
  :data:`ACCESS` are derived from it; ``tests/test_register_map.py`` checks
  ``hls_free_rtl/rtlcnn_axil_regs.v``'s read and write decode and the table of
  ``docs/register_map.md`` against it.
- ID and VERSION values, CTRL / STATUS / ERROR bits, the OP register's opcodes and
  flags, the CONFIG_ERR codes and their text.
- :class:`Build`: the build parameters an engine reports in its ID registers, and
  :data:`DEFAULT_BUILD`, the default build. Its values are written here once; the
  Verilog tops' parameter defaults, ``fusesoc.core``, the overlay description and the
  mock board cannot import Python, so ``tests/test_hdl_checks.py`` compares them with it.

``docs/register_map.md`` is the prose; this module is its executable form.

>>> hex(REG_CTRL), ACCESS["CTRL"], REGISTERS["RQ_LANES"]
('0x40', 'WO', 40)
>>> DEFAULT_BUILD.parameters()["RQ_LANES"]
2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

__all__ = [
    "RO", "RW", "WO", "Register", "REGISTER_TABLE", "REGISTERS", "ACCESS", "BUILD_REGISTERS",
    "ID_VALUE", "VERSION_MAJOR", "VERSION_MINOR", "VERSION_VALUE", "MAX_KERNEL", "STREAM_BYTES",
    "Build", "DEFAULT_BUILD", "config_error_text",
]  # and every REG_*, CTRL_*, STATUS_*, ERR_*, OPCODE_*, OP_*, POOL_*, ACT_* and CFG_* constant

# ---------------------------------------------------------------------------------------
# Register map (byte offsets in the AXI4-Lite window)
# ---------------------------------------------------------------------------------------
#: access kinds: read-only, read-write (reads give what was written), write-only (reads 0)
RO, RW, WO = "RO", "RW", "WO"


class Register(NamedTuple):
    name: str
    offset: int
    access: str
    meaning: str


#: every register, in address order (docs/register_map.md has the full text)
REGISTER_TABLE = (
    # identification and build parameters
    Register("ID", 0x000, RO, 'ASCII "RCNN": this is an rtlcnn engine'),
    Register("VERSION", 0x004, RO, "[31:16] major, [15:0] minor of the register map and stream format"),
    Register("P_OC", 0x008, RO, "output-channel lanes of the MAC array"),
    Register("P_IC", 0x00C, RO, "input-channel lanes of the MAC array (1, 2, 4 or 8)"),
    Register("WBUF_DEPTH", 0x010, RO, "weight buffer depth in words of P_OC x P_IC int8"),
    Register("IBUF_DEPTH", 0x014, RO, "input buffer depth in words of P_IC int8"),
    Register("PBUF_DEPTH", 0x018, RO, "parameter buffer entries (one per output channel)"),
    Register("CLK_MHZ", 0x01C, RO, "clock the build was made for (a hint)"),
    Register("MAX_KERNEL", 0x020, RO, "largest supported kernel size (7)"),
    Register("STREAM_BYTES", 0x024, RO, "bytes per AXI4-Stream beat (8)"),
    Register("RQ_LANES", 0x028, RO, "values per cycle through requant, pool and packer (1 or 2; 1.2)"),
    Register("FBUF_DEPTH", 0x02C, RO, "on-chip feature buffer depth in 64-bit beats (1.5)"),
    # control and status
    Register("CTRL", 0x040, WO, "bit0 START, bit1 SOFT_RESET, bit2 RUN_STREAM (1.5; self-clearing)"),
    Register("STATUS", 0x044, RO, "bit0 BUSY, bit1 DONE, bit2 ERROR, bit3 DRAINING, bit4 CMD (1.5)"),
    Register("ERROR", 0x048, RO, "sticky error bits of the last job: CONFIG, TLAST_EARLY, TLAST_MISSING"),
    Register("CONFIG_ERR", 0x04C, RO, "first failed configuration check (CFG_* code), 0 if none"),
    Register("JOB_INDEX", 0x050, RO, "the command stream's current job: running, failed or last (1.5)"),
    # job configuration (writes ignored while BUSY)
    Register("OP", 0x080, RW, "opcode, RELU, POOL, OUT_INT32, LOAD_PARAMS, LOAD_WEIGHTS, PAIR"),
    Register("IN_C", 0x084, RW, "input channels (LINEAR: input features)"),
    Register("IN_H", 0x088, RW, "input rows held in this job"),
    Register("IN_W", 0x08C, RW, "input columns"),
    Register("OUT_C", 0x090, RW, "output channels of this job"),
    Register("KERNEL", 0x094, RW, "[7:0] K rows, [15:8] KW columns (0: square)"),
    Register("STRIDE", 0x098, RW, "1 or 2"),
    Register("PAD", 0x09C, RW, "zero padding [3:0] top, [7:4] bottom, [11:8] left, [15:12] right"),
    Register("WBASE", 0x0A0, RW, "weight buffer word address of the job's first weight word"),
    Register("PBASE", 0x0A4, RW, "parameter buffer index of the job's output channel 0"),
    Register("ACT", 0x0A8, RW, "requant bounds [7:0] act_min, [15:8] act_max (int8; 1.3)"),
    Register("ADD_MULT", 0x0AC, RW, "ADD multipliers [15:0] Ma, [31:16] Mb (unsigned; 1.4)"),
    # derived from the configuration
    Register("OUT_H", 0x0B0, RO, "output rows (after pooling) of the configured job"),
    Register("OUT_W", 0x0B4, RO, "output columns (after pooling)"),
    Register("IN_BEATS", 0x0B8, RO, "input beats the configured job expects"),
    Register("OUT_BEATS", 0x0BC, RO, "output beats the configured job produces"),
    # counters of the last job
    Register("CYC_TOTAL", 0x0C0, RO, "clock cycles from START to the end of the job"),
    Register("CYC_MAC", 0x0C4, RO, "cycles the MAC array did a useful step"),
    Register("CYC_IN_STALL", 0x0C8, RO, "cycles the engine waited for an input beat"),
    Register("CYC_OUT_STALL", 0x0CC, RO, "cycles an output beat waited for m_axis_tready"),
)

#: name -> offset of every register, in address order
REGISTERS = {r.name: r.offset for r in REGISTER_TABLE}
#: name -> access (RO, RW or WO)
ACCESS = {r.name: r.access for r in REGISTER_TABLE}
for _r in REGISTER_TABLE:  # REG_ID, REG_VERSION, ... REG_CYC_OUT_STALL
    globals()["REG_" + _r.name] = _r.offset
    __all__.append("REG_" + _r.name)
del _r

#: the identification and build registers, ID .. FBUF_DEPTH (an engine before 1.2 reads 0 at
#: RQ_LANES, one before 1.5 at FBUF_DEPTH)
BUILD_REGISTERS = tuple(r.offset for r in REGISTER_TABLE if r.offset < REGISTERS["CTRL"])

ID_VALUE = 0x52434E4E  # ASCII "RCNN"
VERSION_MAJOR = 1
#: 1: KERNEL's KW field and OP.PAIR; 2: the RQ_LANES register; 3: the ACT register;
#: 4: the ADD opcode (OP's ADD_K field, the ADD_MULT register, check 13); 5: command
#: streams (CTRL.RUN_STREAM, STATUS.CMD, JOB_INDEX, CONFIG_ERR 14 and 15) and the on-chip
#: feature buffer (FBUF_DEPTH); 6: IN_TAPS command jobs (a map read from the feature buffer
#: as the taps of a kx or pair layout, CONFIG_ERR 16)
VERSION_MINOR = 6
VERSION_VALUE = (VERSION_MAJOR << 16) | VERSION_MINOR
MAX_KERNEL = 7
STREAM_BYTES = 8

# CTRL (write-only, self-clearing)
CTRL_START = 1 << 0
CTRL_SOFT_RESET = 1 << 1
#: version 1.5: run a command stream (each job's configuration in a header in the input stream)
CTRL_RUN_STREAM = 1 << 2

# STATUS
STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1
STATUS_ERROR = 1 << 2
STATUS_DRAINING = 1 << 3
#: version 1.5: the running (or last) job came from a command stream
STATUS_CMD = 1 << 4

# ERROR (sticky per job)
ERR_CONFIG = 1 << 0
ERR_TLAST_EARLY = 1 << 1
ERR_TLAST_MISSING = 1 << 2

# OP register fields
OPCODE_CONV = 0
OPCODE_LINEAR = 1
OPCODE_MAXPOOL = 2
OPCODE_AVGPOOL = 3
OPCODE_ADD = 4
OPCODE_MASK = 0x7
OP_RELU = 1 << 4
OP_POOL_SHIFT = 5
OP_POOL_MASK = 0x3 << OP_POOL_SHIFT
OP_OUT_INT32 = 1 << 7
OP_LOAD_PARAMS = 1 << 8
OP_LOAD_WEIGHTS = 1 << 9
OP_PAIR = 1 << 10
#: OP[21:16] (version 1.4): the ADD op's rounding shift k = 31 + shift, 1..62
OP_ADD_K_SHIFT = 16
OP_ADD_K_MASK = 0x3F << OP_ADD_K_SHIFT
KERNEL_W_SHIFT = 8
POOL_NONE = 0
POOL_MAX = 1
POOL_AVG = 2

# ACT register (version 1.3): the requant's saturation bounds, two int8 fields
ACT_MAX_SHIFT = 8
#: reset and SOFT_RESET value: act_min -128, act_max 127 (no bounds beyond int8 and RELU)
ACT_RESET = 0x7F80

# ADD_MULT register (version 1.4): the ADD op's two unsigned 16-bit multipliers
ADD_MULT_MB_SHIFT = 16
#: the engine's ADD multipliers are below this (unsigned 16 bit)
ADD_MULT_LIMIT = 1 << 16

OPCODE_NAMES = {
    OPCODE_CONV: "CONV",
    OPCODE_LINEAR: "LINEAR",
    OPCODE_MAXPOOL: "MAXPOOL",
    OPCODE_AVGPOOL: "AVGPOOL",
    OPCODE_ADD: "ADD",
}

# CONFIG_ERR codes (first failing check at START)
CFG_OK = 0
CFG_OPCODE = 1
CFG_ZERO_DIM = 2
CFG_CONV = 3
CFG_LINEAR = 4
CFG_POOL_OP = 5
CFG_POOL_MODE = 6
CFG_EMPTY_OUTPUT = 7
CFG_INPUT_FIT = 8
CFG_WEIGHT_FIT = 9
CFG_PARAM_FIT = 10
CFG_PAIR = 11
CFG_ACT = 12
CFG_ADD = 13
#: version 1.5: a command header without the magic word, or with reserved bits set; an END
#: beat that is not END
CFG_HEADER = 14
#: version 1.5: a command job's feature buffer use: a part past FBUF_DEPTH, B_FBUF without ADD,
#: or OUT_FBUF on the LAST job
CFG_FBUF = 15
#: version 1.6: an IN_TAPS command job the engine cannot build (see CFG_TAPS' text)
CFG_TAPS = 16

# Command streams (version 1.5): a header of CMD_HEADER_BEATS beats before each job's sections.
#: header word 0: ASCII "RCMD" (bytes R, C, M, D: the little-endian 32-bit value)
CMD_MAGIC = 0x444D4352
#: beats of a command header: {FLAGS, MAGIC}, six beats of the twelve job registers OP ..
#: ADD_MULT (two a beat, the lower address in the low half), {OUT_BASE, B_BASE, IN_BASE}
CMD_HEADER_BEATS = 8
#: header FLAGS (word 1) bit 0: the stream's last job (TLAST ends its output; END follows)
CMD_FLAG_LAST = 1 << 0
#: FLAGS bit 1: the I section's map (an ADD's operand a) is in the feature buffer at IN_BASE
CMD_FLAG_IN_FBUF = 1 << 1
#: FLAGS bit 2: an ADD's operand b is in the feature buffer at B_BASE
CMD_FLAG_B_FBUF = 1 << 2
#: FLAGS bit 3: the output goes into the feature buffer at OUT_BASE, not to m_axis
CMD_FLAG_OUT_FBUF = 1 << 3
#: FLAGS bit 4 (version 1.6): the I section is built from a map in the feature buffer at
#: IN_BASE (IN_FBUF set too): engine pixel (y, j) holds, as channel t*TAP_C + c, byte c of
#: source pixel (y, j*TAP_STEP - TAP_PAD + t), t < TAP_T; a source pixel is one beat, at
#: IN_BASE + y*SRC_W + x; columns outside 0 .. SRC_W-1 read as zero
CMD_FLAG_IN_TAPS = 1 << 4
#: FLAGS fields of IN_TAPS (zero without it): TAP_C [11:8] (1..8), TAP_T [15:12] (>= 1),
#: TAP_PAD [19:16], TAP_STEP2 bit 20 (TAP_STEP 2, else 1); SRC_W is header word 15 [31:16]
CMD_TAP_C_SHIFT = 8
CMD_TAP_T_SHIFT = 12
CMD_TAP_PAD_SHIFT = 16
CMD_TAP_STEP2 = 1 << 20
CMD_SRC_W_SHIFT = 16
#: the FLAGS bits a header may set (others: CONFIG_ERR 14)
CMD_FLAGS_MASK = 0x1FFF1F
#: the beat after the LAST job: ASCII "REND" in word 0, word 1 zero; the stream's only TLAST
CMD_END_MAGIC = 0x444E4552

_CONFIG_ERROR_TEXT = {
    CFG_OK: "configuration accepted",
    CFG_OPCODE: "OPCODE is not 0..4 (CONV, LINEAR, MAXPOOL, AVGPOOL, ADD)",
    CFG_ZERO_DIM: "IN_C, IN_H, IN_W and OUT_C must all be non-zero",
    CFG_CONV: "CONV needs 1 <= K <= 7, KW 0..7 (0: square), STRIDE 1 or 2, top/bottom pad < K "
              "and left/right pad < the kernel width",
    CFG_LINEAR: "LINEAR needs IN_H = IN_W = KERNEL = STRIDE = 1, PAD = 0 and POOL = 0",
    CFG_POOL_OP: "MAXPOOL/AVGPOOL need OUT_C = IN_C, OUT_INT32 = 0 and LOAD_* = 0",
    CFG_POOL_MODE: "POOL must be 0, 1 or 2; OUT_INT32 only without RELU and POOL",
    CFG_EMPTY_OUTPUT: "the output would be empty (conv output < 1x1, or < 2x2 before a 2x2 pool)",
    CFG_INPUT_FIT: "the input map does not fit: IN_H * IN_W * ceil(IN_C/P_IC) > IBUF_DEPTH "
                   "(ADD: each operand in IBUF_DEPTH/2)",
    CFG_WEIGHT_FIT: "the weights do not fit: WBASE + weight words > WBUF_DEPTH",
    CFG_PARAM_FIT: "the parameters do not fit: PBASE + OUT_C > PBUF_DEPTH",
    CFG_PAIR: "PAIR needs CONV with POOL = max, OUT_C <= P_OC/2 and int8 output",
    CFG_ACT: "ACT bounds are empty (max(act_min, 0 with RELU) > act_max), or set with OUT_INT32",
    CFG_ADD: "ADD needs OUT_C = IN_C, POOL = 0, OUT_INT32 = 0, PAIR = 0, LOAD_* = 0 and "
             "1 <= ADD_K <= 62",
    CFG_HEADER: "a command header does not start with the word RCMD or sets reserved bits, or the beat "
                "after the LAST job is not END",
    CFG_FBUF: "a command job's feature buffer part ends past FBUF_DEPTH, B_FBUF is set without ADD, "
              "or the LAST job has OUT_FBUF",
    CFG_TAPS: "IN_TAPS needs IN_FBUF, OPCODE CONV, P_IC = 8, 1 <= TAP_C <= 8, TAP_T >= 1, "
              "IN_C = TAP_T * TAP_C, SRC_W >= 1 and IN_BASE + IN_H * SRC_W <= FBUF_DEPTH",
}

for _n in [n for n in globals() if n.split("_", 1)[0] in ("CTRL", "STATUS", "ERR", "OPCODE", "OP",
                                                           "KERNEL", "POOL", "ACT", "ADD", "CFG", "CMD")]:
    __all__.append(_n)
del _n


def config_error_text(code: int) -> str:
    """Human-readable meaning of a CONFIG_ERR code."""
    return _CONFIG_ERROR_TEXT.get(int(code), f"unknown CONFIG_ERR code {code}")


# ---------------------------------------------------------------------------------------
# Build parameters
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Build:
    """Read-only build parameters of an engine (registers 0x008-0x028).

    The field defaults are the default build (:data:`DEFAULT_BUILD`): the parameter
    defaults of ``rtlcnn_top`` and fusesoc.core, and the Pynq-Z2 overlay's engine.
    """

    p_oc: int = 16
    p_ic: int = 8
    wbuf_depth: int = 2048
    ibuf_depth: int = 4096
    pbuf_depth: int = 1024
    clk_mhz: int = 100
    #: output values per cycle through requant, pool and output packer (at most P_OC)
    rq_lanes: int = 2
    #: on-chip feature buffer depth in 64-bit beats (engine 1.5; 0 before)
    fbuf_depth: int = 8192
    max_kernel: int = MAX_KERNEL
    stream_bytes: int = STREAM_BYTES
    #: VERSION[15:0] of the engine: 1 and later have KERNEL's KW field and OP.PAIR,
    #: 2 and later the RQ_LANES register, 3 and later the ACT register, 4 and later ADD
    version_minor: int = VERSION_MINOR

    @property
    def has_unfold_modes(self) -> bool:
        """The engine has the rectangular kernels and PAIR jobs of :mod:`rtlcnn.unfold`."""
        return self.version_minor >= 1

    @property
    def has_act_bounds(self) -> bool:
        """The engine has the ACT register: requant bounds other than ReLU's (ReLU6, Hardtanh)."""
        return self.version_minor >= 3

    @property
    def has_add(self) -> bool:
        """The engine has the ADD op (OPCODE 4, ADD_MULT): residual adds run on it."""
        return self.version_minor >= 4

    @property
    def has_command_streams(self) -> bool:
        """The engine runs command streams (CTRL.RUN_STREAM): a batch's jobs in one transfer."""
        return self.version_minor >= 5

    @property
    def has_taps(self) -> bool:
        """The engine builds a kx or pair layout from a map in its feature buffer (IN_TAPS
        command jobs, version 1.6, builds with P_IC = 8)."""
        return self.version_minor >= 6 and self.p_ic == 8

    @property
    def version(self) -> str:
        """The engine's register map version, e.g. "1.5"."""
        return f"{VERSION_MAJOR}.{self.version_minor}"

    @classmethod
    def from_registers(cls, read: Callable[[int], int]) -> Build:
        """Read the build registers with ``read(offset) -> int`` (e.g. ``MMIO.read``)."""
        minor = int(read(REGISTERS["VERSION"])) & 0xFFFF
        p_oc = int(read(REGISTERS["P_OC"]))
        if minor >= 2:
            rq_lanes = int(read(REGISTERS["RQ_LANES"]))
        else:
            # Engines before 1.2 do not report RQ_LANES. Every 1.x build made from this
            # repository's fusesoc.core and overlays used the default (2, at most P_OC);
            # it only changes cycle estimates, never a result.
            rq_lanes = min(DEFAULT_BUILD.rq_lanes, max(p_oc, 1))
        fbuf = int(read(REGISTERS["FBUF_DEPTH"])) if minor >= 5 else 0
        return cls(
            p_oc=p_oc,
            p_ic=int(read(REGISTERS["P_IC"])),
            wbuf_depth=int(read(REGISTERS["WBUF_DEPTH"])),
            ibuf_depth=int(read(REGISTERS["IBUF_DEPTH"])),
            pbuf_depth=int(read(REGISTERS["PBUF_DEPTH"])),
            clk_mhz=int(read(REGISTERS["CLK_MHZ"])),
            rq_lanes=rq_lanes,
            fbuf_depth=fbuf,
            max_kernel=int(read(REGISTERS["MAX_KERNEL"])),
            stream_bytes=int(read(REGISTERS["STREAM_BYTES"])),
            version_minor=minor,
        )

    def parameters(self) -> dict:
        """The Verilog parameters of ``rtlcnn_top`` for this build."""
        return {param: getattr(self, name) for name, param in _PARAMETER_FIELDS.items()}

    @classmethod
    def from_parameters(cls, params: dict) -> Build:
        """The build of ``rtlcnn_top`` with these Verilog parameters (missing ones: default)."""
        names = {v: k for k, v in _PARAMETER_FIELDS.items()}
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"not parameters of rtlcnn_top: {', '.join(unknown)}")
        return cls(**{names[k]: int(v) for k, v in params.items()})


#: Build field -> Verilog parameter of rtlcnn_top
_PARAMETER_FIELDS = {
    "p_oc": "P_OC", "p_ic": "P_IC", "wbuf_depth": "WBUF_DEPTH", "ibuf_depth": "IBUF_DEPTH",
    "pbuf_depth": "PBUF_DEPTH", "clk_mhz": "CLK_MHZ", "rq_lanes": "RQ_LANES",
    "fbuf_depth": "FBUF_DEPTH",
}

#: the default build, written once: rtlcnn_top's parameter defaults, fusesoc.core, the
#: Pynq-Z2 overlay, the synth report (tests/test_hdl_checks.py compares them)
DEFAULT_BUILD = Build()
