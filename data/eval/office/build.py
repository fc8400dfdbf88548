"""Build the Vellmoor Water office evaluation corpus, or check its questions.

    python data/eval/office/build.py OUTDIR   # copy docs/* and write the docx/pdf/pptx/xlsx files
    python data/eval/office/build.py --check  # validate questions.jsonl against the document texts

The binary documents are written from the data in sources.py with python-docx, reportlab,
python-pptx and (when importable) openpyxl. The output is deterministic: fixed document
properties, reportlab's invariant mode and fixed timestamps inside the zip containers.

--check needs no third-party package: it reads the text documents in docs/ and the text
form of sources.py, never the generated binaries.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
import textwrap
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE / "docs"
QUESTIONS = HERE / "questions.jsonl"
sys.path.insert(0, str(HERE))

import sources  # noqa: E402

FIXED_TIME = datetime(2026, 4, 20, 9, 0, 0)
AUTHOR = "Vellmoor Water (fictional evaluation corpus)"


# ------------------------------------------------------------------------------ writers

def _fix_zip(path: Path) -> None:
    """Rewrite a zip container with fixed entry timestamps and a fixed modification date in
    docProps/core.xml (openpyxl stamps the time of saving), so builds are byte-identical."""
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info.filename)) for info in src.infolist()]
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    entries = [(info, re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                             rb"\g<1>" + stamp + rb"\g<2>", data)
                if info.filename == "docProps/core.xml" else data)
               for info, data in entries]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)


def write_docx(path: Path, blocks: list) -> None:
    from docx import Document

    doc = Document()
    for kind, content in blocks:
        if kind == "title":
            doc.add_heading(content, level=1)
        elif kind == "heading":
            doc.add_heading(content, level=2)
        elif kind == "para":
            doc.add_paragraph(content)
        elif kind == "bullets":
            for item in content:
                doc.add_paragraph(item, style="List Bullet")
        elif kind == "table":
            table = doc.add_table(rows=len(content), cols=len(content[0]))
            table.style = "Table Grid"
            for r, row in enumerate(content):
                for c, value in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = value
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    props = doc.core_properties
    props.author = props.last_modified_by = AUTHOR
    props.title = next(text for kind, text in blocks if kind == "title")
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    doc.save(str(path))
    _fix_zip(path)


def write_pdf(path: Path, title: str, subtitle: str, pages: list) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    width, height = A4
    c = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    c.setTitle(title)
    c.setAuthor(AUTHOR)
    for number, (heading, paragraphs) in enumerate(pages, start=1):
        y = height - 72
        if number == 1:
            c.setFont("Helvetica-Bold", 16)
            c.drawString(72, y, title)
            y -= 20
            c.setFont("Helvetica", 10)
            c.drawString(72, y, subtitle)
            y -= 34
        c.setFont("Helvetica-Bold", 13)
        c.drawString(72, y, heading)
        y -= 24
        c.setFont("Helvetica", 10.5)
        for paragraph in paragraphs:
            for line in textwrap.wrap(paragraph, width=92):
                c.drawString(72, y, line)
                y -= 14
            y -= 8
        c.setFont("Helvetica", 8)
        c.drawString(72, 40, f"HS-01 revision 5 - page {number} of {len(pages)}")
        c.showPage()
    c.save()


def write_pptx(path: Path, slides: list) -> None:
    from pptx import Presentation

    prs = Presentation()
    for index, (title, body) in enumerate(slides):
        if index == 0:
            slide = prs.slides.add_slide(prs.slide_layouts[0])
            slide.shapes.title.text = title
            slide.placeholders[1].text = body
            continue
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        frame = slide.placeholders[1].text_frame
        frame.text = body[0]
        for item in body[1:]:
            frame.add_paragraph().text = item
    props = prs.core_properties
    props.author = props.last_modified_by = AUTHOR
    props.title = slides[0][0]
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    prs.save(str(path))
    _fix_zip(path)


def write_xlsx(path: Path, sheets: list) -> bool:
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Font
    except ImportError:
        print(f"openpyxl is not importable: {path.name} skipped", file=sys.stderr)
        return False
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for column in ws.columns:
            ws.column_dimensions[column[0].column_letter].width = max(
                len(str(cell.value)) for cell in column) + 2
    wb.properties.creator = wb.properties.lastModifiedBy = AUTHOR
    wb.properties.title = sheets[0][0]
    wb.properties.created = wb.properties.modified = FIXED_TIME
    wb.save(str(path))
    _fix_zip(path)
    return True


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in sorted(DOCS.iterdir()):
        if doc.is_file():
            shutil.copyfile(doc, out / doc.name)
            written.append(doc.name)
    for name, blocks in sources.DOCX.items():
        write_docx(out / name, blocks)
        written.append(name)
    for name, spec in sources.PDF.items():
        write_pdf(out / name, *spec)
        written.append(name)
    for name, slides in sources.PPTX.items():
        write_pptx(out / name, slides)
        written.append(name)
    for name, sheets in sources.XLSX.items():
        if write_xlsx(out / name, sheets):
            written.append(name)
    print(f"{len(written)} documents written to {out}")
    for name in written:
        print(f"  {name}")


# ------------------------------------------------------------------------------- check

def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def document_texts() -> dict[str, str]:
    """File name -> text of every document, from docs/ and sources.py."""
    texts = {}
    for doc in sorted(DOCS.iterdir()):
        raw = doc.read_text(encoding="utf-8")
        if doc.suffix == ".html":
            raw = html.unescape(re.sub(r"<[^>]+>", " ", raw))
        texts[doc.name] = raw
    texts.update(sources.texts())
    return texts


def check() -> int:
    texts = {name: _norm(text) for name, text in document_texts().items()}
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    errors: list[str] = []
    ids = Counter(r["id"] for r in rows)
    errors += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    questions = Counter(_norm(r["question"]) for r in rows)
    errors += [f"duplicate question {q!r}" for q, n in questions.items() if n > 1]
    per_doc: dict[str, Counter] = {name: Counter() for name in texts}
    for r in rows:
        rid = r["id"]
        if r.get("split") not in ("dev", "test"):
            errors.append(f"{rid}: split must be dev or test")
        if not r.get("question", "").strip():
            errors.append(f"{rid}: empty question")
        if r.get("answerable") is True:
            if r.get("source") not in texts:
                errors.append(f"{rid}: unknown source {r.get('source')!r}")
                continue
            if not r.get("answers"):
                errors.append(f"{rid}: answerable question without answers")
            for answer in r.get("answers", []):
                if _norm(answer) not in texts[r["source"]]:
                    errors.append(f"{rid}: {answer!r} not found in {r['source']}")
            per_doc[r["source"]][r["split"]] += 1
        elif r.get("answerable") is False:
            if r.get("answers") != [] or r.get("source") is not None:
                errors.append(f"{rid}: unanswerable question needs answers [] and source null")
            if not isinstance(r.get("near_miss"), bool):
                errors.append(f"{rid}: unanswerable question needs near_miss true/false")
        else:
            errors.append(f"{rid}: answerable must be true or false")
    for name, counts in per_doc.items():
        if sum(counts.values()) < 5 or not counts["dev"] or not counts["test"]:
            errors.append(f"{name}: {dict(counts)} (needs 5 questions, in both splits)")

    table = Counter()
    for r in rows:
        kind = "answerable" if r["answerable"] else ("near_miss" if r.get("near_miss") else "unanswerable")
        table[(r["split"], kind)] += 1
    print(f"{len(rows)} questions over {len(texts)} documents")
    for split in ("dev", "test"):
        print(f"  {split}: {table[(split, 'answerable')]} answerable, "
              f"{table[(split, 'near_miss')] + table[(split, 'unanswerable')]} unanswerable "
              f"({table[(split, 'near_miss')]} near misses)")
    for name, counts in sorted(per_doc.items()):
        print(f"  {name}: dev {counts['dev']}, test {counts['test']}")
    for error in errors:
        print("ERROR", error, file=sys.stderr)
    print("check passed" if not errors else f"check failed: {len(errors)} errors")
    return 1 if errors else 0


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        return check()
    if len(argv) == 1 and not argv[0].startswith("-"):
        build(Path(argv[0]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
