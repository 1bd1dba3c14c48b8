"""Tests for the spreadsheet-safe cell and CSV download helpers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum

import pytest
from openpyxl import load_workbook

from core.knowledge.entries import KbRow
from core.knowledge.files import write_kb_bytes
from core.spreadsheet import csv_bytes, is_formula, restore_cell, safe_cell


class Status(StrEnum):
    ISSUED = "issued"


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


@pytest.mark.parametrize(
    "value",
    [
        "=1+2",
        "+86 21 5555",
        "-5",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "=",
        " =1+1",
        "  @SUM(A1)",
        " \t-2",
        "\t=1+1",
        "\n=1+1",
        " \n +1",
    ],
)
def test_safe_cell_neutralises_formula_starts(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert is_formula(value) and not is_formula(safe_cell(value))
    assert restore_cell(safe_cell(value)) == value


@pytest.mark.parametrize(
    "value", ["", "hello", "a=b", " x=1", "'quoted", "你好", "\nx", "1-2", " "]
)
def test_safe_cell_leaves_other_text_alone(value: str) -> None:
    assert safe_cell(value) == value
    assert restore_cell(value) == value


def test_restore_cell_only_strips_an_apostrophe_before_a_formula_start() -> None:
    assert restore_cell("'=x") == "=x"
    assert restore_cell("''=x") == "'=x"
    assert restore_cell("'") == "'"
    assert restore_cell("'abc") == "'abc"


def test_csv_bytes_has_bom_crlf_and_neutralised_strings() -> None:
    data = csv_bytes(["name", "=header"], [["=cmd|' /C calc'!A0", "@x"], ["-1", "+1"]])
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert parse(data) == [
        ["name", "'=header"],
        ["'=cmd|' /C calc'!A0", "'@x"],
        ["'-1", "'+1"],
    ]


def test_csv_bytes_converts_values() -> None:
    shanghai = timezone(timedelta(hours=8))
    row = [
        None,
        True,
        False,
        datetime(2024, 5, 1, 9, 30, tzinfo=shanghai),
        datetime(2024, 5, 1, 1, 30, tzinfo=UTC),
        date(2024, 5, 31),
        Decimal("12.50"),
        Decimal("-3.00"),
        -7,
        1.5,
        Status.ISSUED,
        "\tindented",
    ]
    assert parse(csv_bytes([f"c{i}" for i in range(len(row))], [row]))[1] == [
        "",
        "true",
        "false",
        "2024-05-01T09:30:00+08:00",
        "2024-05-01T01:30:00+00:00",
        "2024-05-31",
        "12.50",
        "-3.00",
        "-7",
        "1.5",
        "issued",
        "'\tindented",
    ]


def test_csv_bytes_quotes_commas_quotes_and_newlines() -> None:
    tricky = 'say "hi", then\nleave'
    assert parse(csv_bytes(["a"], [[tricky], ["中文，逗号"]]))[1:] == [[tricky], ["中文，逗号"]]


def test_csv_bytes_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        csv_bytes(["at"], [[datetime(2024, 5, 1, 9, 30)]])


def test_csv_bytes_with_no_rows_is_just_the_header() -> None:
    assert csv_bytes(["a", "b"], []) == b"\xef\xbb\xbfa,b\r\n"


@pytest.mark.parametrize("value", [" =1+1", '\t=HYPERLINK("http://evil.example")', " @SUM(A1)"])
def test_csv_and_xlsx_downloads_neutralise_a_formula_after_blanks(value: str) -> None:
    [_header, row] = parse(csv_bytes(["text"], [(value,)]))
    assert row == ["'" + value]
    entry = KbRow(question=f"q{value}", answer=value, similar=(), tags=())
    sheet = load_workbook(io.BytesIO(write_kb_bytes([entry], "xlsx"))).active
    assert sheet["B2"].value == "'" + value
    assert all(not is_formula(str(cell.value)) for cell in sheet[2])
