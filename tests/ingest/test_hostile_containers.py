"""Zip bombs in Office containers are refused from their declared sizes, before inflating."""

from __future__ import annotations

import io
import zipfile

import pytest

from ingest.filetypes import check_container
from rag.errors import ParseFailed
from tests import docs


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_high_ratio_bomb_is_refused() -> None:
    bomb = _zip({"word/document.xml": b"\x00" * (64 * 1024 * 1024)})  # 64 MB of zeros, ~64 KB packed
    with pytest.raises(ParseFailed, match="zip bomb"):
        check_container(bomb, "bomb.docx", "DOCX")


def test_many_members_are_refused() -> None:
    many = _zip({f"xl/worksheets/sheet{i}.xml": b"<x/>" for i in range(2500)})
    with pytest.raises(ParseFailed, match="parts"):
        check_container(many, "many.xlsx", "XLSX")


def test_ordinary_office_files_pass() -> None:
    check_container(docs.docx("T", {"A": "Some text."}), "ok.docx", "DOCX")


def test_bomb_upload_fails_with_reason_and_stores_nothing(client) -> None:
    bomb = _zip({"word/document.xml": b"\x00" * (64 * 1024 * 1024)})
    r = client.post("/collections/bombs/documents?wait=true", files=[("files", ("bomb.docx", bomb))])
    assert r.status_code == 422 and "zip bomb" in r.json()["error"]["message"]
    assert client.get("/collections/bombs/documents").status_code == 404  # nothing was created
