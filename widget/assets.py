"""The widget's two scripts as served: minified, gzipped and versioned once per process.

The loader (``/widget.js``) is what a host page's one tag fetches; it is small and cached for a
short time so that a release reaches every page quickly. The chat UI is fetched by the loader from
a path that carries a digest of its content, so it can be cached for a year.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import rjsmin

from widget import STATIC_DIR

UI_PLACEHOLDER = '"/widget/ui.js"'  # the loader's UI_PATH before the server versions it


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    digest: str

    @classmethod
    def of(cls, text: str) -> Asset:
        body = text.encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()[:20]
        return cls(body=body, gzipped=gzip.compress(body, 9, mtime=0), digest=digest)

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


@dataclass(frozen=True)
class WidgetAssets:
    loader: Asset
    ui: Asset
    ui_path: str  # /widget/ui.<digest>.js

    @property
    def ui_digest(self) -> str:
        return self.ui_path.rsplit(".", 2)[1]


def minify(source: str) -> str:
    """Whitespace and comments out; `/*! … */` licence headers stay."""
    return str(rjsmin.jsmin(source, keep_bang_comments=True))


def build(static_dir: Path = STATIC_DIR) -> WidgetAssets:
    ui = Asset.of(minify((static_dir / "ui.js").read_text(encoding="utf-8")))
    ui_path = f"/widget/ui.{ui.digest[:12]}.js"
    loader_source = (static_dir / "loader.js").read_text(encoding="utf-8")
    if loader_source.count(UI_PLACEHOLDER) != 1:
        raise RuntimeError(f"loader.js must name {UI_PLACEHOLDER} exactly once")
    loader = Asset.of(minify(loader_source.replace(UI_PLACEHOLDER, json.dumps(ui_path))))
    return WidgetAssets(loader=loader, ui=ui, ui_path=ui_path)


@functools.cache
def assets() -> WidgetAssets:
    return build()
