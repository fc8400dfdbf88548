"""Types are decided by content; names are only labels and are sanitised."""

from __future__ import annotations

import pytest

from ingest.filetypes import detect_kind, display_name
from rag.errors import UnsupportedType
from tests import docs


@pytest.mark.parametrize("name, data", [
    ("evil.pdf", b"MZ\x90\x00" + b"\x00" * 200),
    ("evil.docx", b"\x01\x02\x03 not a zip container" * 10),
    ("empty.md", b""),
    ("bin.txt", b"text\x00\x01\x02 binary"),
])
def test_content_not_extension_decides(name: str, data: bytes) -> None:
    with pytest.raises(UnsupportedType) as info:
        detect_kind(data, name)
    assert info.value.supported


def test_real_files_are_detected() -> None:
    assert detect_kind(docs.pdf([["x"]]), "renamed.txt").name == "PDF"
    assert detect_kind(docs.docx("T", {"a": "b"}), "upload").name == "DOCX"


@pytest.mark.parametrize("raw, expected", [
    ("../../x", "x"),
    ("/etc/passwd", "passwd"),
    ("C:\\Users\\a\\report.pdf", "report.pdf"),
    ("na\x00me.md", "na_me.md"),
    ("\u202egnp.exe", "gnp.exe"),
    ("..", "unnamed"),
    ("", "unnamed"),
])
def test_display_names_are_sanitised(raw: str, expected: str) -> None:
    assert display_name(raw) == expected


def test_long_names_are_bounded_and_keep_the_extension() -> None:
    name = display_name("a" * 400 + ".pdf")
    assert len(name) <= 200 and name.endswith(".pdf")
