"""The ``kefu`` command line (PROTOCOL.md, "CLI"): JSON on stdout, errors on stderr."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlmodel import Session
from sqlmodel import select as orm_select
from typer.testing import Result

from core.chat import conversations as units
from core.chat.conversations import Recorded, Speaker, UnitPolicy
from core.chat.frames import EndReason
from core.db.engine import Database
from core.db.tables import ApiKey, Conversation, KbEntryRecord, KeyKind
from core.licensing.licensees import authenticate_key
from testkit.cli import assert_clean_error, one_json

BOM = b"\xef\xbb\xbf"
USAGE_HEADER = "id,started_at,ended_at,end_reason,billable,test,messages,end_user"
ORIGIN = "https://shop.example.com"


@pytest.fixture
def licensee(kefu: Callable[..., Result]) -> dict[str, Any]:
    return one_json(kefu("licensee", "create", "--name", "Shop", "--origin", ORIGIN, "--json"))


@pytest.fixture
def database(cli_url: str) -> Iterator[Database]:
    db = Database(cli_url, sqlite_synchronous="NORMAL")
    yield db
    db.close()


# ------------------------------------------------------------------------------ licensees


def test_licensee_create_json_prints_one_object_with_the_keys(
    kefu: Callable[..., Result], database: Database
) -> None:
    result = kefu(
        "licensee",
        "create",
        "--name",
        "Shop",
        "--origin",
        ORIGIN,
        "--origin",
        "https://*.shop.cn",
        "--unit-price",
        "0.45",
        "--start",
        "2026-01-01",
        "--end",
        "2026-12-31",
        "--json",
    )
    data = one_json(result)
    assert set(data) == {"id", "site_key", "test_site_key", "secret_key"}
    assert data["site_key"].startswith("pk_live_")
    assert data["test_site_key"].startswith("pk_test_")
    assert data["secret_key"].startswith("sk_live_")
    with database.read_session() as session:
        ctx = authenticate_key(session, data["secret_key"], {KeyKind.SECRET})
        assert ctx.licensee.id == data["id"]
        assert ctx.origins == ("https://*.shop.cn", ORIGIN)


def test_licensee_list_and_show_json(kefu: Callable[..., Result], licensee: dict[str, Any]) -> None:
    other = one_json(kefu("licensee", "create", "--name", "Other", "--origin", ORIGIN, "--json"))

    listed = one_json(kefu("licensee", "list", "--json"))
    assert [(r["id"], r["name"], r["status"]) for r in listed["licensees"]] == [
        (licensee["id"], "Shop", "active"),
        (other["id"], "Other", "active"),
    ]

    shown = one_json(kefu("licensee", "show", licensee["id"], "--json"))
    assert shown["id"] == licensee["id"]
    assert shown["name"] == "Shop"
    assert shown["timezone"] == "Asia/Shanghai"
    assert shown["origins"] == [ORIGIN]
    assert sorted(k["kind"] for k in shown["keys"]) == ["live", "secret", "test"]
    # The secret key is never shown again.
    assert licensee["secret_key"] not in json.dumps(shown)
    assert licensee["secret_key"][12:] not in kefu("licensee", "show", licensee["id"]).stdout


def test_licensee_create_with_a_bad_origin_fails_cleanly(kefu: Callable[..., Result]) -> None:
    result = kefu("licensee", "create", "--name", "X", "--origin", "ftp://x", "--json", ok=False)
    assert_clean_error(result)
    assert one_json(kefu("licensee", "list", "--json")) == {"licensees": []}


def test_licensee_create_with_a_bad_idle_timeout_fails_cleanly(
    kefu: Callable[..., Result],
) -> None:
    result = kefu(
        "licensee",
        "create",
        "--name",
        "X",
        "--origin",
        ORIGIN,
        "--idle-minutes",
        "4",
        "--json",
        ok=False,
    )
    assert_clean_error(result)


# ------------------------------------------------------------------------------ widget look


def test_licensee_configure_saves_and_prints_the_widget_config(
    kefu: Callable[..., Result], licensee: dict[str, Any]
) -> None:
    shown = one_json(kefu("licensee", "show", licensee["id"], "--json"))
    assert (shown["title"], shown["greeting"], shown["color"], shown["position"]) == (
        "Shop",
        "",
        "#2563eb",
        "right",
    )
    data = one_json(
        kefu(
            "licensee",
            "configure",
            licensee["id"],
            "--title",
            "Shop help",
            "--greeting",
            "欢迎光临",
            "--color",
            "#1F2",
            "--position",
            "left",
            "--json",
        )
    )
    assert data["id"] == licensee["id"]
    assert (data["title"], data["greeting"], data["color"], data["position"]) == (
        "Shop help",
        "欢迎光临",
        "#1f2",
        "left",
    )
    # The config a welcome carries, in the licensee's own language.
    assert data["config"]["title"] == "Shop help"
    assert data["config"]["theme"] == {"color": "#1f2", "position": "left"}
    assert data["config"]["attribution"].startswith("技术支持：")
    shown = one_json(kefu("licensee", "show", licensee["id"], "--json"))
    assert (shown["title"], shown["greeting"], shown["color"], shown["position"]) == (
        "Shop help",
        "欢迎光临",
        "#1f2",
        "left",
    )

    # Only the given options change; without --json it prints what the widget shows.
    text = kefu("licensee", "configure", licensee["id"], "--position", "right").stdout
    assert "position: right" in text and "color: #1f2" in text and "title: Shop help" in text


@pytest.mark.parametrize(
    "args",
    [
        ["--color", "red"],
        ["--color", "#12345"],
        ["--color", "#fff;background:url(x)"],
        ["--title", "x" * 101],
        ["--title", "tab\there"],
        ["--greeting", "x" * 501],
        ["--greeting", "bell\x07"],
        ["--position", "middle"],
    ],
)
def test_licensee_configure_refuses_bad_values_cleanly(
    kefu: Callable[..., Result], licensee: dict[str, Any], args: list[str]
) -> None:
    assert_clean_error(kefu("licensee", "configure", licensee["id"], *args, "--json", ok=False))
    shown = one_json(kefu("licensee", "show", licensee["id"], "--json"))
    assert (shown["title"], shown["color"], shown["position"]) == ("Shop", "#2563eb", "right")


def test_licensee_configure_of_an_unknown_licensee_is_a_clean_error(
    kefu: Callable[..., Result],
) -> None:
    result = kefu("licensee", "configure", "lic_nope", "--title", "x", "--json", ok=False)
    assert_clean_error(result)
    assert "lic_nope" in result.stderr


# ------------------------------------------------------------------------------ identity


def test_identity_secret_is_stable_until_rotated(
    kefu: Callable[..., Result], licensee: dict[str, Any]
) -> None:
    first = one_json(kefu("licensee", "identity-secret", licensee["id"], "--json"))
    assert set(first) == {"id", "identity_secret", "epoch", "rotated"}
    assert first["id"] == licensee["id"]
    assert first["epoch"] == 0 and first["rotated"] is False
    secret = first["identity_secret"]
    assert secret.startswith("idv_") and len(secret) == 4 + 64
    int(secret[4:], 16)
    assert kefu("licensee", "identity-secret", licensee["id"]).stdout.strip() == secret

    rotated = one_json(kefu("licensee", "identity-secret", licensee["id"], "--rotate", "--json"))
    assert rotated["epoch"] == 1 and rotated["rotated"] is True
    assert rotated["identity_secret"] != secret
    human = kefu("licensee", "identity-secret", licensee["id"], "--rotate")
    assert human.stdout.strip() not in (secret, rotated["identity_secret"])
    assert "no longer verify" in human.stderr
    assert one_json(kefu("licensee", "show", licensee["id"], "--json"))["identity_epoch"] == 2
    # The secret is derived, never stored: the database does not hold it.
    assert secret not in kefu("licensee", "show", licensee["id"], "--json").stdout


def test_identity_secrets_differ_between_licensees(
    kefu: Callable[..., Result], licensee: dict[str, Any]
) -> None:
    other = one_json(kefu("licensee", "create", "--name", "Other", "--origin", ORIGIN, "--json"))
    a = one_json(kefu("licensee", "identity-secret", licensee["id"], "--json"))
    b = one_json(kefu("licensee", "identity-secret", other["id"], "--json"))
    assert a["identity_secret"] != b["identity_secret"]


def test_identity_secret_of_an_unknown_licensee_is_a_clean_error(
    kefu: Callable[..., Result],
) -> None:
    assert_clean_error(kefu("licensee", "identity-secret", "lic_nope", "--json", ok=False))
    assert_clean_error(kefu("licensee", "identity-secret", "lic_nope", "--rotate", ok=False))


# ------------------------------------------------------------------------------ knowledge base

ROWS = [
    ("How do I return an item?", "Within 7 days, unused.", "return|refund", "after-sales"),
    ("运费多少？", "满99元包邮。", "包邮吗\n邮费", "物流"),
    ("Opening hours?", "9:00-18:00, Monday to Friday.", "", ""),
]

KbWriter = Callable[[Path, Sequence[tuple[str, ...]]], Path]


def write_csv(
    path: Path, rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header or ("question", "answer", "similar", "tags"))
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def write_xlsx(path: Path, rows: Sequence[tuple[str, ...]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["标准问题", "答案", "相似问题", "标签"])
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def write_json(path: Path, rows: Sequence[tuple[str, ...]]) -> Path:
    items = [
        {
            "question": q,
            "answer": a,
            "similar": [s for s in sim.replace("|", "\n").split("\n") if s],
            "tags": [t for t in tags.split("|") if t],
        }
        for q, a, sim, tags in rows
    ]
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


def kb_entries(db: Database, licensee_id: str) -> dict[str, tuple[str, list[str], list[str]]]:
    with db.read_session() as session:
        rows = session.exec(
            orm_select(KbEntryRecord).where(KbEntryRecord.licensee_id == licensee_id)
        )
        return {r.question: (r.answer, list(r.similar), list(r.tags)) for r in rows}


@pytest.mark.parametrize("writer", [write_csv, write_xlsx, write_json], ids=["csv", "xlsx", "json"])
def test_kb_import_counts_added_then_updated(
    kefu: Callable[..., Result],
    licensee: dict[str, Any],
    database: Database,
    tmp_path: Path,
    writer: KbWriter,
) -> None:
    suffixes: dict[KbWriter, str] = {write_csv: "csv", write_xlsx: "xlsx", write_json: "json"}
    suffix = suffixes[writer]
    path = writer(tmp_path / f"kb.{suffix}", ROWS)

    first = one_json(kefu("kb", "import", "--licensee", licensee["id"], str(path), "--json"))
    assert first == {"added": 3, "updated": 0, "unchanged": 0, "rejected": []}
    stored = kb_entries(database, licensee["id"])
    assert stored["How do I return an item?"] == (
        "Within 7 days, unused.",
        ["return", "refund"],
        ["after-sales"],
    )
    assert stored["运费多少？"] == ("满99元包邮。", ["包邮吗", "邮费"], ["物流"])

    same = one_json(kefu("kb", "import", "--licensee", licensee["id"], str(path), "--json"))
    assert same == {"added": 0, "updated": 0, "unchanged": 3, "rejected": []}
    # A person reading it sees that every row was read and found as it is.
    said = kefu("kb", "import", "--licensee", licensee["id"], str(path)).stdout
    assert said == "added 0, updated 0, unchanged 3, rejected 0\n"

    changed = [(*ROWS[0][:1], "Within 30 days.", *ROWS[0][2:]), ROWS[1], ("New?", "Yes.", "", "")]
    path = writer(tmp_path / f"kb2.{suffix}", changed)
    again = one_json(kefu("kb", "import", "--licensee", licensee["id"], str(path), "--json"))
    assert again == {"added": 1, "updated": 1, "unchanged": 1, "rejected": []}
    stored = kb_entries(database, licensee["id"])
    assert len(stored) == 4
    assert stored["How do I return an item?"][0] == "Within 30 days."


def test_kb_import_with_a_bad_row_imports_nothing(
    kefu: Callable[..., Result], licensee: dict[str, Any], database: Database, tmp_path: Path
) -> None:
    rows = [ROWS[0], ("Missing answer?", "", "", ""), ROWS[2]]
    path = write_csv(tmp_path / "kb.csv", rows)

    result = kefu("kb", "import", "--licensee", licensee["id"], str(path), "--json", ok=False)

    assert result.exit_code != 0
    data = one_json(result)
    assert data["added"] == 0 and data["updated"] == 0
    assert len(data["rejected"]) == 1
    assert set(data["rejected"][0]) == {"line", "reason"}
    assert data["rejected"][0]["line"] == 3  # header is line 1
    assert "answer" in data["rejected"][0]["reason"]
    assert kb_entries(database, licensee["id"]) == {}

    skipped = one_json(
        kefu("kb", "import", "--licensee", licensee["id"], str(path), "--skip-bad", "--json")
    )
    assert skipped["added"] == 2
    assert [r["line"] for r in skipped["rejected"]] == [3]
    assert set(kb_entries(database, licensee["id"])) == {ROWS[0][0], ROWS[2][0]}


def test_kb_import_reports_the_xlsx_row_and_json_position(
    kefu: Callable[..., Result], licensee: dict[str, Any], tmp_path: Path
) -> None:
    xlsx = write_xlsx(tmp_path / "kb.xlsx", [ROWS[0], ROWS[1], ("", "orphan answer", "", "")])
    result = kefu("kb", "import", "--licensee", licensee["id"], str(xlsx), "--json", ok=False)
    assert result.exit_code != 0
    assert [r["line"] for r in one_json(result)["rejected"]] == [4]

    path = tmp_path / "kb.json"
    path.write_text(
        json.dumps([{"question": "Q", "answer": "A"}, {"question": "Q2", "answer": 5}]),
        encoding="utf-8",
    )
    result = kefu("kb", "import", "--licensee", licensee["id"], str(path), "--json", ok=False)
    assert result.exit_code != 0
    assert [r["line"] for r in one_json(result)["rejected"]] == [2]


def test_kb_import_without_json_explains_the_rejection(
    kefu: Callable[..., Result], licensee: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "kb.csv", [ROWS[0], ("Missing answer?", "", "", "")])
    result = kefu("kb", "import", "--licensee", licensee["id"], str(path), ok=False)
    assert result.exit_code != 0
    assert "line 3" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("kb.xlsx", b"this is not a zip file at all"),
        ("kb.json", b'[{"question": "Q", "answer": '),
        ("kb.csv", b'question,answer,similar\n"unterminated,a,b\n'),
        ("kb.csv", b"\x00\x01\x02binary"),
        ("kb.csv", b"foo,bar\n1,2\n"),
        ("kb.xls", b"old excel"),
        ("kb.csv", b""),
    ],
    ids=["xlsx", "json", "csv-quote", "csv-binary", "csv-header", "xls", "empty"],
)
def test_a_corrupt_file_is_a_clean_error(
    kefu: Callable[..., Result],
    licensee: dict[str, Any],
    tmp_path: Path,
    name: str,
    content: bytes,
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = kefu("kb", "import", "--licensee", licensee["id"], str(path), "--json", ok=False)
    assert_clean_error(result)
    assert result.stderr.startswith("error:")


def test_kb_import_of_a_missing_file_is_a_clean_error(
    kefu: Callable[..., Result], licensee: dict[str, Any], tmp_path: Path
) -> None:
    result = kefu(
        "kb",
        "import",
        "--licensee",
        licensee["id"],
        str(tmp_path / "nope.csv"),
        "--json",
        ok=False,
    )
    assert_clean_error(result)


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the pty is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_kb_import_of_a_missing_file_at_a_terminal_is_a_clean_error(
    licensee: dict[str, Any], tmp_path: Path
) -> None:
    """Regression: with stderr on a terminal (an operator typing the command, without
    --json) the progress-bar check used to call ``file.stat()`` before the file was read, so a
    missing file ended in a FileNotFoundError traceback instead of ``error: ...``."""
    pty = pytest.importorskip("pty")
    script = Path(sys.executable).with_name("kefu")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [str(script), "kb", "import", "--licensee", licensee["id"], str(tmp_path / "nope.csv")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=60,
            check=False,
        )
        os.close(follower)
        follower = -1
        err = read_all(leader).decode("utf-8", "replace")
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode != 0
    assert "error:" in err
    assert "Traceback" not in err and "FileNotFoundError" not in err


def test_kb_import_for_an_unknown_licensee_is_a_clean_error(
    kefu: Callable[..., Result], licensee: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "kb.csv", ROWS)
    result = kefu("kb", "import", "--licensee", "lic_nope", str(path), "--json", ok=False)
    assert_clean_error(result)


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "json"])
def test_kb_export_round_trips(
    kefu: Callable[..., Result],
    licensee: dict[str, Any],
    database: Database,
    tmp_path: Path,
    suffix: str,
) -> None:
    tricky = [*ROWS, ("=1+1?", "'=quoted' stays", "-minus\n@at", "+plus")]
    path = write_json(tmp_path / "in.json", tricky)
    kefu("kb", "import", "--licensee", licensee["id"], str(path), "--json")
    before = kb_entries(database, licensee["id"])

    out = tmp_path / f"out.{suffix}"
    exported = one_json(kefu("kb", "export", "--licensee", licensee["id"], str(out), "--json"))
    assert exported["entries"] == 4
    assert out.stat().st_size > 0

    # Re-importing the export into the same licensee changes nothing...
    same = one_json(kefu("kb", "import", "--licensee", licensee["id"], str(out), "--json"))
    assert same == {"added": 0, "updated": 0, "unchanged": 4, "rejected": []}
    # ...and into a fresh licensee it rebuilds exactly the same knowledge base.
    other = one_json(kefu("licensee", "create", "--name", "B", "--origin", ORIGIN, "--json"))
    added = one_json(kefu("kb", "import", "--licensee", other["id"], str(out), "--json"))
    assert added == {"added": 4, "updated": 0, "unchanged": 0, "rejected": []}
    assert kb_entries(database, other["id"]) == before


# ------------------------------------------------------------------------------ origins and keys


def test_origin_add_and_remove(kefu: Callable[..., Result], licensee: dict[str, Any]) -> None:
    added = one_json(
        kefu("origin", "add", "--licensee", licensee["id"], "HTTPS://*.Example.org:443", "--json")
    )
    assert added == {"licensee": licensee["id"], "origin": "https://*.example.org"}
    shown = one_json(kefu("licensee", "show", licensee["id"], "--json"))
    assert shown["origins"] == ["https://*.example.org", ORIGIN]

    removed = one_json(kefu("origin", "remove", "--licensee", licensee["id"], ORIGIN, "--json"))
    assert removed["origin"] == ORIGIN and removed["removed"] is True
    shown = one_json(kefu("licensee", "show", licensee["id"], "--json"))
    assert shown["origins"] == ["https://*.example.org"]

    assert_clean_error(kefu("origin", "remove", "--licensee", licensee["id"], ORIGIN, ok=False))
    assert_clean_error(kefu("origin", "add", "--licensee", licensee["id"], "nope", ok=False))
    assert_clean_error(kefu("origin", "add", "--licensee", "lic_nope", ORIGIN, ok=False))


def test_key_create_test_and_revoke(
    kefu: Callable[..., Result], licensee: dict[str, Any], database: Database
) -> None:
    created = one_json(
        kefu("key", "create", "--licensee", licensee["id"], "--kind", "test", "--json")
    )
    assert created["kind"] == "test"
    assert created["licensee"] == licensee["id"]
    token = created["key"]
    assert token.startswith("pk_test_")
    with database.read_session() as session:
        ctx = authenticate_key(session, token, {KeyKind.LIVE, KeyKind.TEST})
    assert ctx.test is True and ctx.licensee.id == licensee["id"]

    revoked = one_json(kefu("key", "revoke", token, "--json"))
    assert revoked["revoked"] is True and revoked["licensee"] == licensee["id"]
    with database.read_session() as session:
        with pytest.raises(Exception, match="revoked"):
            authenticate_key(session, token, {KeyKind.LIVE, KeyKind.TEST})
        # The licensee's other keys still work.
        authenticate_key(session, licensee["site_key"], {KeyKind.LIVE})

    shown = one_json(kefu("licensee", "show", licensee["id"], "--json"))
    by_id = {k["id"]: k for k in shown["keys"]}
    assert by_id[revoked["id"]]["revoked"] is True
    assert sum(k["revoked"] for k in shown["keys"]) == 1


def test_key_revoke_by_id_and_bad_kind(
    kefu: Callable[..., Result], licensee: dict[str, Any], database: Database
) -> None:
    with database.read_session() as session:
        key = session.exec(
            orm_select(ApiKey).where(
                ApiKey.licensee_id == licensee["id"],
                ApiKey.kind == KeyKind.SECRET,
            )
        ).one()
    one_json(kefu("key", "revoke", key.id, "--json"))
    with database.read_session() as session, pytest.raises(Exception, match="revoked"):
        authenticate_key(session, licensee["secret_key"], {KeyKind.SECRET})

    assert_clean_error(kefu("key", "revoke", "sk_live_unknown", "--json", ok=False))
    assert_clean_error(
        kefu("key", "create", "--licensee", licensee["id"], "--kind", "gold", "--json", ok=False)
    )
    assert_clean_error(
        kefu("key", "create", "--licensee", "lic_nope", "--kind", "live", "--json", ok=False)
    )


# ------------------------------------------------------------------------------ suspension


def live_speaker(db: Database, licensee_id: str, visitor: str) -> Speaker:
    k = ApiKey.__table__.c  # type: ignore[attr-defined]
    key_id = db.read(
        lambda conn: conn.execute(
            select(k.id).where(k.licensee_id == licensee_id, k.kind == "live")
        ).scalar_one()
    )
    return Speaker(licensee_id, visitor, key_id, False, False, UnitPolicy())


def test_suspend_ends_open_conversations_and_resume(
    kefu: Callable[..., Result], licensee: dict[str, Any], database: Database
) -> None:
    now = datetime.now(UTC)
    for visitor in ("v1", "v2"):
        who = live_speaker(database, licensee["id"], visitor)

        def record(conn: Session, who: Speaker = who) -> Recorded:
            return units.record_visitor_message(conn, who, "c1", "hi", now)

        database.writer.run(record)

    suspended = one_json(kefu("licensee", "suspend", licensee["id"], "--json"))

    assert suspended == {"id": licensee["id"], "status": "suspended", "ended_conversations": 2}
    c = Conversation.__table__.c  # type: ignore[attr-defined]
    rows = database.read(
        lambda conn: conn.execute(
            select(c.ended_at, c.end_reason).where(c.licensee_id == licensee["id"])
        ).all()
    )
    assert len(rows) == 2
    assert all(r.end_reason == "suspended" and r.ended_at is not None for r in rows)
    assert one_json(kefu("licensee", "show", licensee["id"], "--json"))["status"] == "suspended"

    resumed = one_json(kefu("licensee", "resume", licensee["id"], "--json"))
    assert resumed["status"] == "active"
    assert one_json(kefu("licensee", "show", licensee["id"], "--json"))["status"] == "active"


def test_suspend_of_an_unknown_licensee_is_a_clean_error(
    kefu: Callable[..., Result], licensee: dict[str, Any]
) -> None:
    assert_clean_error(kefu("licensee", "suspend", "lic_nope", "--json", ok=False))
    assert_clean_error(kefu("licensee", "show", "lic_nope", "--json", ok=False))


# ------------------------------------------------------------------------------ usage


def test_usage_prints_csv_with_bom_and_header(
    kefu: Callable[..., Result], licensee: dict[str, Any], database: Database
) -> None:
    who = live_speaker(database, licensee["id"], "v1")
    # 30 Nov 16:30 UTC is already 1 December in Shanghai: not a November unit.
    times = [
        datetime(2026, 11, 3, 2, 0, tzinfo=UTC),
        datetime(2026, 10, 31, 16, 0, tzinfo=UTC),  # 1 November 00:00 Shanghai
        datetime(2026, 11, 30, 16, 30, tzinfo=UTC),
    ]

    def seed(conn: Any) -> list[str]:
        ids = []
        for n, at in enumerate(times):
            rec = units.record_visitor_message(conn, who, f"c{n}", '=HYPERLINK("x")', at)
            units.end_open(conn, licensee["id"], "v1", EndReason.CLOSED, at)
            ids.append(rec.conversation.id)
        return ids

    ids = database.writer.run(seed)

    result = kefu("usage", "--licensee", licensee["id"], "--month", "2026-11")

    body = result.stdout_bytes
    assert body.startswith(BOM)
    lines = list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"), newline="")))
    assert ",".join(lines[0]) == USAGE_HEADER
    assert [row[0] for row in lines[1:]] == [ids[1], ids[0]]
    first = dict(zip(lines[0], lines[1], strict=True))
    assert first["started_at"] == "2026-11-01T00:00:00+08:00"
    assert first["end_reason"] == "closed"
    assert (first["billable"], first["test"], first["messages"]) == ("true", "false", "1")
    assert first["end_user"] == ""  # an anonymous visitor
    assert "HYPERLINK" not in body.decode("utf-8")


def test_usage_to_a_file(
    kefu: Callable[..., Result], licensee: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "usage.csv"
    result = kefu("usage", "--licensee", licensee["id"], "--month", "2026-11", "-o", str(out))
    assert out.read_bytes() == BOM + (USAGE_HEADER + "\r\n").encode()
    assert "0 billable units" in result.stderr


@pytest.mark.parametrize("month", ["2026-13", "26-01", "abc", "2026-1", ""])
def test_usage_with_a_bad_month_is_a_clean_error(
    kefu: Callable[..., Result], licensee: dict[str, Any], month: str
) -> None:
    assert_clean_error(kefu("usage", "--licensee", licensee["id"], "--month", month, ok=False))


@pytest.mark.parametrize("month", ["2026-+1", "+026-01", "2_26-01", "２０２６-01", "2026-1 "])
def test_usage_with_a_month_that_is_not_yyyy_mm_is_refused(
    kefu: Callable[..., Result], licensee: dict[str, Any], month: str
) -> None:
    """Regression: month parsing with int() accepted signs, '_', spaces and non-ASCII
    digits, so these were read as some month instead of being refused."""
    assert_clean_error(kefu("usage", "--licensee", licensee["id"], "--month", month, ok=False))


def test_usage_with_an_out_of_range_month_is_a_clean_error(
    kefu: Callable[..., Result], licensee: dict[str, Any]
) -> None:
    """Regression: 9999-12 looks like YYYY-MM but its end bound (year 10000) raised a bare
    ValueError: a traceback instead of a message."""
    result = kefu("usage", "--licensee", licensee["id"], "--month", "9999-12", ok=False)
    assert_clean_error(result)


def test_usage_for_an_unknown_licensee_is_a_clean_error(kefu: Callable[..., Result]) -> None:
    assert_clean_error(kefu("usage", "--licensee", "lic_nope", "--month", "2026-11", ok=False))


# ------------------------------------------------------------------------------ the script


def test_installed_console_script_runs() -> None:
    script = Path(sys.executable).with_name("kefu")
    assert script.exists()
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    for command in ("serve", "licensee", "kb", "usage"):
        assert command in done.stdout
