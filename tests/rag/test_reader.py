"""The reader's pieces that need no model: answer-bearing units, the value check, extracts."""

from __future__ import annotations

from datetime import datetime, timezone

from rag.answer.reader import Reader, Reading, join_units, units
from rag.types import Chunk, Document, ScoredChunk


def _hit(text: str, section: str | None = None) -> ScoredChunk:
    doc = Document("doc_1", "c", "a.md", "upload", "h", 1, datetime.now(timezone.utc), 1, "text/markdown", {}, 1)
    return ScoredChunk(Chunk(1, "doc_1", text, 0, None, section), doc, 0.9, 0.9)


def _reading(text: str, bearing: str) -> Reading:
    return Reading(_hit(text), bearing, bearing, 0.9)


def test_units_split_sentences_lines_and_table_fields() -> None:
    text = ("prices\nitem: oat flour; unit: 25 kg bag; price in euros: 41.50; lead time in days: 10\n"
            "Orders go to Ada. Invoices go to Ben.")
    got = units(text)
    scored = [u.scored for u in got]
    assert "item: oat flour; lead time in days: 10" in scored and "item: oat flour; price in euros: 41.50" in scored
    assert "Orders go to Ada." in scored and "Invoices go to Ben." in scored
    fields = [u for u in got if u.row == "item: oat flour"]
    # Chosen fields of one row are shown after the row's name once, in document order.
    assert join_units([fields[1], fields[3]] + [got[-1]]) == \
        "item: oat flour; unit: 25 kg bag; lead time in days: 10 Invoices go to Ben."


def test_an_answer_that_stops_before_the_value_fails_the_check() -> None:
    row = "item: oat flour; lead time in days: 10"
    reading = _reading("prices\nitem: oat flour; unit: 25 kg bag; lead time in days: 10", row)
    question = "What is the lead time for oat flour?"
    assert not Reader.carries_value("Oat flour [1].", question, reading)
    assert not Reader.carries_value("I could not find the answer in the documents.", question, reading)
    assert Reader.carries_value("The lead time for oat flour is 10 days [1].", question, reading)


def test_an_invented_number_fails_the_check() -> None:
    sentence = "Use of a private car is reimbursed at 0.32 euros per kilometre."
    reading = _reading(sentence, sentence)
    question = "How much do I get per km for my own car?"
    assert not Reader.carries_value("1.00 euros per kilometre [1].", question, reading)
    assert Reader.carries_value("0.32 euros per kilometre [1].", question, reading)


def test_a_value_like_token_must_come_through() -> None:
    sentence = "The Alderwick workshop at 4 Mill Lane keeps the door code 5-K-19."
    reading = _reading(sentence, sentence)
    assert not Reader.carries_value("The workshop is at Mill Lane [1].", "What is the workshop's door code?", reading)
    assert Reader.carries_value("The door code is 5-K-19 [1].", "What is the workshop's door code?", reading)


def test_the_extract_is_the_unit_cited() -> None:
    reading = _reading("x", "- Deliveries are accepted only before noon")
    assert Reader.extract(reading, 2) == "Deliveries are accepted only before noon [2]."


def test_a_time_is_one_value() -> None:
    sentence = "Customers on the register (31 households) get bottled water before 20:00 on 21 April."
    reading = _reading(sentence, sentence)
    question = "How many households get bottled water?"
    # "21:00" is not the "21" of "21 April", nor "20:00".
    assert not Reader.carries_value("Bowsers stand there from 21:00 [1].", question, reading)
    assert Reader.carries_value("31 households get bottled water [1].", question, reading)


def test_the_extract_keeps_a_heading_that_versions_what_is_under_it() -> None:
    release = Reading(_hit("Version 4.3.1 - 9 March 2026\nFixed: the app closed when scanning.",
                           section="Version 4.3.1 - 9 March 2026"),
                      "", "Fixed: the app closed when scanning.", 0.9,
                      heading="Version 4.3.1 - 9 March 2026")
    assert Reader.extract(release, 1) == "Version 4.3.1 - 9 March 2026: Fixed: the app closed when scanning [1]."
