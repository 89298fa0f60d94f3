"""rtlcnn.cli: the ``rtlcnn`` command (``python -m rtlcnn``)."""

from .app import main

__all__ = ["main"]
