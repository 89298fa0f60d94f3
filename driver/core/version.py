"""The release of rtlcnn (one home: setup.py and the program files read it here)."""

__version__ = "0.2.0.dev0"
