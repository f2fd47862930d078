"""compstat: an engine for Compstat-style accountability meetings."""

__version__ = "0.1.0"
