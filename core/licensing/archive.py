"""The export archive of a licensee, written before its data is purged: one zip file.

Inside: ``manifest.json`` (the licensee, counts, and what each file is), ``conversations.csv``,
``messages.csv`` and ``messages.jsonl`` (every message with its AI label metadata),
``ratings.csv``, ``end_users.csv``, and the knowledge base as ``knowledge_base.json`` and
``knowledge_base.csv`` in the import format (``kefu kb import`` takes them back). CSV files are
UTF-8 with a byte-order mark and neutralised formula cells, like every download of the product.
Rows are streamed from the database into the zip, so memory does not grow with them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlmodel import Session

from core.db.tables import Conversation, EndUser, Licensee, Message, Rating, table_of
from core.knowledge.files import write_kb_bytes
from core.knowledge.store import load_entries
from core.spreadsheet import UTF8_BOM, csv_cells

FORMAT = "kefu-archive/1"
BATCH = 2000
CONVERSATIONS, END_USERS = table_of(Conversation), table_of(EndUser)
C, M, R, U = CONVERSATIONS.c, table_of(Message).c, table_of(Rating).c, END_USERS.c

CONVERSATION_COLUMNS = (
    "id", "visitor_id", "user_id", "key_id", "test", "beyond_term", "started_at", "ended_at",
    "end_reason",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "id", "conversation_id", "seq", "role", "text", "client_id", "created_at", "ai_label",
    "ai_producer", "ai_model", "ai_content_id",
)  # fmt: skip
RATING_COLUMNS = ("conversation_id", "score", "comment", "created_at")
END_USER_COLUMNS = ("visitor_id", "user_id", "first_seen_at")


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    sha256: str
    size: int
    counts: dict[str, int]


def archive_name(licensee_id: str, service_end: str) -> str:
    return f"{licensee_id}-{service_end}.zip"


def _rows(session: Session, query: Select[Any]) -> Iterator[Any]:
    # Streamed in batches (a server-side cursor on PostgreSQL): memory stays flat.
    result = session.execute(query.execution_options(yield_per=BATCH))
    yield from result


def _write_csv(
    zf: zipfile.ZipFile, name: str, header: Sequence[str], rows: Iterator[Sequence[object]]
) -> int:
    count = 0
    with zf.open(name, "w") as raw, io.TextIOWrapper(raw, "utf-8", newline="") as out:
        out.write(UTF8_BOM)
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(csv_cells(row))
            count += 1
    return count


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _message_record(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "conversation_id": r.conversation_id,
        "seq": r.seq,
        "role": r.role,
        "text": r.text,
        "client_id": r.client_id,
        "created_at": _when(r.created_at),
        "ai": r.ai,  # the AI-generated label (GB 45438-2025) of a robot answer, as sent
        "sources": r.sources,
    }


def _message_cells(r: Any) -> tuple[object, ...]:
    ai = r.ai or {}
    cells = (r.id, r.conversation_id, r.seq, r.role, r.text, r.client_id, r.created_at)
    return (*cells, ai.get("label"), ai.get("producer"), ai.get("model"), ai.get("content_id"))


def write_archive(
    session: Session, licensee: Licensee, service_end: date, directory: Path, now: datetime
) -> Written:
    """Write the licensee's archive into ``directory`` durably: a temporary file, fsync, an
    atomic rename, fsync of the directory. Writing it again replaces it whole."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / archive_name(licensee.id, service_end.isoformat())
    partial = final.with_name(final.name + ".partial")
    lic = licensee.id
    counts: dict[str, int] = {}
    with open(partial, "wb") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
            conversations = select(
                C.id, C.visitor_id, U.user_id, C.key_id, C.test, C.beyond_term, C.started_at,
                C.ended_at, C.end_reason,
            ).select_from(CONVERSATIONS).outerjoin(
                END_USERS, (U.licensee_id == C.licensee_id) & (U.visitor_id == C.visitor_id)
            ).where(C.licensee_id == lic).order_by(C.started_at, C.id)  # fmt: skip
            counts["conversations"] = _write_csv(
                zf, "conversations.csv", CONVERSATION_COLUMNS, _rows(session, conversations)
            )
            messages = (
                select(
                    M.id,
                    M.conversation_id,
                    M.seq,
                    M.role,
                    M.text,
                    M.client_id,
                    M.created_at,
                    M.ai,
                    M.sources,
                )
                .where(M.licensee_id == lic)
                .order_by(M.conversation_id, M.seq)
            )
            counts["messages"] = _write_csv(
                zf, "messages.csv", MESSAGE_COLUMNS, map(_message_cells, _rows(session, messages))
            )
            with zf.open("messages.jsonl", "w") as out:
                for row in _rows(session, messages):
                    line = json.dumps(_message_record(row), ensure_ascii=False)
                    out.write(line.encode("utf-8") + b"\n")
            ratings = (
                select(R.conversation_id, R.score, R.comment, R.created_at)
                .where(R.licensee_id == lic)
                .order_by(R.created_at, R.id)
            )
            counts["ratings"] = _write_csv(
                zf, "ratings.csv", RATING_COLUMNS, _rows(session, ratings)
            )
            users = (
                select(U.visitor_id, U.user_id, U.first_seen_at)
                .where(U.licensee_id == lic)
                .order_by(U.first_seen_at, U.visitor_id)
            )
            counts["end_users"] = _write_csv(
                zf, "end_users.csv", END_USER_COLUMNS, _rows(session, users)
            )
            entries = load_entries(session, lic)
            counts["knowledge_base"] = len(entries)
            zf.writestr("knowledge_base.json", write_kb_bytes(entries, "json"))
            zf.writestr("knowledge_base.csv", write_kb_bytes(entries, "csv"))
            manifest = {
                "format": FORMAT,
                "licensee": {
                    "id": lic,
                    "name": licensee.name,
                    "timezone": licensee.timezone,
                    "service_start": licensee.service_start.isoformat(),
                    "service_end": service_end.isoformat(),
                },
                "written_at": now.isoformat(),
                "counts": counts,
                # What each file is, in Chinese and English (the archive is the licensor's).
                "files": {
                    "conversations.csv": "全部会话（计费单位） every conversation (usage unit)",
                    "messages.csv": "全部消息，机器人回答带AI生成标识 every message; robot"
                    " answers carry their AI label",
                    "messages.jsonl": "全部消息，每行一个JSON every message, one JSON a line",
                    "ratings.csv": "终端用户评价 end users' ratings",
                    "end_users.csv": "已识别的终端用户 end users the licensee's pages identified",
                    "knowledge_base.json": "知识库（导入格式） the knowledge base, import format",
                    "knowledge_base.csv": "知识库（导入格式） the knowledge base, import format",
                },
            }
            zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    _fsync_directory(directory)
    return Written(final, _sha256(final), final.stat().st_size, counts)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory itself is.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
