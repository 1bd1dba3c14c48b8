"""The widget's two scripts as served: assembled, minified, gzipped and versioned once per process.

The loader (``/widget.js``) is what a host page's one tag fetches; it is small and cached for a
short time so that a release reaches every page quickly. The chat UI is fetched by the loader from
a path that carries a digest of its content, so it can be cached for a year. Its source is a few
modules under ``static/ui/``, each declaring one name, joined in ``UI_MODULES`` order inside one
function scope: no build tool, and nothing of it reaches the host page's globals.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import rjsmin

from widget import STATIC_DIR

UI_PLACEHOLDER = '"/widget/ui.js"'  # the loader's UI_PATH before the server versions it
LOOK_PLACEHOLDER = "var LOOK={};"  # in the minified loader: a licensee's look replaces the {}
# Each module may use the ones before it; view.js ends by handing itself to the loader.
UI_MODULES = (
    "protocol.js",
    "strings.js",
    "styles.js",
    "markdown.js",
    "render.js",
    "connection.js",
    "tabs.js",
    "view.js",
)
UI_HEADER = """/* Kefu chat widget UI: the protocol v1 client. Plain ES2019, no dependencies.
 *
 * Loaded by the loader (widget.js) when the chat is opened; it registers itself through
 * `window.Kefu._mount` and defines no global of its own.
 */
(function () {
  "use strict";
"""


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
class Look:
    """What the launcher wears from its first frame: the licensee's brand colour and corner."""

    color: str  # #rgb or #rrggbb, as core.licensing.appearance checks it
    position: str  # left or right


@dataclass(frozen=True)
class WidgetAssets:
    loader: Asset  # for a tag that names no key (or an unknown one): the default look
    ui: Asset
    ui_path: str  # /widget/ui.<digest>.js

    @property
    def ui_digest(self) -> str:
        return self.ui_path.rsplit(".", 2)[1]

    def loader_for(self, look: Look) -> Asset:
        """The loader with ``look`` written into it, for a tag whose URL names the key.

        Made per request, not kept: it takes 0.16 ms (gzip -9 of 7 KB), less than finding the
        key's licensee."""
        values = json.dumps({"color": look.color, "position": look.position}, separators=(",", ":"))
        text = self.loader.body.decode("utf-8")
        return Asset.of(text.replace(LOOK_PLACEHOLDER, f"var LOOK={values};", 1))


def minify(source: str) -> str:
    """Whitespace and comments out; `/*! … */` licence headers stay."""
    return str(rjsmin.jsmin(source, keep_bang_comments=True))


def ui_source(static_dir: Path = STATIC_DIR) -> str:
    """The chat UI's modules in one script, before minification."""
    modules = [(static_dir / "ui" / name).read_text(encoding="utf-8") for name in UI_MODULES]
    return UI_HEADER + "\n".join(textwrap.indent(m, "  ") for m in modules) + "})();\n"


def build(static_dir: Path = STATIC_DIR) -> WidgetAssets:
    ui = Asset.of(minify(ui_source(static_dir)))
    ui_path = f"/widget/ui.{ui.digest[:12]}.js"
    loader_source = (static_dir / "loader.js").read_text(encoding="utf-8")
    if loader_source.count(UI_PLACEHOLDER) != 1:
        raise RuntimeError(f"loader.js must name {UI_PLACEHOLDER} exactly once")
    loader_text = minify(loader_source.replace(UI_PLACEHOLDER, json.dumps(ui_path)))
    if loader_text.count(LOOK_PLACEHOLDER) != 1:
        raise RuntimeError(f"loader.js must declare {LOOK_PLACEHOLDER} exactly once")
    return WidgetAssets(loader=Asset.of(loader_text), ui=ui, ui_path=ui_path)


@functools.cache
def assets() -> WidgetAssets:
    return build()
