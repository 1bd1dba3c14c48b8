"""Size of the widget a licensee embeds: the loader and the chat UI, raw, minified and gzipped.

The figures come from ``widget.assets.build()``, which makes exactly the bytes the server sends
(minified, with the loader's UI path versioned, gzip level 9), and from the sources (the loader's
file, and the chat UI's modules as ``widget.assets.ui_source()`` joins them). A tag that names its
key (``/widget.js?key=…``) gets the loader with the licensee's look written in; the largest such
loader (the longest look) is the one judged against the target. The
loader is what every page of a host site downloads; the chat UI only when the chat is opened.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from widget import STATIC_DIR
from widget.assets import Look, build, ui_source

TARGET_LOADER_GZ = 3_000  # bytes: "loader <= 3 KB gzipped"
TARGET_TOTAL_GZ = 20_000  # bytes: "whole widget (loader + UI) <= 20 KB gzipped"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()

    built = build()
    loader = built.loader_for(Look(color="#e4572e", position="right"))
    rows = []
    for name, raw, asset in (
        ("loader (/widget.js?key=…)", (STATIC_DIR / "loader.js").read_bytes(), loader),
        (f"chat UI ({built.ui_path})", ui_source().encode("utf-8"), built.ui),
    ):
        rows.append((name, len(raw), len(gzip.compress(raw, 9, mtime=0)), asset))

    print("Widget size: bytes as served (minified, gzip -9), from widget.assets.build()")
    print(f"  {'':<38} {'raw':>8} {'raw gz':>8} {'minified':>9} {'min+gz':>8}")
    for name, raw_len, raw_gz, asset in rows:
        print(
            f"  {name:<38} {raw_len:>8,} {raw_gz:>8,} {len(asset.body):>9,} "
            f"{len(asset.gzipped):>8,}"
        )
    total_raw = sum(r[1] for r in rows)
    total_raw_gz = sum(r[2] for r in rows)
    total_min = len(loader.body) + len(built.ui.body)
    total_gz = len(loader.gzipped) + len(built.ui.gzipped)
    print(
        f"  {'whole widget (loader + UI)':<38} {total_raw:>8,} {total_raw_gz:>8,} "
        f"{total_min:>9,} {total_gz:>8,}"
    )
    print("  (raw = source file; raw gz = the source file gzipped, for comparison only)")
    print(f"  (/widget.js without a key, the default look: {len(built.loader.gzipped):,} min+gz)")

    loader_gz = len(loader.gzipped)
    print()
    print(
        f"Loader gzipped: {loader_gz:,} bytes (target <= {TARGET_LOADER_GZ:,} bytes, "
        f"headroom {TARGET_LOADER_GZ - loader_gz:,})  {verdict(loader_gz <= TARGET_LOADER_GZ)}"
    )
    print(
        f"Whole widget gzipped: {total_gz:,} bytes (target <= {TARGET_TOTAL_GZ:,} bytes, "
        f"headroom {TARGET_TOTAL_GZ - total_gz:,})  {verdict(total_gz <= TARGET_TOTAL_GZ)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
