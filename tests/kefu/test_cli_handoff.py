"""``kefu licensee handoff``: show and set a licensee's hand-off rules, refusing bad input."""

from __future__ import annotations

from sqlmodel import col, select

from core.db.engine import Database
from core.db.tables import AuditEntry
from testkit.cli import Kefu, assert_clean_error, one_json


def test_show_set_and_refuse(kefu: Kefu, cli_url: str) -> None:
    lic = one_json(
        kefu("licensee", "create", "--name", "Shop", "--origin", "https://a.example.com", "--json")
    )["id"]
    shown = one_json(kefu("licensee", "handoff", lic, "--json"))
    assert shown["hours"] is None and shown["offer_on_dont_know"] is True
    assert "转人工" in shown["phrases"] and shown["grace_seconds"] == 60
    set_ = one_json(
        kefu(
            "licensee",
            "handoff",
            lic,
            "--hours",
            "1-5 09:00-18:00",
            "--hours",
            "6 10:00-16:00",
            "--greeting",
            "您好，我是人工客服",
            "--phrase",
            "找客服",
            "--no-offer",
            "--grace",
            "120",
            "--json",
        )
    )
    assert set_["hours"] == [
        {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"},
        {"days": [6], "start": "10:00", "end": "16:00"},
    ]
    assert set_["phrases"] == ["找客服"] and set_["offer_on_dont_know"] is False
    # Only the options given change.
    again = one_json(kefu("licensee", "handoff", lic, "--grace", "30", "--json"))
    assert again["greeting"] == "您好，我是人工客服" and again["grace_seconds"] == 30
    assert again["hours"] == set_["hours"]
    back = one_json(kefu("licensee", "handoff", lic, "--any-time", "--default-phrases", "--json"))
    assert back["hours"] is None and "human" in back["phrases"]
    for bad in (
        ["--hours", "weekdays 9-6"],
        ["--hours", "5-1 09:00-18:00"],
        ["--hours", "1 18:00-09:00"],
        ["--grace", "1"],
        ["--phrase", " "],
    ):
        assert_clean_error(kefu("licensee", "handoff", lic, *bad, ok=False))
    assert one_json(kefu("licensee", "handoff", lic, "--json"))["grace_seconds"] == 30
    # The console's audited change: one entry per change that changed something, by "cli".
    db = Database(cli_url)
    try:
        with db.read_session() as s:
            rows = s.exec(
                select(AuditEntry).where(col(AuditEntry.action) == "licensee.handoff")
            ).all()
    finally:
        db.close()
    assert len(rows) == 3 and {r.actor_email for r in rows} == {"cli"}
    assert rows[0].before is not None and rows[0].before["grace_seconds"] == 60
    assert rows[-1].after is not None and rows[-1].after["hours"] is None
    assert_clean_error(kefu("licensee", "handoff", "lic_nope", ok=False))
