"""What kind of value a question asks for, read from its wording.

"What time does the showroom close?" wants a time, "On which days ...?" weekdays, "How much
...?" an amount. The reranker scores the sentence that names the question's subject above
the one that holds the value ("The Lisbon showroom opened in March 2024" for the closing
time), so the reader prefers the units that hold a value of the asked kind when any does.
Only wordings that say the kind unambiguously are read; any other question has no kind and
changes nothing.
"""

from __future__ import annotations

import re

_TIME = r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.)|\bnoon\b|\bmidnight\b"
_WEEKDAY = r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekdays?|weekends?|mon|tue|wed|thu|fri|sat|sun)\b"
MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_MONTH = rf"\b(?:{MONTHS}|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b"
_DATE = rf"{_MONTH}|\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b(?:19|20)\d{{2}}\b|{_WEEKDAY}"
_NUMBER = r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|a dozen|half)\b"
_PHONE = r"\+?\d[\d ()\-]{5,}\d"
VERSION = r"\b\d+\.\d+(?:\.\d+)*\b"

# (question wording, the kind of value that answers it), first match wins.
_KINDS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(p, re.IGNORECASE), re.compile(v, re.IGNORECASE)) for p, v in [
        (r"\b(?:what|which) (?:phone )?number\b|\bphone number\b|\bwho do i (?:ring|call)\b", _PHONE),
        (r"\b(?:what|which|by what|at what|until what|from what) time\b|\bwhat hours?\b.*\b(?:open|close)", _TIME),
        (r"\b(?:which|what) days?\b.*\b(?:open|visit|closed?|held|come|work)|\bon which days\b",
         _WEEKDAY + r"|\bdaily\b|\bevery day\b|\bworking days?\b"),
        (r"\b(?:which|what) (?:version|release)\b", VERSION),
        (r"\b(?:what|which) (?:date|year|month)\b|\bsince when\b", _DATE),
        (r"\bhow (?:much|many|long|far|often|old|big|heavy)\b|\bwhat (?:percentage|share|price|amount)\b", _NUMBER),
    ]
]


def expected_value(question: str) -> re.Pattern[str] | None:
    """A pattern that a unit answering `question` must contain, or None when the wording
    does not say what kind of value it asks for."""
    for wording, value in _KINDS:
        if wording.search(question):
            return value
    return None
