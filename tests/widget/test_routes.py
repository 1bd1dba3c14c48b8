"""The widget's scripts and the demo page over HTTP: versions, caching, gzip and the demo's CSP."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import httpx
import pytest

from bot.chat.services import build_services
from core.db.engine import Database
from core.licensing.appearance import configure
from core.licensing.licensees import CreatedKeys, create_licensee, revoke_key
from core.types import utcnow
from testkit.servers import run_server, settings_for
from widget import assets
from widget.routes import LOADER_CACHE, UI_CACHE, accepts_gzip

PLAIN = {"accept-encoding": "identity"}


def _client(sqlite_url: str) -> Iterator[httpx.Client]:
    db = Database(sqlite_url)
    db.migrate()
    services = build_services(settings_for(sqlite_url), db)
    for address in run_server(services):
        with httpx.Client(base_url=f"http://{address}") as client:
            client.get("/healthz")
            yield client


@pytest.fixture
def client(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setattr("widget.routes.demo_site_key", lambda request: "pk_live_demo", raising=True)
    yield from _client(sqlite_url)


def test_loader_is_short_cached_and_names_the_versioned_ui(client: httpx.Client) -> None:
    response = client.get("/widget.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == LOADER_CACHE == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "content-encoding" not in response.headers
    ui_path = assets.assets().ui_path
    assert f'"{ui_path}"' in response.text

    ui = client.get(ui_path, headers={"accept-encoding": "identity"})
    assert ui.status_code == 200
    assert ui.headers["cache-control"] == UI_CACHE
    assert "immutable" in UI_CACHE and "max-age=31536000" in UI_CACHE
    assert "_mount" in ui.text


def test_gzip_when_accepted(client: httpx.Client) -> None:
    raw = client.get("/widget.js", headers={"accept-encoding": "identity"}).content
    response = client.get("/widget.js", headers={"accept-encoding": "gzip, br"})
    assert response.headers["content-encoding"] == "gzip"
    # httpx decodes the body; the bytes on the wire are the pre-compressed file.
    assert response.content == raw
    assert int(response.headers["content-length"]) == len(assets.assets().loader.gzipped)
    assert gzip.decompress(assets.assets().loader.gzipped) == raw


def test_etag_revalidation(client: httpx.Client) -> None:
    first = client.get("/widget.js")
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{20}(-gz)?"', etag)  # httpx asks for gzip
    again = client.get("/widget.js", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/widget.js", headers={"if-none-match": '"other"'}).status_code == 200


def test_a_stale_ui_digest_gets_the_current_ui_uncached(client: httpx.Client) -> None:
    response = client.get("/widget/ui.000000000000.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == assets.assets().ui.body


def test_head_requests(client: httpx.Client) -> None:
    response = client.head("/widget.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == LOADER_CACHE


def test_demo_page_runs_under_a_strict_csp(client: httpx.Client) -> None:
    response = client.get("/demo")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == f"'self' ws://{client.base_url.netloc.decode()}"
    nonce = re.fullmatch(r"'nonce-([\w-]+)'", directives["style-src"])
    assert nonce, csp
    assert f'<style nonce="{nonce.group(1)}">' in response.text
    # A new nonce on every response.
    assert client.get("/demo").headers["content-security-policy"] != csp


def test_no_demo_without_kefu_demo(sqlite_url: str) -> None:
    for client in _client(sqlite_url):
        assert client.get("/demo").status_code == 404


@pytest.mark.parametrize(
    ("header", "gzipped"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("br, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("identity", False),
        ("", False),
    ],
)
def test_accept_encoding_negotiation(header: str, gzipped: bool) -> None:
    assert accepts_gzip(header) is gzipped


def test_each_representation_has_its_own_etag(client: httpx.Client) -> None:
    plain = client.get("/widget.js", headers={"accept-encoding": "identity"}).headers["etag"]
    packed = client.get("/widget.js", headers={"accept-encoding": "gzip"}).headers["etag"]
    assert plain != packed and packed.endswith('-gz"')
    # A client holding the plain body gets the gzip one (and vice versa), not a 304.
    swapped = client.get("/widget.js", headers={"accept-encoding": "gzip", "if-none-match": plain})
    assert swapped.status_code == 200


def _licensee(sqlite_url: str, color: str, position: str) -> tuple[str, CreatedKeys]:
    db = Database(sqlite_url)
    db.migrate()
    with db.session() as session:
        licensee, keys = create_licensee(
            session, name="Green Grocer", origins=["https://shop.example"], now=utcnow()
        )
        configure(session, licensee.id, utcnow(), color=color, position=position)
        session.commit()
    db.close()
    return licensee.id, keys


def _reconfigure(sqlite_url: str, licensee_id: str, color: str) -> None:
    db = Database(sqlite_url)
    with db.session() as session:
        configure(session, licensee_id, utcnow(), color=color)
        session.commit()
    db.close()


def test_a_loader_for_a_key_carries_the_licensees_look(sqlite_url: str) -> None:
    licensee_id, keys = _licensee(sqlite_url, "#0A7D32", "left")
    for client in _client(sqlite_url):
        generic = client.get("/widget.js", headers=PLAIN)
        assert "var LOOK={};" in generic.text
        keyed = client.get("/widget.js", params={"key": keys.site_key}, headers=PLAIN)
        assert keyed.status_code == 200
        assert 'var LOOK={"color":"#0a7d32","position":"left"};' in keyed.text
        assert keyed.text.replace('{"color":"#0a7d32","position":"left"}', "{}") == generic.text
        # The same short cache as every loader; the URL, not a header, tells keys apart.
        assert keyed.headers["cache-control"] == LOADER_CACHE
        assert keyed.headers["vary"] == "Accept-Encoding"
        assert keyed.headers["etag"] != generic.headers["etag"]
        test_key = client.get("/widget.js", params={"key": keys.test_site_key}, headers=PLAIN)
        assert test_key.content == keyed.content

        etag = keyed.headers["etag"]
        again = {**PLAIN, "if-none-match": etag}
        assert (
            client.get("/widget.js", params={"key": keys.site_key}, headers=again).status_code
            == 304
        )
        # A new colour reaches the next request (and pages, once their cached copy expires).
        _reconfigure(sqlite_url, licensee_id, "#7c3aed")
        changed = client.get("/widget.js", params={"key": keys.site_key}, headers=again)
        assert changed.status_code == 200
        assert '"color":"#7c3aed"' in changed.text
        assert changed.headers["etag"] != etag


def test_a_loader_for_another_key_has_the_default_look(sqlite_url: str) -> None:
    _, keys = _licensee(sqlite_url, "#0a7d32", "left")
    db = Database(sqlite_url)
    with db.session() as session:
        revoke_key(session, keys.test_site_key, utcnow())
        session.commit()
    db.close()
    for client in _client(sqlite_url):
        generic = client.get("/widget.js", headers=PLAIN).content
        for key in ["pk_live_unknown", keys.test_site_key, keys.secret_key, "", "x" * 300]:
            response = client.get("/widget.js", params={"key": key}, headers=PLAIN)
            assert response.status_code == 200
            assert response.content == generic, key


def test_the_demo_page_loader_wears_the_demo_colour(client: httpx.Client) -> None:
    html = client.get("/demo").text
    assert 'src="/widget.js?key=pk_live_demo"' in html
