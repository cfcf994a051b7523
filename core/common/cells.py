"""Spreadsheet-safe text cells: the one rule for every CSV (or pasted table) a person may open.

A spreadsheet program runs a cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (formula injection). Such text cells get a leading single quote,
which spreadsheets show as "this is text". Cells that read as numbers (``-5``, ``+1.5e3``,
``-inf``) are values, not formulas, and stay as they are; so do numbers themselves, empty cells
and ``None``.

:func:`escape_cell` applies the rule to one Python value, :func:`escape_frame` to the text
columns of a pandas DataFrame and :func:`escape_array` to a pyarrow string array (the prediction
output's columns); all use :data:`FORMULA_RE` and :data:`NUMBER_RE`. The standalone ``predict.py``
of a deployment bundle cannot import ExoReg, so it carries a pandas version of the rule with these
two patterns written into it.
"""

from __future__ import annotations

import csv
import re
from typing import Any

#: What counts as a number (after trimming blanks): the feature parser's rule too. Arrow's own
#: string -> float64 cast accepts the same set.
NUMBER_RE = r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)$"
#: Text cells starting with one of these are run as formulas by spreadsheet programs.
FORMULA_RE = r"^[=+\-@\t\r]"

#: Options for every CSV written with Python's csv module or pandas. Rows end with CR LF (RFC 4180):
#: the csv module quotes a cell that holds any character of the line end, so with a bare "\n" a
#: cell holding a lone "\r" went out unquoted, and spreadsheets and csv readers ended the row there.
CSV_OPTIONS: dict = {"lineterminator": "\r\n", "quoting": csv.QUOTE_MINIMAL}

_FORMULA = re.compile(FORMULA_RE)
# ASCII case folding only, as Arrow's: under Unicode folding "-ınf" (dotless i) would pass as a number.
_NUMBER = re.compile(NUMBER_RE, re.IGNORECASE | re.ASCII)


def needs_escape(text: str) -> bool:
    """True when a spreadsheet would run ``text`` as a formula."""
    return bool(_FORMULA.match(text)) and _NUMBER.fullmatch(text) is None


def escape_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run; other values unchanged."""
    if isinstance(value, str) and needs_escape(value):
        return "'" + value
    return value


def escape_row(values) -> list[Any]:
    return [escape_cell(v) for v in values]


def escape_frame(frame):
    """A copy of a pandas DataFrame with :func:`escape_cell` applied to its text columns."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            out[column] = values.map(escape_cell).astype(values.dtype)
    return out


def escape_array(arr):
    """A pyarrow string array with :func:`escape_cell`'s rule applied; other arrays unchanged."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        return arr
    risky = pc.match_substring_regex(arr, FORMULA_RE)
    if not pc.any(risky).as_py():  # the common case: the number pattern is the costly one
        return arr
    numeric = pc.match_substring_regex(arr, NUMBER_RE, ignore_case=True)
    mask = pc.and_(risky, pc.invert(numeric)).fill_null(False)
    if not pc.any(mask).as_py():
        return arr
    return pc.if_else(mask, pc.binary_join_element_wise("'", arr, ""), arr)
