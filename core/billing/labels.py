"""The words of statements in Chinese and English: line kinds, statuses, headings."""

from __future__ import annotations

from core.billing.statements import Line

LANGUAGES = ("zh", "en")

HEADINGS = {
    "zh": {
        "title": "月度使用费结算单",
        "title_base_fee": "基础费账单",
        "title_termination": "接入补偿费账单",
        "number": "编号",
        "draft": "草稿（未出具）",
        "period": "结算期间",
        "issued": "出具日期",
        "due": "付款截止日",
        "payer": "付款方",
        "payee": "收款方",
        "tax_id": "纳税人识别号",
        "address": "地址",
        "bank": "开户行",
        "account": "账号",
        "item": "项目",
        "units": "数量",
        "unit_price": "单价",
        "amount": "金额",
        "total": "合计",
        "total_capital": "合计（大写）",
        "paid": "已付",
        "unpaid": "未付",
        "status": "状态",
        "currency": "币种",
        "detail": "明细",
        "detail_rows": "明细条数",
        "detail_sha256": "明细 SHA-256",
        "confirm": "核对无误，确认签章",
        "signature": "签章",
        "date": "日期",
        "timezone": "时区",
        "beyond_term": "（服务期外）",
    },
    "en": {
        "title": "Monthly usage statement",
        "title_base_fee": "Base fee bill",
        "title_termination": "Access compensation fee bill",
        "number": "Number",
        "draft": "Draft (not issued)",
        "period": "Period",
        "issued": "Issued on",
        "due": "Due date",
        "payer": "Payer",
        "payee": "Payee",
        "tax_id": "Tax ID",
        "address": "Address",
        "bank": "Bank",
        "account": "Account",
        "item": "Item",
        "units": "Units",
        "unit_price": "Unit price",
        "amount": "Amount",
        "total": "Total",
        "total_capital": "Total in Chinese capitals",
        "paid": "Paid",
        "unpaid": "Unpaid",
        "status": "Status",
        "currency": "Currency",
        "detail": "Detail",
        "detail_rows": "Detail lines",
        "detail_sha256": "Detail SHA-256",
        "confirm": "Checked and confirmed",
        "signature": "Signature and seal",
        "date": "Date",
        "timezone": "Time zone",
        "beyond_term": " (beyond term)",
    },
}

_KINDS = {
    "usage": ("使用费（会话）", "Usage (conversations)"),
    "late_units": ("补计会话（结算单 {ref}）", "Late units of statement {ref}"),
    "note": ("调整：{reason}", "Adjustment: {reason}"),
    "late_fee": ("滞纳金（结算单 {ref}）", "Late fee on statement {ref}"),
    "base_fee": ("基础费", "Base fee"),
    "access_fee": ("接入补偿费（提前终止）", "Access compensation fee (early termination)"),
}

STATUSES = {
    "draft": ("草稿", "draft"),
    "issued": ("已出具", "issued"),
    "partly_paid": ("部分付款", "partly paid"),
    "paid": ("已付清", "paid"),
    "overdue": ("逾期", "overdue"),
}


def line_label(line: Line, lang: str) -> str:
    zh, en = _KINDS.get(line.kind, (line.kind, line.kind))
    template = zh if lang == "zh" else en
    label = template.format(ref=line.reference or "", reason=line.reason or "")
    if line.kind == "note" and line.reference:
        label += f"（更正 {line.reference}）" if lang == "zh" else f" (corrects {line.reference})"
    if line.beyond_term:
        label += HEADINGS[lang]["beyond_term"]
    return label


def status_label(status: str, lang: str) -> str:
    zh, en = STATUSES.get(status, (status, status))
    return zh if lang == "zh" else en
