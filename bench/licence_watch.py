"""What the licence watcher costs per check, to choose its interval: CPU per tick and per second.

One process, the real watcher over the real store, with open sockets of many licensees in its
hub (stand-ins for sessions: the watcher reads only their licensee and key). Prints the CPU
time (process, all threads) and wall time of one ``check_once``, and the share of one core the
watcher takes at each candidate interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from bot.chat.services import build_services
from bot.jobs.licence_watcher import LicenceWatcher
from core.db.engine import Database
from core.db.tables import Licensee
from core.licensing.licensees import authenticate_chat, create_licensee
from core.settings import load_settings
from core.types import utcnow
from testkit.tenants import ORIGIN

INTERVALS_S = (2.0, 1.0, 0.5, 0.25)


@dataclass(eq=False)
class Socket:
    """What the hub and the watcher read of a session."""

    licensee: Licensee
    key_id: str
    visitor_id: str | None = None
    conversation: Any = None
    closed: bool = False

    @property
    def licensee_id(self) -> str:
        return self.licensee.id


async def measure(url: str, licensees: int, sockets: int, ticks: int) -> dict[str, Any]:
    db = Database(url, sqlite_synchronous="NORMAL")
    db.migrate()
    settings = load_settings(database_url=url, secret_key=secrets.token_urlsafe(40))
    services = build_services(settings, db)
    now = utcnow()
    for n in range(licensees):
        with db.session() as s:
            licensee, keys = create_licensee(
                s, name=f"Bench {n} {secrets.token_hex(4)}", origins=[ORIGIN], now=now
            )
            s.commit()
            ctx = authenticate_chat(s, keys.site_key, ORIGIN, None)
        for _ in range(sockets // licensees):
            services.hub.add(Socket(licensee, ctx.key_id))  # type: ignore[arg-type]
    watcher = LicenceWatcher(services)
    await watcher.check_once()  # the first check hands every licensee's row to its sockets
    cpu, wall = [], []
    for _ in range(ticks):
        c0, w0 = time.process_time(), time.perf_counter()
        await watcher.check_once()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    db.close()
    median_cpu = statistics.median(cpu)
    return {
        "database": url.split(":", 1)[0],
        "licensees": licensees,
        "sockets": len(services.hub),
        "ticks": ticks,
        "cpu_ms_per_check_median": round(median_cpu, 3),
        "wall_ms_per_check_median": round(statistics.median(wall), 3),
        "core_share_pct_at_interval": {
            f"{interval}s": round(median_cpu / (interval * 1000) * 100, 3)
            for interval in INTERVALS_S
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--licensees", type=int, default=200)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--ticks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/watch.db"
        result = asyncio.run(measure(url, args.licensees, args.sockets, args.ticks))
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
