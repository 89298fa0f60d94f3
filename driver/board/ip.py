"""pynq binding of the rtlcnn overlay: the engine's driver class, the IP lookup, the PL clock.

The pieces :class:`rtlcnn.Accelerator` builds on; all names come from the overlay description
(:mod:`rtlcnn.board.overlay_spec`), the same file the block-design Tcl and the mock board read.

- :data:`RtlcnnIP` -- a ``pynq.DefaultIP`` subclass bound to the engine's VLNV
  ``xilinx.com:module_ref:rtlcnn_top:1.0``. It is created on first access (so importing
  this module needs no pynq); once created, overlays opened afterwards bind ``rtlcnn_0``
  to it, and :func:`find_ips` wraps the engine in it either way.
- :func:`find_ips` -- the engine and the DMA of an overlay, found by the description's names
  (``rtlcnn_0``, ``axi_dma_0``), with an error that lists the overlay's IP when one is missing
  and a check that the DMA is in simple mode with the description's stream width.
- :func:`dma_max_transfer_bytes` -- the largest transfer the overlay's DMA can make.
- :func:`pl_clock_mhz` -- the clock the engine runs at: measured by ``pynq.ps.Clocks`` on a
  board, else the overlay's .hwh, else the description.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

from ..core.errors import AcceleratorError
from . import overlay_spec

# RtlcnnIP is made on first access (module __getattr__), so importing this needs no pynq.
__all__ = ["RtlcnnIP", "find_ips", "dma_max_transfer_bytes", "pl_clock_mhz", "ip_class"]  # noqa: F822

log = logging.getLogger(__name__)

_IP_CLASS = None


def ip_class():
    """The ``pynq.DefaultIP`` subclass for the engine, created (and registered) on first call.

    Raises
    ------
    ImportError
        pynq is not installed (install it on the PC with ``pip install rtlcnn[sim]``; PYNQ
        images have it).
    """
    global _IP_CLASS
    if _IP_CLASS is None:
        try:
            from pynq import DefaultIP
        except ImportError as exc:
            raise ImportError(
                "rtlcnn.board.ip.RtlcnnIP needs pynq: it comes with PYNQ images; on a PC install "
                "it with `pip install rtlcnn[sim]`"
            ) from exc
        vlnv = overlay_spec.load().accel_vlnv

        class RtlcnnIP(DefaultIP):
            """The rtlcnn engine's AXI4-Lite registers (docs/register_map.md).

            ``read(offset)`` / ``write(offset, value)`` come from ``pynq.DefaultIP``;
            :attr:`hwh_parameters` are the Verilog parameters the overlay was built with.
            """

            bindto = [vlnv]

            def __init__(self, description):
                super().__init__(description)
                self.description = description

            @property
            def hwh_parameters(self) -> Dict[str, str]:
                """Build parameters recorded in the .hwh (P_OC, P_IC, ...), as strings."""
                return dict(self.description.get("parameters", {}))

        RtlcnnIP.__module__ = __name__
        RtlcnnIP.__qualname__ = "RtlcnnIP"
        _IP_CLASS = RtlcnnIP
    return _IP_CLASS


def __getattr__(name):
    if name == "RtlcnnIP":
        return ip_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _find_key(ip_dict: Dict[str, Any], name: str, vlnv: str, what: str) -> str:
    """The ip_dict key of ``name`` (top level or inside a hierarchy), else the one IP of
    type ``vlnv``; otherwise an AcceleratorError that lists what the overlay has."""
    if name in ip_dict:
        return name
    nested = [k for k in ip_dict if k.rsplit("/", 1)[-1] == name]
    if len(nested) == 1:
        return nested[0]
    typed = [k for k, v in ip_dict.items() if str(v.get("type", "")) == vlnv]
    if len(typed) == 1:
        log.warning("overlay has no IP named %r; using %r, the only %s", name, typed[0], vlnv)
        return typed[0]
    have = ", ".join(f"{k} ({v.get('type', '?')})" for k, v in sorted(ip_dict.items())) or "none"
    raise AcceleratorError(
        f"the overlay has no {what} named {name!r} ({vlnv}); it has: {have}. "
        f"Load an rtlcnn overlay (rtlcnn.bit with its rtlcnn.hwh beside it; docs/board.md)"
    )


def _driver(overlay, key: str):
    obj = overlay
    for part in key.split("/"):
        obj = getattr(obj, part)
    return obj


def _param(desc: Dict[str, Any], name: str) -> Optional[str]:
    params = desc.get("parameters", {}) or {}
    for k in (name, name.upper(), name.lower()):
        if k in params:
            return str(params[k])
    return None


def find_ips(overlay, spec: Optional[overlay_spec.OverlaySpec] = None) -> Tuple[Any, Any]:
    """The engine driver and the DMA driver of ``overlay`` (a ``pynq.Overlay`` or the mock's).

    Parameters
    ----------
    overlay
        Anything with pynq's ``ip_dict`` and attribute access to its IP drivers.
    spec
        The overlay description; default: the installed one.

    Returns
    -------
    (accel, dma)
        ``accel`` is an :data:`RtlcnnIP` (the bound driver, or one wrapped around the
        engine's description when the overlay bound it to ``DefaultIP``); ``dma`` is the
        overlay's ``pynq.lib.dma.DMA``.

    Raises
    ------
    AcceleratorError
        The overlay lacks the engine or the DMA (the message lists its IP), or the DMA is
        not in simple mode with the description's stream width.
    """
    spec = spec or overlay_spec.load()
    ip_dict = overlay.ip_dict
    akey = _find_key(ip_dict, spec.accel_name, spec.accel_vlnv, "rtlcnn engine")
    dkey = _find_key(ip_dict, spec.dma_name, spec.dma_vlnv, "AXI DMA")

    ddesc = ip_dict[dkey]
    sg = _param(ddesc, "c_include_sg")
    if sg is not None and int(sg) != 0:
        raise AcceleratorError(
            f"DMA {dkey} is built with scatter-gather (c_include_sg={sg}); rtlcnn drives it in "
            f"simple mode: rebuild the overlay from overlay/ (docs/board.md)"
        )
    for pname in ("c_m_axis_mm2s_tdata_width", "c_s_axis_s2mm_tdata_width"):
        width = _param(ddesc, pname)
        if width is not None and int(width) != spec.dma_stream_bits:
            raise AcceleratorError(
                f"DMA {dkey} has {pname}={width}, the engine streams {spec.dma_stream_bits} bits"
            )

    accel = _driver(overlay, akey)
    cls = None
    try:
        cls = ip_class()
    except ImportError:
        pass  # a stand-in overlay without pynq: use what it bound
    if cls is not None and not isinstance(accel, cls):
        accel = cls(ip_dict[akey])
    return accel, _driver(overlay, dkey)


def dma_max_transfer_bytes(overlay, spec: Optional[overlay_spec.OverlaySpec] = None) -> int:
    """Largest DMA transfer in bytes, whole 8-byte beats: from the overlay's length width
    (``c_sg_length_width`` in its .hwh), else the description's."""
    spec = spec or overlay_spec.load()
    key = _find_key(overlay.ip_dict, spec.dma_name, spec.dma_vlnv, "AXI DMA")
    width = _param(overlay.ip_dict[key], "c_sg_length_width")
    bits = int(width) if width is not None else spec.dma_length_bits
    beat = spec.dma_stream_bits // 8
    return ((1 << bits) - 1) // beat * beat


def pl_clock_mhz(overlay=None, board: Optional[str] = None) -> float:
    """The clock of the engine and the DMA (FCLK0 / pl_clk0) in MHz.

    In order of preference:

    1. ``pynq.ps.Clocks.fclk0_mhz``, the rate the PS clock registers are set to, on a
       Zynq board (or wherever the overlay's device reports a Zynq architecture, as a mock
       that stands in the clock registers does);
    2. the rate recorded in the overlay's .hwh (``overlay.clock_dict[0]``);
    3. the description's ``clk_mhz`` for ``board`` (default: ``$BOARD`` or Pynq-Z2).
    """
    try:
        import pynq.ps as ps
    except ImportError:
        ps = None
    if ps is not None:
        arch = getattr(getattr(overlay, "device", None), "arch", None)
        if ps.CPU_ARCH_IS_SUPPORTED or arch in (ps.ZYNQ_ARCH, ps.ZU_ARCH):
            try:
                mhz = float(ps.Clocks.fclk0_mhz)
                if mhz > 0:
                    return mhz
            except Exception as exc:  # no PS clock registers here: fall through
                log.debug("pynq.ps.Clocks.fclk0_mhz unavailable: %s", exc)
    clocks = getattr(overlay, "clock_dict", None) if overlay is not None else None
    try:
        clk0 = clocks[0] if clocks else None
    except (KeyError, IndexError, TypeError):
        clk0 = None
    if clk0 and clk0.get("enable", 1) and clk0.get("frequency"):
        return float(clk0["frequency"])
    return float(overlay_spec.load().board(board).clk_mhz)
