"""What an incoming file is (decided by content) and what it may be called."""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

from rag.errors import ParseFailed, UnsupportedType

# unstructured FileType name -> (mime type, extensions shown to users)
SUPPORTED: dict[str, tuple[str, str]] = {
    "PDF": ("application/pdf", ".pdf"),
    "DOCX": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    "PPTX": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
    "XLSX": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    "HTML": ("text/html", ".html, .htm"),
    "MD": ("text/markdown", ".md"),
    "TXT": ("text/plain", ".txt"),
    "CSV": ("text/csv", ".csv"),
    "EML": ("message/rfc822", ".eml"),
}


def supported_types() -> list[str]:
    """Human-readable list for error messages and docs."""
    return [f"{mime} ({ext})" for mime, ext in SUPPORTED.values()]


@dataclass(frozen=True)
class FileKind:
    """The detected type of a file."""

    name: str  # unstructured FileType name, e.g. "PDF"
    mime_type: str


def detect_kind(data: bytes, filename: str) -> FileKind:
    """Detect the type from the bytes (the name only breaks ties between text formats)."""
    from unstructured.file_utils.filetype import detect_filetype

    if not data:
        raise UnsupportedType(f"{filename!r} is empty", supported_types())
    try:
        detected = detect_filetype(file=io.BytesIO(data), metadata_file_path=filename)
    except Exception as exc:  # unstructured raises several kinds for unknown content
        raise UnsupportedType(f"cannot tell what {filename!r} is: {exc}", supported_types()) from exc
    name = detected.name
    if name not in SUPPORTED:
        # unstructured says UNK when neither the bytes nor the name tell it anything.
        what = ("of a type that could not be recognised" if name == "UNK"
                else f"looks like {detected.mime_type or name}")
        raise UnsupportedType(f"{filename!r} {what}, which Groundwork does not ingest; convert it to one "
                              "of the supported types", supported_types())
    _check_signature(name, data, filename)
    return FileKind(name, SUPPORTED[name][0])


def _check_signature(name: str, data: bytes, filename: str) -> None:
    # detect_filetype falls back on the extension when it cannot sniff; the bytes must agree.
    head = data[:8192]
    if name == "PDF" and b"%PDF-" not in data[:1024]:
        raise UnsupportedType(f"{filename!r} is named like a PDF but is not one", supported_types())
    if name in ("DOCX", "PPTX", "XLSX") and not head.startswith(b"PK\x03\x04"):
        raise UnsupportedType(
            f"{filename!r} is named like an Office file but is not a ZIP container", supported_types()
        )
    if name in ("HTML", "MD", "TXT", "CSV", "EML") and b"\x00" in head:
        raise UnsupportedType(f"{filename!r} holds binary data, not text", supported_types())


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
_BIDI_AND_INVISIBLE = {"Cf"}  # format characters: RTL marks, zero-width spaces, BOMs


def display_name(raw: str, max_length: int = 200) -> str:
    """A safe name to show: last path component, no control/format characters, bounded length.

    It is only ever a label; files are stored under generated ids, never under this name.
    """
    text = unicodedata.normalize("NFC", raw or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _BIDI_AND_INVISIBLE)
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE.sub("_", text).strip().strip(".")
    if len(text) > max_length:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: max_length - len(ext) - 1] + dot + ext) if dot and len(ext) < 10 else text[:max_length]
    return text or "unnamed"


def display_path(raw: str) -> str:
    """Like display_name, per path component: keeps a source's sub-folders, never `..` or roots."""
    parts = [p for p in (raw or "").replace("\\", "/").split("/") if p not in ("", ".", "..")]
    cleaned = [display_name(p) for p in parts][-16:]
    return "/".join(c for c in cleaned if c != "unnamed") or "unnamed"


# Office files are ZIP containers; these caps are checked on the central directory (declared
# sizes) before any member is decompressed, so a bomb is refused without inflating it.
MAX_MEMBERS = 2000
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 100


def check_container(data: bytes, filename: str, kind: str) -> None:
    """Refuse zip bombs in DOCX/PPTX/XLSX: too many members, too large, or too compressed."""
    if kind not in ("DOCX", "PPTX", "XLSX"):
        return
    import io
    import zipfile

    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile as exc:
        raise ParseFailed(f"{filename!r} is not a readable Office file: {exc}") from exc
    if len(members) > MAX_MEMBERS:
        raise ParseFailed(f"{filename!r} has {len(members)} parts (limit {MAX_MEMBERS}): refused as a zip bomb")
    total = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if total > MAX_UNCOMPRESSED:
        raise ParseFailed(f"{filename!r} would unpack to {total} bytes (limit {MAX_UNCOMPRESSED}): refused")
    if total / packed > MAX_RATIO and total > 10 * 1024 * 1024:
        raise ParseFailed(f"{filename!r} is compressed {total / packed:.0f}:1 (limit {MAX_RATIO}:1): refused as a zip bomb")
