"""Diming 地名: place names, divisions and boundaries for a county civil-affairs bureau."""

__version__ = "0.1.0"
