"""Tests for reading and writing knowledge-base files (CSV, XLSX, JSON)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from core.errors import InvalidInput
from core.knowledge.entries import KbEntry, KbRow
from core.knowledge.files import (
    KbFileError,
    KbParseResult,
    read_kb_bytes,
    read_kb_file,
    write_kb_bytes,
    write_kb_file,
)

HEADER = "question,answer,similar,tags\n"


def write_csv(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "kb.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(tmp_path: Path, rows: list[list[object]], name: str = "kb.xlsx") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    workbook.save(path)
    return path


def write_json(tmp_path: Path, document: object, name: str = "kb.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def accepted(result: KbParseResult) -> dict[int, KbRow]:
    return {parsed.line: parsed.row for parsed in result.rows}


def reasons(result: KbParseResult) -> dict[int, str]:
    return {rejection.line: rejection.reason for rejection in result.rejected}


def assert_one_sentence(error: pytest.ExceptionInfo[KbFileError]) -> None:
    message = str(error.value)
    assert message.endswith(".")
    assert "\n" not in message
    assert "Traceback" not in message


# --- CSV -------------------------------------------------------------------------------------


def test_csv_rows_with_splitting_of_similar_and_tags(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER
        + 'How do I reset my password?,Click Forgot Password.,"Reset password\nForgot password'
        '|Lost my password","account|login,security，密码\nhelp"\n'
        "Where is my order?,See My Orders.,,\n",
    )
    result = read_kb_file(path)
    assert result.rejected == []
    assert accepted(result) == {
        2: KbRow(
            "How do I reset my password?",
            "Click Forgot Password.",
            ("Reset password", "Forgot password", "Lost my password"),
            ("account", "login", "security", "密码", "help"),
        ),
        5: KbRow("Where is my order?", "See My Orders."),
    }


def test_csv_chinese_headers_and_extra_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "编号, 标准问题 ,答案,相似问题,标签,备注\n"
        "1,怎么退货？,七天内可退。,可以退货吗|退货流程,退货|售后,内部\n",
    )
    assert accepted(read_kb_file(path)) == {
        2: KbRow("怎么退货？", "七天内可退。", ("可以退货吗", "退货流程"), ("退货", "售后"))
    }


def test_csv_headers_ignore_case_and_spaces_and_tags_are_optional(tmp_path: Path) -> None:
    path = write_csv(tmp_path, " QUESTION ,Answer,Sim ilar\nQ,A,S\n")
    assert accepted(read_kb_file(path)) == {2: KbRow("Q", "A", ("S",))}


def test_csv_with_bom(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "\ufeff标准问题,答案,相似问题\n你好,您好！,在吗\n")
    assert accepted(read_kb_file(path)) == {2: KbRow("你好", "您好！", ("在吗",))}


def test_csv_in_gb18030(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "标准问题,答案,相似问题\n发票怎么开？,在订单详情页申请。,开票|专票\n", "gb18030"
    )
    assert accepted(read_kb_file(path)) == {
        2: KbRow("发票怎么开？", "在订单详情页申请。", ("开票", "专票"))
    }


def test_csv_with_semicolons(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "question;answer;similar\nQ;A, with a comma;S\n")
    assert accepted(read_kb_file(path)) == {2: KbRow("Q", "A, with a comma", ("S",))}


def test_csv_crlf_blank_lines_and_multiline_cells_keep_physical_line_numbers(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "question,answer,similar\r\n"
        '"Q1","first line\r\nsecond line\r\nthird line","a\r\nb"\r\n'  # lines 2-5
        "\r\n"  # line 6
        ",orphan answer,\r\n"  # line 7
        "Q2,A2,\r\n",  # line 8
    )
    result = read_kb_file(path)
    assert accepted(result) == {
        2: KbRow("Q1", "first line\r\nsecond line\r\nthird line", ("a", "b")),
        8: KbRow("Q2", "A2"),
    }
    assert reasons(result) == {7: "missing question"}


def test_each_rejection_has_its_reason_and_line(tmp_path: Path) -> None:
    many = "|".join(f"phrasing {i}" for i in range(201))
    enough = "|".join(f"phrasing {i}" for i in range(199))
    path = write_csv(
        tmp_path,
        HEADER
        + 'Q1,"multi\nline answer",,\n'  # 2-3
        + ",answer without question,,\n"  # 4
        + '"   ",blank question,,\n'  # 5
        + "Q6,,,\n"  # 6
        + f"{'q' * 501},too long,,\n"  # 7
        + f"Q8,{'a' * 5001},,\n"  # 8
        + f"Q9,A,{'s' * 501},\n"  # 9
        + f"Q10,A,{many},\n"  # 10
        + "q1,again,,\n"  # 11
        + f"{'q' * 500},{'a' * 5000},{'s' * 500}|{enough},\n"  # 12: at every limit
        + "Q13,A,,,,extra\n",  # 13
    )
    result = read_kb_file(path)
    assert reasons(result) == {
        4: "missing question",
        5: "missing question",
        6: "missing answer",
        7: "question is longer than 500 characters (501)",
        8: "answer is longer than 5,000 characters (5,001)",
        9: "similar phrasing 1 is longer than 500 characters (501)",
        10: "more than 200 similar phrasings (201)",
        11: "duplicate of line 2",
        13: "row has 6 cells but the header has 4; put cells that contain commas in double quotes",
    }
    assert sorted(accepted(result)) == [2, 12]


def test_several_problems_in_one_row_are_all_reported(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + f"{'q' * 501},,,\n")
    assert reasons(read_kb_file(path)) == {
        2: "question is longer than 500 characters (501); missing answer"
    }


def test_a_rejected_row_does_not_make_a_later_copy_a_duplicate(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "Q,,,\nQ,A,,\nQ,B,,\n")
    result = read_kb_file(path)
    assert reasons(result) == {2: "missing answer", 4: "duplicate of line 3"}
    assert accepted(result) == {3: KbRow("Q", "A")}


def test_similar_and_tags_are_trimmed_and_deduplicated(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER + '  Reset password? , Use the link. ,"  reset PASSWORD？ \n\n | Forgot it |'
        'forgot   it\nLost it","a, A ,,b|"\n',
    )
    assert accepted(read_kb_file(path)) == {
        2: KbRow("Reset password?", "Use the link.", ("Forgot it", "Lost it"), ("a", "b"))
    }


def test_text_is_kept_verbatim(tmp_path: Path) -> None:
    answer = '<b>Bold</b> & <script>alert("x")</script>\n\n  indented line'
    path = write_json(tmp_path, [{"question": "<i>Q</i>", "answer": answer, "similar": []}])
    assert accepted(read_kb_file(path)) == {1: KbRow("<i>Q</i>", answer)}


def test_a_stray_control_character_is_not_binary(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "Q,line\x0bbreak from a word processor,,\n")
    assert accepted(read_kb_file(path)) == {2: KbRow("Q", "line\x0bbreak from a word processor")}


def test_unterminated_quote_is_a_file_error_with_its_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "Q,A,,\n" + '"Q2,"never closed\n')
    with pytest.raises(KbFileError, match="line 3") as error:
        read_kb_file(path)
    assert_one_sentence(error)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"PK\x03\x04\x00\x00binary\x00junk", "binary data"),
        (bytes(range(1, 32)) * 40, "binary data"),
        ("问题,答案\n".encode("gb18030") + bytes(range(1, 9)) * 40, "binary data"),
        (b"\xff\xfe\xfd\x80\x81" * 50, "neither UTF-8 nor GB18030"),
    ],
    ids=["nul-bytes", "control-characters", "gb18030-controls", "undecodable"],
)
def test_binary_junk_csv_is_a_file_error(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(data)
    with pytest.raises(KbFileError, match=match) as error:
        read_kb_file(path)
    assert_one_sentence(error)


# --- missing columns, empty and unsupported files ---------------------------------------------


def test_missing_required_column_csv(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "question,similar\nQ,S\n")
    with pytest.raises(KbFileError, match="no answer column") as error:
        read_kb_file(path)
    assert_one_sentence(error)


def test_missing_required_column_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [["标准问题", "答案"], ["Q", "A"]])
    with pytest.raises(KbFileError, match="no similar column"):
        read_kb_file(path)


def test_first_row_without_any_header_reports_every_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "How do I pay?,By card.,\n")
    with pytest.raises(KbFileError, match="has no question, answer or similar column"):
        read_kb_file(path)


def test_duplicate_header_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "question,answer,similar,标准问题\nQ,A,S,Q\n")
    with pytest.raises(KbFileError, match="two question columns"):
        read_kb_file(path)


def test_kb_file_error_is_invalid_input() -> None:
    assert issubclass(KbFileError, InvalidInput)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
@pytest.mark.parametrize("data", [b"", b"  \n\r\n ", b"\xef\xbb\xbf"], ids=["zero", "blank", "bom"])
def test_empty_files(tmp_path: Path, fmt: str, data: bytes) -> None:
    path = tmp_path / f"kb.{fmt}"
    path.write_bytes(data)
    with pytest.raises(KbFileError, match="empty") as error:
        read_kb_file(path)
    assert_one_sentence(error)


def test_csv_with_blank_lines_only_is_empty(tmp_path: Path) -> None:
    with pytest.raises(KbFileError, match="empty"):
        read_kb_file(write_csv(tmp_path, ",,\n\n,,,\n"))


def test_header_without_entries(tmp_path: Path) -> None:
    with pytest.raises(KbFileError, match="no entries"):
        read_kb_file(write_csv(tmp_path, HEADER + "\n,,,\n"))
    with pytest.raises(KbFileError, match="no entries"):
        read_kb_file(write_xlsx(tmp_path, [["question", "answer", "similar"]]))
    with pytest.raises(KbFileError, match="no entries"):
        read_kb_file(write_json(tmp_path, []))


@pytest.mark.parametrize("name", ["kb.txt", "kb.xls", "kb"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(HEADER + "Q,A,,\n", encoding="utf-8")
    with pytest.raises(KbFileError, match=r"\.csv, \.xlsx or \.json") as error:
        read_kb_file(path)
    assert_one_sentence(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KbFileError, match=r"Cannot read nowhere\.csv") as error:
        read_kb_file(tmp_path / "nowhere.csv")
    assert_one_sentence(error)


def test_read_kb_bytes_accepts_format_spellings() -> None:
    data = (HEADER + "Q,A,,\n").encode()
    assert accepted(read_kb_bytes(data, ".CSV")) == {2: KbRow("Q", "A")}
    with pytest.raises(KbFileError, match="Unsupported"):
        read_kb_bytes(data, "txt")


# --- XLSX ------------------------------------------------------------------------------------


def test_xlsx_rows_numbers_dates_and_empty_rows(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [
            ["标准问题", "答案", "相似问题", "标签"],
            [404, 3.0, "page not found\nmissing page|404 error", "errors|web"],
            [None, None, None, None],
            ["When is the sale?", datetime(2024, 11, 11), date(2024, 6, 18), None],
            ["What time?", datetime(2024, 11, 11, 20, 30), time(9, 15), 12.5],
            ["Open?", True, "", ""],
            ["Q", None, "", ""],
        ],
    )
    result = read_kb_file(path)
    assert accepted(result) == {
        2: KbRow("404", "3", ("page not found", "missing page", "404 error"), ("errors", "web")),
        4: KbRow("When is the sale?", "2024-11-11", ("2024-06-18",)),
        5: KbRow("What time?", "2024-11-11 20:30", ("09:15",), ("12.5",)),
        6: KbRow("Open?", "TRUE"),
    }
    assert reasons(result) == {7: "missing answer"}


def test_xlsx_reads_the_first_sheet_with_spreadsheet_row_numbers(tmp_path: Path) -> None:
    workbook = Workbook()
    first = workbook.active
    first["A3"], first["B3"], first["C3"] = "question", "answer", "similar"
    first["A5"], first["B5"] = "Q", "A"
    other = workbook.create_sheet("Notes")
    other.append(["question", "answer", "similar"])
    other.append(["not", "this", "sheet"])
    workbook.active = 1
    path = tmp_path / "kb.xlsx"
    workbook.save(path)
    assert accepted(read_kb_file(path)) == {5: KbRow("Q", "A")}


def test_xlsx_rejections_carry_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [["question", "answer", "similar"], ["Q", "A", None], [None, None, None], ["q", "B", None]],
    )
    assert reasons(read_kb_file(path)) == {4: "duplicate of line 2"}


def test_xlsx_with_wrong_dimension_and_unsupported_extension(tmp_path: Path) -> None:
    """Some exporters write a too-small <dimension>, and Excel adds parts openpyxl warns about."""
    rows: list[list[object]] = [
        ["question", "answer", "similar"],
        ["Q", "A", "S"],
        ["Q2", "A2", ""],
    ]
    original = write_xlsx(tmp_path, rows, "original.xlsx")
    path = tmp_path / "kb.xlsx"
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<dimension ref="A1:C3" />', b'<dimension ref="A1" />')
                data = data.replace(
                    b"</worksheet>",
                    b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"/></extLst>'
                    b"</worksheet>",
                )
                assert b'ref="A1"' in data
            target.writestr(name, data)
    assert accepted(read_kb_file(path)) == {2: KbRow("Q", "A", ("S",)), 3: KbRow("Q2", "A2")}


@pytest.mark.parametrize("kind", ["junk", "zip-without-workbook", "csv-renamed", "truncated"])
def test_corrupt_xlsx(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "kb.xlsx"
    if kind == "junk":
        path.write_bytes(b"\x00\x01 this is not a workbook \xff" * 20)
    elif kind == "zip-without-workbook":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "hi")
    elif kind == "csv-renamed":
        path.write_text(HEADER + "Q,A,,\n", encoding="utf-8")
    else:
        good = write_xlsx(tmp_path, [["question", "answer", "similar"], ["Q", "A", "S"]], "g.xlsx")
        path.write_bytes(good.read_bytes()[:300])
    with pytest.raises(KbFileError, match="Excel") as error:
        read_kb_file(path)
    assert_one_sentence(error)


# --- JSON ------------------------------------------------------------------------------------


def test_json_rows_with_lists_or_strings(tmp_path: Path) -> None:
    path = write_json(
        tmp_path,
        [
            {"question": "Q1", "answer": "A1", "similar": ["S1", " S2 ", ""], "tags": ["t"]},
            {"question": "Q2", "answer": "A2", "similar": "S1\nS2|S3", "tags": "x,y，z|w"},
            {"question": "Q3", "answer": "A3", "id": 17, "similar": None},
            {"question": "Q4", "answer": "A4"},
        ],
    )
    assert accepted(read_kb_file(path)) == {
        1: KbRow("Q1", "A1", ("S1", "S2"), ("t",)),
        2: KbRow("Q2", "A2", ("S1", "S2", "S3"), ("x", "y", "z", "w")),
        3: KbRow("Q3", "A3"),
        4: KbRow("Q4", "A4"),
    }


def test_json_wrong_types_are_rejected_with_their_position(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    document = [
        {"question": "ok", "answer": "fine"},
        "just text",
        {"question": 42, "answer": "A"},
        {"question": "Q", "answer": ["A"]},
        {"question": "Q5", "answer": "A", "similar": 3},
        {"question": "Q6", "answer": "A", "similar": ["fine", 7]},
        {"question": "Q7", "answer": "A", "tags": {"a": 1}},
        {"question": None, "answer": "A"},
        {"question": "Q9", "answer": "A", "similar": [True]},
        {"question": "OK", "answer": "again"},
        {"question": "Q\u0000", "answer": "A"},
        {"question": "Q12", "answer": "A", "similar": ["\ud800"]},
    ]
    path.write_text(json.dumps(document), encoding="ascii")  # escapes keep the bad characters
    result = read_kb_file(path)
    assert reasons(result) == {
        2: "entry is text, not an object",
        3: "question must be text, not a number",
        4: "answer must be text, not a list",
        5: "similar must be a list of text, not a number",
        6: "similar item 2 must be text, not a number",
        7: "tags must be a list of text, not an object",
        8: "missing question",
        9: "similar item 1 must be text, not true/false",
        10: "duplicate of line 1",
        11: "question contains a NUL or unpaired surrogate character",
        12: "similar phrasings or tags contain a NUL or unpaired surrogate character",
    }
    assert sorted(accepted(result)) == [1]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'[{"question": "Q", "answer": ', "not valid JSON"),
        (b'{"question": "Q", "answer": "A"}', "must be a list of entries, not an object"),
        (b'"text"', "must be a list of entries, not text"),
        ('[{"question": "问题"}]'.encode("gb18030"), "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\x00\x01\x02garbage", "not valid JSON"),
    ],
    ids=["truncated", "object", "string", "gb18030", "deep", "binary"],
)
def test_corrupt_json(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "kb.json"
    path.write_bytes(data)
    with pytest.raises(KbFileError, match=match) as error:
        read_kb_file(path)
    assert_one_sentence(error)


def test_json_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"question": "Q", "answer": "A"}]).encode())
    assert accepted(read_kb_file(path)) == {1: KbRow("Q", "A")}


# --- progress --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
@pytest.mark.parametrize(("count", "expected"), [(1200, [500, 1000, 1200]), (1000, [500, 1000])])
def test_progress_is_reported(tmp_path: Path, fmt: str, count: int, expected: list[int]) -> None:
    entries = [KbRow(f"Question {i}", f"Answer {i}") for i in range(count)]
    path = tmp_path / f"kb.{fmt}"
    write_kb_file(entries, path)
    calls: list[int] = []
    result = read_kb_file(path, on_progress=calls.append)
    assert calls == expected
    assert len(result.rows) == count


def test_progress_counts_rejected_rows_too(tmp_path: Path) -> None:
    calls: list[int] = []
    read_kb_file(write_csv(tmp_path, HEADER + "Q,A,,\n,,x,\nQ,B,,\n"), on_progress=calls.append)
    assert calls == [3]


# --- writing and round trips -----------------------------------------------------------------

TRICKY = [
    KbRow(
        "=1+2",
        '-5 degrees is cold, "really"\nSecond line, with comma',
        ("=SUM(A1:A9)", "+86 21 5555 0000", "@everyone", "'=already quoted"),
        ("-minus", "@at", "标签"),
    ),
    KbRow(
        "怎么开发票？", "在订单详情页申请发票。<b>专票</b>需要税号。", ("开票", "专票"), ("发票",)
    ),
    KbRow("'=looks neutralised", "'-also", (), ()),
    KbRow("@mention", "+1 answer"),
    KbRow("Plain", "Plain answer", ("one", "two"), ("a", "b")),
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"export.{fmt}"
    write_kb_file(TRICKY, path)
    result = read_kb_file(path)
    assert result.rejected == []
    assert [parsed.row for parsed in result.rows] == TRICKY


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_round_trip_of_stored_entries(fmt: str) -> None:
    entries = [KbEntry("kb_1", "Q", "A", ("S",), ("t",)), KbEntry("kb_2", "Q2", "A2")]
    result = read_kb_bytes(write_kb_bytes(entries, fmt), fmt)
    assert [parsed.row for parsed in result.rows] == [
        KbRow("Q", "A", ("S",), ("t",)),
        KbRow("Q2", "A2"),
    ]


def test_csv_export_layout_and_formula_neutralisation(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    write_kb_file(TRICKY, path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfquestion,answer,similar,tags\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[1] == [
        "'=1+2",
        '\'-5 degrees is cold, "really"\nSecond line, with comma',
        "'=SUM(A1:A9)\n+86 21 5555 0000\n@everyone\n'=already quoted",
        "'-minus|@at|标签",
    ]
    assert rows[3][:2] == ["''=looks neutralised", "''-also"]
    assert rows[4][:2] == ["'@mention", "'+1 answer"]


def test_xlsx_export_layout_and_formula_neutralisation(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    write_kb_file(TRICKY, path)
    workbook = load_workbook(path)
    sheet = workbook.worksheets[0]
    assert [cell.value for cell in sheet[1]] == ["question", "answer", "similar", "tags"]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.column_dimensions["B"].width > sheet.column_dimensions["D"].width
    assert sheet["A2"].value == "'=1+2"
    assert sheet["B2"].value.startswith("'-5 degrees")
    assert sheet["C2"].value.startswith("'=SUM(A1:A9)\n")
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    workbook.close()


def test_xlsx_export_drops_characters_excel_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    write_kb_file([KbRow("Q\x0b", "A\x01nswer")], path)
    assert [parsed.row for parsed in read_kb_file(path).rows] == [KbRow("Q", "Answer")]


def test_json_export_layout(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    write_kb_file([KbRow("怎么退货？", "七天内。", ("退货",), ("售后",))], path)
    text = path.read_text(encoding="utf-8")
    assert "怎么退货" in text
    assert text.startswith('[\n  {\n    "question"')
    assert json.loads(text) == [
        {"question": "怎么退货？", "answer": "七天内。", "similar": ["退货"], "tags": ["售后"]}
    ]


def test_write_to_unsupported_extension(tmp_path: Path) -> None:
    with pytest.raises(KbFileError, match="Unsupported"):
        write_kb_file([KbRow("Q", "A")], tmp_path / "kb.txt")
    assert not (tmp_path / "kb.txt").exists()


# --- the demo knowledge base -----------------------------------------------------------------


def test_demo_knowledge_base_imports_cleanly() -> None:
    data = resources.files("kefu").joinpath("data/demo_kb.json").read_bytes()
    result = read_kb_bytes(data, "json")
    assert result.rejected == []
    rows = [parsed.row for parsed in result.rows]
    assert 30 <= len(rows) <= 40
    chinese = [row for row in rows if any("\u4e00" <= char <= "\u9fff" for char in row.question)]
    assert len(chinese) * 2 == len(rows)
    for row in rows:
        assert 3 <= len(row.similar) <= 6, row.question
        assert row.tags, row.question
    assert len(json.loads(data)) == len(rows)  # nothing silently dropped either
