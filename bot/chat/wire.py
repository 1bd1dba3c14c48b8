"""Protocol v1 frames made from core.chat's records (conversations, endings, history rows)."""

from __future__ import annotations

from core.chat import conversations as units
from core.chat.frames import AiLabel, ConversationRef, Ended, HistoryItem, Role


def ref(conv: units.ConvRef) -> ConversationRef:
    return ConversationRef(id=conv.id, started_at=conv.started_at, test=conv.test)


def ended_frame(ending: units.Ending) -> Ended:
    return Ended(conversation=ref(ending.conversation), reason=ending.reason)


def history_item(row: units.HistoryRow) -> HistoryItem:
    return HistoryItem(
        id=row.id,
        role=row.role,
        text=row.text,
        at=row.at,
        client_id=row.client_id if row.role == Role.VISITOR else None,
        ai=AiLabel(**row.ai) if row.ai else None,
    )
