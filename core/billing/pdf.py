"""A statement as a PDF (ReportLab), Chinese first with English beside it.

Chinese is set in ReportLab's built-in CID font STSong-Light (Adobe-GB1): it needs no font file
on the server, and every PDF reader maps it to a Song typeface it has (poppler uses the
system's Noto CJK through fontconfig), with the text extractable as Unicode. The file is
``invariant`` (no creation time or random id), so the same statement gives the same bytes.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.billing.labels import HEADINGS, line_label, status_label
from core.billing.money import capital, text
from core.billing.views import Party, StatementView
from core.licensing.service_period import zone

FONT = "STSong-Light"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _both(key: str) -> str:
    return f"{HEADINGS['zh'][key]} {HEADINGS['en'][key]}"


def _title(view: StatementView) -> tuple[str, str]:
    key = {"base_fee": "title_base_fee", "termination": "title_termination"}.get(view.kind, "title")
    return HEADINGS["zh"][key], HEADINGS["en"][key]


def statement_pdf(view: StatementView, payee: Party) -> bytes:
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=10)
    big = ParagraphStyle("big", parent=body, fontSize=16, leading=22)
    num = ParagraphStyle("num", parent=body, alignment=2)  # figures right-aligned
    zh_title, en_title = _title(view)

    def p(value: object, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape("" if value is None else str(value)), style)

    tz = zone(view.timezone)
    issued = view.issued_at.astimezone(tz).date().isoformat() if view.issued_at else "—"
    head = [
        [p(_both("number")), p(view.number or _both("draft")), p(_both("period")), p(view.period)],
        [p(_both("issued")), p(issued), p(_both("due")), p(view.due_date.isoformat())],
        [
            p(_both("status")),
            p(f"{status_label(view.status, 'zh')} {status_label(view.status, 'en')}"),
            p(_both("currency")),
            p(view.currency),
        ],
    ]
    parties = [
        [p(_both("payer")), p(_both("payee"))],
        [p(view.customer.name), p(payee.name)],
        [
            p(f"{_both('tax_id')}: {view.customer.tax_id}"),
            p(f"{_both('tax_id')}: {payee.tax_id}"),
        ],
        [
            p(f"{_both('address')}: {view.customer.address}"),
            p(f"{_both('address')}: {payee.address}"),
        ],
        [p(f"{_both('bank')}: {view.customer.bank}"), p(f"{_both('bank')}: {payee.bank}")],
        [p(""), p(f"{_both('account')}: {payee.account}")],
    ]
    lines = [[p(_both("item")), p(_both("units")), p(_both("unit_price")), p(_both("amount"))]]
    for ln in view.lines:
        lines.append(
            [
                p(f"{line_label(ln, 'zh')}\n{line_label(ln, 'en')}".replace("\n", " / ")),
                p("" if ln.units is None else f"{ln.units:,}", num),
                p("" if ln.unit_price is None else format(ln.unit_price, "f"), num),
                p(text(ln.amount), num),
            ]
        )
    lines.append([p(_both("total")), p(f"{view.units:,}", num), p(""), p(text(view.total), num)])
    totals = [
        [p(_both("total")), p(f"{view.currency} {text(view.total)}")],
        [p(_both("total_capital")), p(f"人民币{capital(view.total)}")],
        [p(_both("paid")), p(text(view.paid))],
        [p(_both("unpaid")), p(text(view.unpaid))],
        [p(_both("detail_rows")), p(f"{view.detail_rows:,}")],
        [p(_both("detail_sha256")), p(view.detail_sha256 or "—", small)],
    ]
    confirm = [
        [p(f"□ {_both('confirm')}"), p("")],
        [p(f"{_both('signature')}:"), p(f"{_both('date')}:")],
    ]
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    header_row = TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7"))])
    width = A4[0] - 36 * mm
    story = [
        p(zh_title, big),
        p(en_title, body),
        Spacer(1, 4 * mm),
        Table(head, colWidths=[width * 0.2, width * 0.3, width * 0.2, width * 0.3], style=grid),
        Spacer(1, 4 * mm),
        Table(parties, colWidths=[width / 2, width / 2], style=grid),
        Spacer(1, 4 * mm),
        Table(
            lines,
            colWidths=[width * 0.52, width * 0.14, width * 0.14, width * 0.2],
            style=grid,
            repeatRows=1,
        ),
        Spacer(1, 4 * mm),
        Table(totals, colWidths=[width * 0.3, width * 0.7], style=grid),
        Spacer(1, 6 * mm),
        Table(confirm, colWidths=[width / 2, width / 2], rowHeights=[10 * mm, 16 * mm], style=grid),
    ]
    for table in (story[5], story[7]):
        assert isinstance(table, Table)
        table.setStyle(header_row)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"{zh_title} {view.number or view.period}",
        author=payee.name,
        invariant=1,
    )
    doc.build(story)
    return out.getvalue()
