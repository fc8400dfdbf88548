"""Regenerate the binary sample documents in data/samples/ (docx and pdf).

Run: .venv/bin/python scripts/make_samples.py  (needs the test extras: python-docx, reportlab)
"""

from pathlib import Path

from docx import Document
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

OUT = Path(__file__).resolve().parent.parent / "data" / "samples"


def faq() -> None:
    doc = Document()
    doc.add_heading("Warranty and repairs FAQ", level=1)
    doc.add_heading("How long is the warranty?", level=2)
    doc.add_paragraph("Every Tern Valley frame carries a warranty of 12 years against defects in "
                      "materials and workmanship. Paint is covered for 3 years.")
    doc.add_heading("How do I claim a repair?", level=2)
    doc.add_paragraph("Write to repairs@ternvalley.example with the frame number, which is "
                      "stamped under the bottom bracket. Claims are answered within 5 working days.")
    doc.core_properties.author = "Groundwork samples"
    doc.save(OUT / "warranty-faq.docx")


def policy() -> None:
    c = canvas.Canvas(str(OUT / "travel-policy.pdf"), pagesize=A4)
    c.setTitle("Travel policy")
    lines_by_page = [
        ["Travel policy", "",
         "Members travelling to trade fairs book trains rather than flights",
         "for any journey shorter than six hours."],
        ["Expenses", "",
         "The daily meal allowance on business trips is 38 euros.",
         "Receipts are submitted to the treasurer, Ada Quinlan, within 30 days."],
    ]
    for lines in lines_by_page:
        y = 800
        for line in lines:
            c.drawString(72, y, line)
            y -= 18
        c.showPage()
    c.save()


if __name__ == "__main__":
    faq()
    policy()
