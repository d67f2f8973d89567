"""Cells of CSV / TSV exports."""
from __future__ import annotations

# a cell starting with one of these is a formula (or a hidden one) to spreadsheet programs
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """User text stays text in a spreadsheet: a string that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
