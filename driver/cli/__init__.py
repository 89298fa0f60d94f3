"""rtlcnn.cli: the ``rtlcnn`` command (``python -m rtlcnn``).

- :mod:`.dispatch`: the parser, :func:`main` and how errors become ``rtlcnn: error: ...``;
- one module per command: :mod:`.demo`, :mod:`.compile`, :mod:`.run`, :mod:`.info`, :mod:`.bench`;
- :mod:`.images` (PNG/NPY image files), :mod:`.plots` (prediction grid, profile chart),
  :mod:`.common` (:class:`CliError`, printing, the progress bar, a command's board session).

The board session itself (find the bitstream, open a board, read the engine's build) is
:mod:`rtlcnn.board.session` and :func:`rtlcnn.mock.session.open_board`; the names rtlcnn 0.1
had here (``rtlcnn.cli.open_board``, ``find_bitfile``, ``read_images``, ...) still work, with a
DeprecationWarning naming their home now.
"""

from __future__ import annotations

import importlib
import warnings

from .common import CliError
from .dispatch import build_parser, main

__all__ = ["main", "build_parser", "CliError"]

#: rtlcnn 0.1's names in rtlcnn.cli -> (their home now, the name there, a note)
_MOVED = {
    "open_board": ("rtlcnn.mock.session", "open_board", " (progress= replaces quiet= and file=)"),
    "find_bitfile": ("rtlcnn.board.session", "find_bitfile", ""),
    "on_board": ("rtlcnn.board.session", "on_board", ""),
    "engine_build": ("rtlcnn.board.session", "engine_build", ""),
    "Board": ("rtlcnn.board.session", "Board", ""),
    "read_images": ("rtlcnn.board.images", "read_images", ""),
    "IMAGE_FORMATS_HELP": ("rtlcnn.board.images", "IMAGE_FORMATS_HELP", ""),
    "prediction_titles": ("rtlcnn.cli.plots", "prediction_titles", ""),
    "save_prediction_grid": ("rtlcnn.cli.plots", "save_prediction_grid", ""),
    "save_profile_chart": ("rtlcnn.cli.plots", "save_profile_chart", ""),
    "add_profiles": ("rtlcnn.cli.common", "add_profiles", ""),
}


def __getattr__(name):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home, attr, note = _MOVED[name]
    warnings.warn(f"rtlcnn.cli.{name} moved to {home}.{attr}{note}; import it from there",
                  DeprecationWarning, stacklevel=2)
    if name == "open_board":  # rtlcnn 0.1's signature: quiet=, file= for the progress messages
        return importlib.import_module(".common", __name__).open_session
    return getattr(importlib.import_module(home), attr)
