"""Table rows become records that carry their column names, one chunk per row."""

from __future__ import annotations

from ingest.chunking import Chunker, ChunkerConfig
from ingest.parsing import Element
from ingest.tables import table_records

HTML = """<table><thead><tr><th>item</th><th>price in euros</th><th>lead time in days</th></tr></thead>
<tbody><tr><td>Oat flour</td><td>41.50</td><td>3</td></tr><tr><td>Rye grain</td><td></td><td>10</td></tr></tbody></table>"""


def test_rows_carry_their_headers_and_empty_cells_are_left_out() -> None:
    assert table_records(HTML) == ["item: Oat flour; price in euros: 41.50; lead time in days: 3",
                                   "item: Rye grain; lead time in days: 10"]


def test_a_table_without_a_header_row_is_left_to_its_flat_text() -> None:
    assert table_records("<table><tr><td>1</td><td>2</td></tr><tr><td>3</td><td>4</td></tr></table>") == []
    assert table_records("not a table") == []


def test_every_row_is_a_chunk_under_the_table_title() -> None:
    chunker = Chunker(lambda text: len(text.split()), ChunkerConfig(max_tokens=60, overlap_tokens=8))
    elements = [Element("price list", "Title", None)] + [Element(r, "TableRow", None) for r in table_records(HTML)]
    chunks = chunker.chunk(elements)
    assert [c.text for c in chunks] == ["price list\nitem: Oat flour; price in euros: 41.50; lead time in days: 3",
                                        "price list\nitem: Rye grain; lead time in days: 10"]
