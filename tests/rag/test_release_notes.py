"""Office documents whose value sits in a heading or a table column named like a chat role:
release notes (each chunk is one version and never names the product) and a system table."""

from __future__ import annotations

import pytest

from ingest.pipeline import IncomingFile
from rag.bootstrap import Runtime

C = "release-notes"
NOTES = b"""Tollway - release notes

Tollway is the route-planning app of the Brackmoor depot drivers. It runs on the depot tablets
and is updated automatically at night. Report problems to the transport office.

Version 2.4.0 - 11 May 2026

New: offline maps for the whole northern district.
Changed: the fuel log asks for the odometer reading only once a day.

Version 2.3.2 - 2 March 2026

Fixed: the app froze when a delivery note photo was larger than 12 MB.
Fixed: night mode colours on older tablets.
"""
SYSTEMS = b"""system,owner,planned maintenance
Harbourlink,Oona Pettersen,every second Thursday 21:00-22:00
Crateview,Samir Odhiambo,none scheduled
"""


@pytest.fixture(scope="module")
def ingested(runtime: Runtime) -> Runtime:
    outcomes = runtime.ingestor.ingest_many(C, [IncomingFile("tollway-release-notes.txt", NOTES),
                                                IncomingFile("systems.csv", SYSTEMS)])
    assert all(o.status in ("added", "unchanged") for o in outcomes), outcomes
    return runtime


@pytest.mark.parametrize(("question", "value"), [
    ("When did Tollway 2.4.0 come out?", "11 May 2026"),
    ("Which Tollway version fixed the freeze with big delivery note photos?", "2.3.2"),
    ("When is Harbourlink down for planned maintenance?", "second Thursday"),
])
def test_the_value_in_a_heading_or_a_system_column_is_answered(ingested: Runtime, question: str,
                                                                value: str) -> None:
    answer = ingested.service.ask(C, question)
    assert value.lower() in answer.text.lower(), answer.text
    assert answer.grounded and answer.citations, answer


def test_a_release_that_does_not_exist_is_refused(ingested: Runtime) -> None:
    answer = ingested.service.ask(C, "When did Tollway 2.5.0 come out?")
    assert not answer.grounded and "2.5.0" in answer.text, answer.text
