"""Table rows as records that carry their column names: "lead time in days: 10".

A flattened table row ("Oat flour 25 kg bag 41.50 10 bags 3") says nothing about which
number is the price or the lead time, so neither search nor the LLM can tell. Each row
becomes one line of `header: value` pairs; the chunker keeps every row a chunk of its own
under the table's title, so a large table stays searchable row by row.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html

_SPACE = re.compile(r"\s+")


def _cell_text(cell) -> str:
    return _SPACE.sub(" ", cell.text_content()).strip()


def table_rows(table_html: str) -> list[list[str]]:
    """The rows of an HTML table as lists of cell texts (empty rows dropped)."""
    try:
        root = lxml_html.fromstring(table_html)
    except Exception:  # lxml raises several types on broken markup; no table then
        return []
    rows = []
    for tr in root.iter("tr"):
        cells = [_cell_text(c) for c in tr if c.tag in ("td", "th")]
        if any(cells):
            rows.append(cells)
    return rows


def _has_header(rows: list[list[str]]) -> bool:
    # A header row names columns: no cell of it is a bare number, and it is not the only row.
    if len(rows) < 2:
        return False
    return all(cell and not re.fullmatch(r"[\d.,\s%€$£-]+", cell) for cell in rows[0])


def table_records(table_html: str) -> list[str]:
    """One `header: value; header: value` line per body row; [] when there is no header row
    (the caller keeps the table's flat text then)."""
    rows = table_rows(table_html)
    if not _has_header(rows):
        return []
    header = rows[0]
    records = []
    for row in rows[1:]:
        pairs = []
        for i, value in enumerate(row):
            if not value:
                continue
            name = header[i] if i < len(header) and header[i] else f"column {i + 1}"
            pairs.append(f"{name}: {value}")
        if pairs:
            records.append("; ".join(pairs))
    return records
