"""Backstop: an open-source crypto derivatives exchange on FTX's published design."""

__version__ = "0.1.0"
