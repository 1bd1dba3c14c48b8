"""Knowledge-base files (CSV, XLSX, JSON): parsing with per-row checks, and export."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from core.errors import InvalidInput
from core.knowledge.entries import KbEntry, KbRow
from core.spreadsheet import csv_bytes, restore_cell, safe_cell

FORMATS = ("csv", "xlsx", "json")
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 5000
MAX_SIMILAR_CHARS = 500
MAX_SIMILAR_COUNT = 200
PROGRESS_EVERY = 500

HEADER = ("question", "answer", "similar", "tags")
_HEADER_ALIASES = {
    "question": "question",
    "标准问题": "question",
    "answer": "answer",
    "答案": "answer",
    "similar": "similar",
    "相似问题": "similar",
    "tags": "tags",
    "标签": "tags",
    "answer_en": "answer_en",
    "英文答案": "answer_en",
}
_REQUIRED_COLUMNS = ("question", "answer", "similar")
_EXPECTED_HEADERS = (
    "question/标准问题, answer/答案, similar/相似问题 and optionally tags/标签, answer_en/英文答案"
)
# Exports add the English answer column only when an entry has one: files stay as they were.
HEADER_BILINGUAL = (*HEADER, "answer_en")
_SIMILAR_SEPARATORS = re.compile(r"\r\n|[\r\n|]")
_TAG_SEPARATORS = re.compile(r"\r\n|[\r\n|,，]")
# Characters no database column or export can hold; only JSON can smuggle them in.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_XLSX_WIDTHS = {"question": 40, "answer": 80, "similar": 50, "tags": 24, "answer_en": 80}
_XLSX_WRAPPED = frozenset({"answer", "similar", "answer_en"})

ProgressCallback = Callable[[int], None]


class KbFileError(InvalidInput):
    """The file as a whole cannot be read as a knowledge base; the message is one sentence."""


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """An accepted entry and where it came from.

    ``line`` is the physical line where the CSV record starts (the header is line 1), the
    spreadsheet row number for XLSX, and the 1-based position of the object in a JSON list.
    """

    line: int
    row: KbRow


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that cannot be imported and why: in plain English (``reason``) and as errors
    with a stable code each (``problems``) for an edge that words them in another language
    (``line`` as in ParsedRow)."""

    line: int
    reason: str
    problems: tuple[InvalidInput, ...] = ()


def _problem(text: str, code: str, **values: object) -> InvalidInput:
    """One reason a row cannot be imported (``kb.row.<code>``)."""
    return InvalidInput(text, code=f"kb.row.{code}", **values)


def several(problems: Sequence[InvalidInput]) -> InvalidInput:
    """Every problem of a row as one error: the only one, or ``kb.row.several`` carrying them."""
    if len(problems) == 1:
        return problems[0]
    return InvalidInput("; ".join(map(str, problems)), code="kb.row.several", parts=tuple(problems))


@dataclass(slots=True)
class KbParseResult:
    """Every row of one file, either accepted or rejected, in file order."""

    rows: list[ParsedRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(slots=True)
class _Raw:
    """One record before the checks: text as found, lists already split."""

    question: str
    answer: str
    similar: list[str]
    tags: list[str]
    answer_en: str = ""


# ---------------------------------------------------------------------------------------------
# Reading


def read_kb_file(path: Path, *, on_progress: ProgressCallback | None = None) -> KbParseResult:
    """Parse the knowledge-base file at ``path``; its extension (.csv, .xlsx, .json) is the format.

    Raises ``KbFileError`` when the file as a whole is unusable; bad rows are in ``rejected``.
    ``on_progress`` gets the number of rows read so far, every few hundred rows and at the end.
    """
    fmt = _format_of(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KbFileError(
            f"Cannot read {path.name}: {exc.strerror or exc}.",
            code="kb.file.unreadable",
            name=path.name,
        ) from exc
    return read_kb_bytes(data, fmt, on_progress=on_progress)


def read_kb_bytes(
    data: bytes, fmt: str, *, on_progress: ProgressCallback | None = None
) -> KbParseResult:
    """Parse an uploaded knowledge-base file; ``fmt`` is ``csv``, ``xlsx`` or ``json``."""
    fmt = _normalise_format(fmt)
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise KbFileError("The file is empty.", code="kb.file.empty")
    if fmt == "csv":
        records = _table_records(_csv_table(data), check_width=True)
    elif fmt == "xlsx":
        records = _table_records(_xlsx_table(data), check_width=False)
    else:
        records = _json_records(data)
    return _collect(records, on_progress)


def _format_of(path: Path) -> str:
    if not path.suffix:
        raise KbFileError(
            f"{path.name} has no extension; name it .csv, .xlsx or .json.",
            code="kb.file.no_extension",
            name=path.name,
        )
    return _normalise_format(path.suffix)


def _normalise_format(fmt: str) -> str:
    name = fmt.strip().lower().lstrip(".")
    if name in FORMATS:
        return name
    hint = " (save it from Excel as .xlsx)" if name == "xls" else ""
    raise KbFileError(
        f"Unsupported knowledge-base file type {fmt!r}{hint}; use .csv, .xlsx or .json.",
        code="kb.file.type",
        type=fmt,
    )


def _collect(
    records: Iterable[tuple[int, _Raw | list[InvalidInput]]], on_progress: ProgressCallback | None
) -> KbParseResult:
    result = KbParseResult()
    first_line_of: dict[str, int] = {}
    count = 0
    for line, record in records:
        count += 1
        if on_progress is not None and count % PROGRESS_EVERY == 0:
            on_progress(count)
        if isinstance(record, list):
            result.rejected.append(Rejection(line, "; ".join(map(str, record)), tuple(record)))
            continue
        row, reasons = _check(record)
        key = _match_key(row.question)
        if row.question and key in first_line_of:
            first = first_line_of[key]
            reasons.append(_problem(f"duplicate of line {first}", "duplicate", line=first))
        if reasons:
            result.rejected.append(Rejection(line, "; ".join(map(str, reasons)), tuple(reasons)))
        else:
            # Only accepted rows count as "first": with --skip-bad a later copy still imports.
            first_line_of[key] = line
            result.rows.append(ParsedRow(line, row))
    if count == 0:
        raise KbFileError("The file contains no entries.", code="kb.file.no_entries")
    if on_progress is not None and count % PROGRESS_EVERY != 0:
        on_progress(count)
    return result


def check_row(
    question: str,
    answer: str,
    similar: Iterable[str] = (),
    tags: Iterable[str] = (),
    answer_en: str = "",
) -> KbRow:
    """One entry written by a person (a form, the API) checked as an imported row is: the
    cleaned row, or ``InvalidInput`` naming every problem."""
    row, reasons = _check(_Raw(question, answer, list(similar), list(tags), answer_en))
    if reasons:
        raise several(reasons)
    return row


def match_key(text: str) -> str:
    """The form of a question two phrasings share when an end user would call them the same."""
    return _match_key(text)


def _check(raw: _Raw) -> tuple[KbRow, list[InvalidInput]]:
    """The cleaned row and every reason it cannot be imported (none: it can)."""
    question = raw.question.strip()
    answer = raw.answer.strip()
    answer_en = raw.answer_en.strip()
    reasons = _text_problems("question", question, MAX_QUESTION_CHARS)
    reasons += _text_problems("answer", answer, MAX_ANSWER_CHARS)
    if answer_en:
        reasons += _text_problems("answer_en", answer_en, MAX_ANSWER_CHARS)
    similar = _unique(raw.similar, exclude=question)
    for number, phrasing in enumerate(similar, start=1):
        if len(phrasing) > MAX_SIMILAR_CHARS:
            reasons.append(
                _problem(
                    f"similar phrasing {number} is longer than {MAX_SIMILAR_CHARS:,} characters "
                    f"({len(phrasing):,})",
                    "similar_too_long",
                    number=number,
                    limit=MAX_SIMILAR_CHARS,
                    length=len(phrasing),
                )
            )
            break
    if len(similar) > MAX_SIMILAR_COUNT:
        reasons.append(
            _problem(
                f"more than {MAX_SIMILAR_COUNT} similar phrasings ({len(similar):,})",
                "too_many_similar",
                limit=MAX_SIMILAR_COUNT,
                count=len(similar),
            )
        )
    tags = _unique(raw.tags)
    if any(_UNSTORABLE.search(text) for text in (*similar, *tags)):
        reasons.append(
            _problem(
                "similar phrasings or tags contain a NUL or unpaired surrogate character",
                "similar_unstorable",
            )
        )
    return KbRow(question, answer, tuple(similar), tuple(tags), answer_en), reasons


def _text_problems(name: str, text: str, limit: int) -> list[InvalidInput]:
    if not text:
        return [_problem(f"missing {name}", "missing", column=name)]
    problems = []
    if len(text) > limit:
        problems.append(
            _problem(
                f"{name} is longer than {limit:,} characters ({len(text):,})",
                "too_long",
                column=name,
                limit=limit,
                length=len(text),
            )
        )
    if _UNSTORABLE.search(text):
        problems.append(
            _problem(
                f"{name} contains a NUL or unpaired surrogate character",
                "unstorable",
                column=name,
            )
        )
    return problems


def _unique(items: Iterable[str], *, exclude: str = "") -> list[str]:
    """Trimmed, non-blank items without repeats (nor ``exclude``), first spelling kept."""
    seen = {_match_key(exclude)} if exclude else set()
    kept = []
    for item in items:
        text = item.strip()
        key = _match_key(text)
        if text and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def _match_key(text: str) -> str:
    # "Reset password?" and "reset  password？" are the same question to an end user.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _split_similar(cell: str) -> list[str]:
    return _SIMILAR_SEPARATORS.split(cell)


def _split_tags(cell: str) -> list[str]:
    return _TAG_SEPARATORS.split(cell)


# ---------------------------------------------------------------------------------------------
# CSV and XLSX: a header row naming the columns, then one entry per row


def _table_records(
    table: Iterable[tuple[int, list[str]]], *, check_width: bool
) -> Iterator[tuple[int, _Raw | list[InvalidInput]]]:
    columns: dict[str, int] | None = None
    width = 0
    for line, raw_cells in table:
        cells = [restore_cell(cell) for cell in raw_cells]
        if not any(cell.strip() for cell in cells):
            continue
        if columns is None:
            columns, width = _header_columns(cells), len(cells)
            continue
        if check_width and any(cell.strip() for cell in cells[width:]):
            yield line, [_too_wide(len(cells), width)]
        else:
            yield line, _table_raw(cells, columns)
    if columns is None:
        raise KbFileError("The file is empty.", code="kb.file.empty")


def _too_wide(cells: int, width: int) -> InvalidInput:
    # Almost always an unquoted comma inside an answer: importing would cut the answer short.
    return _problem(
        f"row has {cells} cells but the header has {width}; "
        "put cells that contain commas in double quotes",
        "too_wide",
        cells=cells,
        width=width,
    )


def _header_columns(cells: Sequence[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = _HEADER_ALIASES.get(_header_key(cell))
        if name is None:
            continue  # extra columns (ids, notes, categories) are allowed and ignored
        if name in columns:
            raise KbFileError(
                f"The header row has two {name} columns (columns {columns[name] + 1} "
                f"and {index + 1}).",
                code="kb.file.header_twice",
                column=name,
                first=columns[name] + 1,
                second=index + 1,
            )
        columns[name] = index
    missing = [name for name in _REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise KbFileError(
            f"The header row has no {_or_list(missing)} column; expected {_EXPECTED_HEADERS}.",
            code="kb.file.header_missing",
            columns=", ".join(missing),
        )
    return columns


def _or_list(names: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _header_key(cell: str) -> str:
    return "".join(unicodedata.normalize("NFKC", cell).replace("\ufeff", "").casefold().split())


def _table_raw(cells: Sequence[str], columns: dict[str, int]) -> _Raw:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    return _Raw(
        question=cell("question"),
        answer=cell("answer"),
        similar=_split_similar(cell("similar")),
        tags=_split_tags(cell("tags")),
        answer_en=cell("answer_en"),
    )


def _csv_table(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Records with the physical line each starts on, quoted multi-line cells included."""
    text = _decode_csv(data)
    # strict: an unterminated quote would otherwise swallow the rest of the file silently.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise KbFileError(
            f"The CSV file is malformed at line {line}: {exc}.",
            code="kb.file.csv_malformed",
            line=line,
        ) from exc


def _decode_csv(data: bytes) -> str:
    if b"\x00" in data:
        raise KbFileError(
            "The file is not a CSV text file (it contains binary data).", code="kb.file.binary"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _decode_gb18030(data)
    if _looks_binary(text):
        raise KbFileError(
            "The file is not a CSV text file (it contains binary data).", code="kb.file.binary"
        )
    return text


def _decode_gb18030(data: bytes) -> str:
    # Excel in a Chinese locale saves "CSV" in the ANSI code page, which GB18030 covers.
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise KbFileError(
            'The CSV file is neither UTF-8 nor GB18030 text; save it as "CSV UTF-8".',
            code="kb.file.encoding",
        ) from None


def _looks_binary(text: str) -> bool:
    # GB18030 decodes most byte soup, and a binary file can be valid UTF-8: but real text has
    # next to no control characters (a few strays, say from a word processor, are tolerated).
    controls = len(_CONTROL_CHARACTERS.findall(text))
    return controls > 8 and controls * 100 > len(text)


def _delimiter(text: str) -> str:
    """Comma, or the semicolon/tab a European or "text" export used on the header line."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    if "," in header:
        return ","
    return max((",", ";", "\t"), key=header.count)


def _xlsx_table(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Rows of the first worksheet with their spreadsheet row numbers, cells as text."""
    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel features it drops (validation, styles); irrelevant here.
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise KbFileError(
            "The file is not a valid Excel workbook (.xlsx).", code="kb.file.not_xlsx"
        ) from exc
    try:
        if not workbook.worksheets:
            raise KbFileError("The Excel workbook has no worksheet.", code="kb.file.no_sheet")
        sheet = workbook.worksheets[0]
        # Some exporters write a wrong <dimension>; trusting it would drop rows silently.
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        number = 0
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = next(rows, None)
            if values is None:
                return
            number += 1
            yield number, [_cell_text(value) for value in values]
    except KbFileError:
        raise
    except Exception as exc:
        raise KbFileError(
            "The Excel workbook is damaged and cannot be read.", code="kb.file.damaged"
        ) from exc
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    """A spreadsheet value as the text a person sees in the cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    return str(value)


# ---------------------------------------------------------------------------------------------
# JSON: a list of objects with the English keys


def _json_records(data: bytes) -> Iterator[tuple[int, _Raw | list[InvalidInput]]]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise KbFileError(
            "The JSON file is not UTF-8 text.", code="kb.file.json_encoding"
        ) from None
    except json.JSONDecodeError as exc:
        raise KbFileError(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            code="kb.file.json_invalid",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:
        raise KbFileError(
            "The JSON file is nested too deeply to be a knowledge base.", code="kb.file.json_deep"
        ) from None
    if not isinstance(document, list):
        raise KbFileError(
            f"The JSON file must be a list of entries, not {_json_type(document)}.",
            code="kb.file.json_not_list",
            kind=_json_type(document),
        )
    for position, item in enumerate(document, start=1):
        yield position, _json_raw(item)


def _json_raw(item: object) -> _Raw | list[InvalidInput]:
    if not isinstance(item, dict):
        kind = _json_type(item)
        return [_problem(f"entry is {kind}, not an object", "not_object", kind=kind)]
    problems: list[InvalidInput] = []
    question = _json_text(item, "question", problems)
    answer = _json_text(item, "answer", problems)
    similar = _json_list(item, "similar", _split_similar, problems)
    tags = _json_list(item, "tags", _split_tags, problems)
    answer_en = _json_text(item, "answer_en", problems)
    if problems:
        return problems
    return _Raw(question, answer, similar, tags, answer_en)


def _json_text(item: dict[str, object], key: str, problems: list[InvalidInput]) -> str:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value or ""
    kind = _json_type(value)
    problems.append(_problem(f"{key} must be text, not {kind}", "not_text", column=key, kind=kind))
    return ""


def _json_list(
    item: dict[str, object],
    key: str,
    split: Callable[[str], list[str]],
    problems: list[InvalidInput],
) -> list[str]:
    value = item.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return split(value)
    if isinstance(value, list):
        for position, element in enumerate(value, start=1):
            if not isinstance(element, str):
                kind = _json_type(element)
                problems.append(
                    _problem(
                        f"{key} item {position} must be text, not {kind}",
                        "item_not_text",
                        column=key,
                        number=position,
                        kind=kind,
                    )
                )
                return []
        return value
    kind = _json_type(value)
    problems.append(
        _problem(f"{key} must be a list of text, not {kind}", "not_list", column=key, kind=kind)
    )
    return []


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


# ---------------------------------------------------------------------------------------------
# Writing


def write_kb_file(entries: Iterable[KbRow | KbEntry], path: Path) -> None:
    """Export ``entries`` to ``path`` in the format its extension names; imports back the same."""
    path.write_bytes(write_kb_bytes(entries, _format_of(path)))


def write_kb_bytes(entries: Iterable[KbRow | KbEntry], fmt: str) -> bytes:
    """The bytes of a knowledge-base file (``csv``, ``xlsx`` or ``json``) holding ``entries``."""
    fmt = _normalise_format(fmt)
    entries = list(entries)
    header = HEADER_BILINGUAL if any(e.answer_en for e in entries) else HEADER
    if fmt == "csv":
        rows = (
            [_keep_apostrophe(cell) for cell in _table_cells(entry, header)] for entry in entries
        )
        return csv_bytes(header, rows)
    if fmt == "xlsx":
        return _xlsx_bytes(entries, header)
    return _json_bytes(entries)


def _table_cells(entry: KbRow | KbEntry, header: Sequence[str] = HEADER) -> tuple[str, ...]:
    cells = (entry.question, entry.answer, "\n".join(entry.similar), "|".join(entry.tags))
    return (*cells, entry.answer_en) if len(header) > len(HEADER) else cells


def _keep_apostrophe(cell: str) -> str:
    # Text that already looks neutralised ("'=x") gets one more apostrophe, which the import
    # removes again, so that every text survives a round trip.
    return "'" + cell if restore_cell(cell) != cell else cell


def _xlsx_bytes(entries: Iterable[KbRow | KbEntry], header: Sequence[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Knowledge base"
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for entry in entries:
        sheet.append([_xlsx_cell(cell) for cell in _table_cells(entry, header)])
    for column, name in enumerate(header, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = _XLSX_WIDTHS[name]
        if name in _XLSX_WRAPPED:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.alignment = wrap
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(text: str) -> str:
    # XLSX cannot hold most C0 control characters; dropping them beats refusing the export.
    return safe_cell(_keep_apostrophe(ILLEGAL_CHARACTERS_RE.sub("", text)))


def _json_bytes(entries: Iterable[KbRow | KbEntry]) -> bytes:
    document = [
        {
            "question": entry.question,
            "answer": entry.answer,
            "similar": list(entry.similar),
            "tags": list(entry.tags),
            **({"answer_en": entry.answer_en} if entry.answer_en else {}),
        }
        for entry in entries
    ]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
