"""The kind of value a question asks for, and the units that hold one."""

from __future__ import annotations

import pytest

from rag.answer.answer_type import expected_value


@pytest.mark.parametrize(("question", "holds", "lacks"), [
    ("What time does the Lisbon showroom close?", "It closes at 19:00 on weekdays.", "It opened in March 2024."),
    ("On which days can I visit the showroom?", "Open Tuesday to Saturday.", "It opened in March 2024."),
    ("How much does the Kestrel cost?", "price in euros: 2450", "frame material: steel"),
    ("What number do I ring for the night shift?", "Call +46 90 555 0142.", "Ask the night shift lead."),
    ("Which version of the client is retired?", "VellConnect 2.8 is retired.", "The old client is retired."),
    ("What year was the co-operative founded?", "It was founded in 2019.", "It was founded by members."),
])
def test_a_question_that_names_its_kind_matches_the_unit_that_holds_one(question: str, holds: str,
                                                                          lacks: str) -> None:
    kind = expected_value(question)
    assert kind is not None and kind.search(holds) and not kind.search(lacks)


@pytest.mark.parametrize("question", ["What is the door code of the workshop?", "Who looks after the showroom?",
                                      "Where do we gather if there is a fire?", "When did Kestrel 3.2 come out?"])
def test_other_wordings_have_no_kind(question: str) -> None:
    assert expected_value(question) is None
