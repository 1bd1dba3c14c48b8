"""The demo: a demo licensee with a bilingual shop knowledge base, created once and reused."""

from __future__ import annotations

from importlib import resources

from sqlmodel import select

from core.db.engine import Database
from core.db.tables import ApiKey, KeyKind, Licensee
from core.knowledge.files import read_kb_bytes
from core.knowledge.store import import_rows
from core.licensing.licensees import add_origin, create_licensee
from core.settings import Settings
from core.types import utcnow

DEMO_NAME = "Kefu Demo Shop"
DEMO_COLOR = "#e4572e"  # the demo shop's own orange, as a licensee would configure it


def demo_origins(settings: Settings, host: str, port: int) -> list[str]:
    origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
    if host not in ("0.0.0.0", "::", "127.0.0.1", "localhost"):  # noqa: S104
        origins.add(f"http://{host}:{port}")
    if settings.public_url:
        origins.add(settings.public_url.rstrip("/"))
    return sorted(origins)


def ensure_demo(db: Database, settings: Settings, host: str, port: int) -> str:
    """Create (or refresh) the demo licensee and its knowledge base; return its live site key."""
    now = utcnow()
    with db.session() as session:
        licensee = session.exec(select(Licensee).where(Licensee.name == DEMO_NAME)).first()
        if licensee is None:
            licensee, _keys = create_licensee(
                session, name=DEMO_NAME, origins=demo_origins(settings, host, port), now=now
            )
            licensee.title = "客服演示商城 · Demo Shop"
            licensee.theme_color = DEMO_COLOR
        else:
            for origin in demo_origins(settings, host, port):
                add_origin(session, licensee.id, origin)
        data = resources.files("kefu").joinpath("data/demo_kb.json").read_bytes()
        parsed = read_kb_bytes(data, "json")
        import_rows(session, licensee.id, [p.row for p in parsed.rows], now)
        session.add(licensee)
        key = session.exec(
            select(ApiKey).where(
                ApiKey.licensee_id == licensee.id,
                ApiKey.kind == KeyKind.LIVE,
                ApiKey.revoked_at == None,  # noqa: E711
            )
        ).first()
        session.commit()
        if key is None:
            raise RuntimeError("the demo licensee has no live site key")
        return key.display
