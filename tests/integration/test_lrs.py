"""LRS extraction against a real Ralph LRS on 127.0.0.1 (no mocks).

Faults (5xx, timeouts, truncated bodies, a dying LRS) come from a small real HTTP
reverse proxy in front of Ralph, which also records what the client sent.

Ralph's ``fs`` backend filters ``since`` on the statement ``timestamp`` (not on
``stored`` as xAPI says) and appends statements in the order they were stored;
the expected overlap re-reads below are computed from the timestamps we post.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urljoin, urlsplit

import orjson
import pytest
import requests

from skillpath.config import settings
from skillpath.ingest.contract import connect_raw
from skillpath.ingest.lrs import LrsAuthError, LrsClient, LrsError, extract_lrs, read_cursor
from skillpath.ingest.rawstore import RawLoad, reconciliation
from skillpath.ingest.xapi import load_xapi_records
from tests.support.ralph import (  # noqa: F401 (fixtures)
    RalphLrs,
    fixture_ralph_credentials,
    fixture_ralph_lrs,
    post_statements,
)

pytestmark = pytest.mark.integration

HOMEPAGE = "https://lms.example.org"
N_USERS = 40
OVERLAP = 300


# --- data ---------------------------------------------------------------------------------------

def users() -> list[tuple[str, str]]:
    return [(f"u{i:04d}", f"Learner.{i}@Example.org") for i in range(1, N_USERS + 1)]


def add_lms_users(con) -> None:
    """The known learners, as the LMS loader would have put them in raw.lms_users."""
    now = dt.datetime(2025, 1, 1)
    con.executemany(
        "insert into raw.lms_users (load_id, source, source_ref, record_no, loaded_at, user_id, account_id, "
        "email, display_name, role, raw_line) values ('test', 'lms', 'lms/users.csv', ?, ?, ?, 'acme', ?, ?, "
        "'learner', '')",
        [(n, now, uid, email, f"Learner {n}") for n, (uid, email) in enumerate(users(), start=1)],
    )


def actor(i: int) -> dict:
    """Known users, identified in turn by account, mbox and mbox_sha1sum."""
    uid, email = users()[i % N_USERS]
    kind = i % 3
    if kind == 0:
        return {"objectType": "Agent", "account": {"homePage": HOMEPAGE, "name": uid}}
    if kind == 1:
        return {"objectType": "Agent", "mbox": f"mailto:{email.lower()}"}
    return {"objectType": "Agent",
            "mbox_sha1sum": hashlib.sha1(f"mailto:{email.lower()}".encode()).hexdigest()}


def statement(i: int, timestamp: dt.datetime, unknown_actor: bool = False) -> dict:
    st = {
        "id": str(uuid.uuid4()),
        "actor": ({"objectType": "Agent", "account": {"homePage": HOMEPAGE, "name": f"ghost-{i}"}}
                  if unknown_actor else actor(i)),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/" + ("completed" if i % 4 == 0 else "attempted")},
        "object": {"objectType": "Activity", "id": f"https://lms.example.org/exercise/{i % 37}"},
        "timestamp": timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if i % 2:
        st["result"] = {"success": i % 5 != 0, "score": {"scaled": (i % 10) / 10}}
    return st


def batch(n: int, end: dt.datetime, unknown: frozenset[int] = frozenset()) -> list[dict]:
    """``n`` statements one second apart, the last at ``end``."""
    return [statement(i, end - dt.timedelta(seconds=n - 1 - i), i in unknown) for i in range(n)]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def naive_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).replace(tzinfo=None)


def lrs_statements(lrs: RalphLrs) -> list[dict]:
    """Everything Ralph stored, read with plain requests (independently of LrsClient)."""
    out, url = [], f"{lrs.url}/xAPI/statements?limit=100"
    while url:
        page = requests.get(url, auth=(lrs.username, lrs.password), timeout=30).json()
        out += page["statements"]
        url = urljoin(lrs.url, page["more"]) if page.get("more") and page["statements"] else None
    return out


def max_stored(lrs: RalphLrs) -> dt.datetime:
    return max(naive_utc(s["stored"]) for s in lrs_statements(lrs))


def expected_pages(n: int, limit: int) -> int:
    """Ralph offers a `more` link whenever a page is full, so a multiple of limit ends with an empty page."""
    return n // limit + 1


def statement_ids(con) -> list[str]:
    return [r[0] for r in con.execute("select statement_id from raw.xapi_statements").fetchall()]


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def lake(home):
    con = connect_raw(home / "lake.duckdb")
    add_lms_users(con)
    yield con
    con.close()


def configure(monkeypatch, url: str, username: str, password: str, limit: int = 100) -> None:
    monkeypatch.setenv("SKILLPATH_LRS_URL", url)
    monkeypatch.setenv("SKILLPATH_LRS_USERNAME", username)
    monkeypatch.setenv("SKILLPATH_LRS_PASSWORD", password)
    monkeypatch.setenv("SKILLPATH_LRS_PAGE_LIMIT", str(limit))
    monkeypatch.setenv("SKILLPATH_LRS_OVERLAP_SECONDS", str(OVERLAP))
    # These tests check the overlap alone; the look-back window and full re-scans of
    # late statements are tested in test_lrs_rescan.py.
    monkeypatch.setenv("SKILLPATH_LRS_LOOKBACK_DAYS", "0")


class FaultProxy:
    """A real reverse proxy on 127.0.0.1 in front of the LRS.

    ``faults`` maps the 0-based number of a request to what to do with it instead of
    forwarding: ``"503"``, ``"hang"`` (answer nothing until the client gave up) or
    ``"truncate"`` (200 with half of the upstream body); ``fail_from`` answers 503 to
    every request from that number on. Every request is recorded.
    """

    def __init__(self, upstream: str, faults: dict[int, str] | None = None, fail_from: int | None = None):
        self.upstream = urlsplit(upstream)
        self.faults = faults or {}
        self.fail_from = fail_from
        self.requests: list[dict] = []
        self.answers: list[str] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                proxy.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            n = len(self.requests)
            self.requests.append({"path": h.path, "headers": dict(h.headers)})
        action = self.faults.get(n, "503" if self.fail_from is not None and n >= self.fail_from else "forward")
        with self._lock:
            self.answers.append(action)
        if action == "hang":
            self._released.wait(30)
            return
        if action == "503":
            self._send(h, 503, b'{"detail": "injected fault"}')
            return
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            conn.request("GET", h.path, headers={k: v for k, v in h.headers.items() if k.lower() not in ("host", "accept-encoding")})
            up = conn.getresponse()
            status, body = up.status, up.read()
        finally:
            conn.close()
        self._send(h, status, body[: len(body) // 2] if action == "truncate" else body)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def query(self, i: int) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.requests[i]["path"]).query)


def proxied_client(proxy: FaultProxy, lrs: RalphLrs, **kw) -> LrsClient:
    kw.setdefault("limit", 100)
    kw.setdefault("backoff", 0.01)
    return LrsClient(proxy.url, lrs.username, lrs.password, **kw)


# --- tests --------------------------------------------------------------------------------------

def test_pages_cursor_overlap_and_reruns(ralph_lrs, lake, monkeypatch):
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    unknown = frozenset(range(0, 200, 10))           # 20 actors without an LMS user: learners all the same
    first = batch(2500, utcnow() - dt.timedelta(seconds=1), unknown)
    assert post_statements(ralph_lrs, first) == [s["id"] for s in first]
    known_ids = {s["id"] for s in first}

    seen = []
    r1 = extract_lrs(lake, settings(), progress=seen.append)
    cursor1 = read_cursor(lake, ralph_lrs.url)
    assert cursor1 == max_stored(ralph_lrs)
    assert r1["since"] is None
    assert r1["pages"] == expected_pages(2500, 100) == 26   # 25 full pages and Ralph's final empty one
    assert r1["pages_loaded"] == 25
    assert sum(seen) == 2500 and len(seen) == 26
    assert (r1["read"], r1["loaded"], r1["duplicate"], r1["quarantined"]) == (2500, 2500, 0, 0)
    ids = statement_ids(lake)
    assert len(ids) == 2500 and set(ids) == known_ids
    assert lake.execute(
        "select count(*), count(distinct source_ref), sum(records_read) from raw.load_manifest "
        "where source = 'xapi_lrs' and status = 'loaded'").fetchone() == (25, 25, 2500)
    ghosts = lake.execute("select statement_id from raw.xapi_statements where actor_account_name like 'ghost-%'")
    assert sorted(r[0] for r in ghosts.fetchall()) == sorted(first[i]["id"] for i in unknown)

    # 300 more; the overlap window re-reads the newest statements of the first batch.
    second = batch(300, utcnow())
    post_statements(ralph_lrs, second)
    since2 = cursor1 - dt.timedelta(seconds=OVERLAP)
    overlap = sum(naive_utc(s["timestamp"]) > since2 for s in first)
    assert 0 < overlap < 2500
    r2 = extract_lrs(lake, settings())
    assert naive_utc(r2["since"]) == since2
    assert (r2["read"], r2["loaded"], r2["duplicate"], r2["quarantined"]) == (300 + overlap, 300, overlap, 0)
    ids = statement_ids(lake)
    assert len(ids) == 2800 and set(ids) == known_ids | {s["id"] for s in second}
    cursor2 = read_cursor(lake, ralph_lrs.url)
    assert cursor2 == max_stored(ralph_lrs) and cursor2 > cursor1

    # Nothing new: only the overlap is read again, all of it as duplicates.
    since3 = cursor2 - dt.timedelta(seconds=OVERLAP)
    again = sum(naive_utc(s["timestamp"]) > since3 for s in first + second)
    r3 = extract_lrs(lake, settings())
    assert (r3["read"], r3["loaded"], r3["duplicate"], r3["quarantined"]) == (again, 0, again, 0)
    assert len(statement_ids(lake)) == 2800
    assert read_cursor(lake, ralph_lrs.url) == cursor2
    assert all(row["balanced"] for row in reconciliation(lake))


def test_wrong_password_is_refused_and_loads_nothing(ralph_lrs, lake, monkeypatch):
    post_statements(ralph_lrs, batch(50, utcnow()))
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, "not-the-password")
    with pytest.raises(LrsAuthError, match="refused the credentials \\(HTTP 401\\)"):
        extract_lrs(lake, settings())
    assert lake.execute("select count(*) from raw.xapi_statements").fetchone() == (0,)
    assert lake.execute("select count(*) from raw.load_manifest").fetchone() == (0,)
    assert read_cursor(lake, ralph_lrs.url) is None
    # ... while the right password reads everything
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    assert extract_lrs(lake, settings())["loaded"] == 50


def test_retries_5xx_and_truncated_bodies_and_sends_xapi_headers(ralph_lrs, lake, monkeypatch):
    posted = batch(250, utcnow())
    post_statements(ralph_lrs, posted)
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    with FaultProxy(ralph_lrs.url, faults={0: "503", 1: "503", 3: "truncate"}) as proxy:
        result = extract_lrs(lake, settings(), client=proxied_client(proxy, ralph_lrs))
    # pages of 100, 100, 50: the first asked three times, the second twice
    assert proxy.answers == ["503", "503", "forward", "truncate", "forward", "forward"]
    assert (result["pages"], result["read"], result["loaded"], result["duplicate"]) == (3, 250, 250, 0)
    assert set(statement_ids(lake)) == {s["id"] for s in posted} and len(statement_ids(lake)) == 250
    assert proxy.requests[0]["path"] == proxy.requests[1]["path"] == proxy.requests[2]["path"]
    assert proxy.requests[3]["path"] == proxy.requests[4]["path"] != proxy.requests[2]["path"]
    assert proxy.query(0) == {"limit": ["100"], "ascending": ["true"]}
    assert "search_after" in proxy.query(4)
    token = base64.b64encode(f"{ralph_lrs.username}:{ralph_lrs.password}".encode()).decode()
    for req in proxy.requests:
        assert req["headers"]["X-Experience-API-Version"] == "1.0.3"
        assert req["headers"]["Authorization"] == f"Basic {token}"
    # The manifest names the pages as fetched, with the body's hash.
    refs = [r[0] for r in lake.execute(
        "select source_ref from raw.load_manifest where source = 'xapi_lrs' order by started_at").fetchall()]
    assert len(refs) == 3 and all(ref.startswith(proxy.url + "/xAPI/statements") for ref in refs)

    # The next run sends since = cursor - overlap.
    with FaultProxy(ralph_lrs.url) as proxy:
        extract_lrs(lake, settings(), client=proxied_client(proxy, ralph_lrs))
    cursor = read_cursor(lake, ralph_lrs.url)
    since = naive_utc(proxy.query(0)["since"][0])
    assert since == cursor - dt.timedelta(seconds=OVERLAP)


def test_a_timeout_is_retried(ralph_lrs, lake, monkeypatch):
    posted = batch(150, utcnow())
    post_statements(ralph_lrs, posted)
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    with FaultProxy(ralph_lrs.url, faults={1: "hang"}) as proxy:
        result = extract_lrs(lake, settings(), client=proxied_client(proxy, ralph_lrs, timeout=1))
    assert proxy.answers == ["forward", "hang", "forward"]
    assert proxy.requests[1]["path"] == proxy.requests[2]["path"]
    assert (result["pages"], result["read"], result["loaded"]) == (2, 150, 150)
    assert set(statement_ids(lake)) == {s["id"] for s in posted}


def test_giving_up_keeps_committed_pages_and_the_next_run_resumes(ralph_lrs, lake, monkeypatch):
    posted = batch(250, utcnow())
    post_statements(ralph_lrs, posted)
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    # The LRS dies after two pages: 503 for ever.
    with FaultProxy(ralph_lrs.url, fail_from=2) as proxy:
        with pytest.raises(LrsError, match="failed after 4 attempts; last error: HTTP 503"):
            extract_lrs(lake, settings(), client=proxied_client(proxy, ralph_lrs, max_retries=3))
    assert proxy.answers == ["forward", "forward", "503", "503", "503", "503"]
    assert set(statement_ids(lake)) == {s["id"] for s in posted[:200]}
    stored = sorted(naive_utc(s["stored"]) for s in lrs_statements(ralph_lrs))
    assert read_cursor(lake, ralph_lrs.url) == stored[199]     # the first two pages' newest
    assert lake.execute("select count(*) from raw.load_manifest").fetchone() == (2,)

    result = extract_lrs(lake, settings())
    assert result["loaded"] == 50 and result["duplicate"] == result["read"] - 50
    ids = statement_ids(lake)
    assert len(ids) == 250 and set(ids) == {s["id"] for s in posted}
    assert read_cursor(lake, ralph_lrs.url) == stored[-1]


def test_an_empty_lrs_loads_nothing(ralph_lrs, lake, monkeypatch):
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    result = extract_lrs(lake, settings())
    assert (result["pages"], result["pages_loaded"], result["read"], result["cursor"]) == (1, 0, 0, None)
    assert lake.execute("select count(*) from raw.load_manifest").fetchone() == (0,)


def test_a_quarantined_statement_read_again_in_the_overlap_is_a_duplicate(ralph_lrs, lake, monkeypatch):
    posted = batch(10, utcnow())
    post_statements(ralph_lrs, posted)
    # statement 3's id was loaded from a file before, with another verb: the LRS's copy conflicts
    earlier = {**posted[3], "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}}
    with RawLoad(lake, "xapi_file", "xapi/earlier.ndjson", "x") as load:
        load_xapi_records(lake, [(1, orjson.dumps(earlier))], load=load)
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    assert extract_lrs(lake, settings())["quarantined"] == 1
    assert lake.execute("select reason from raw.quarantine").fetchall() == [("duplicate_id_conflict",)]
    again = extract_lrs(lake, settings())              # all 10 are inside the overlap window
    assert (again["read"], again["loaded"], again["duplicate"], again["quarantined"]) == (10, 0, 10, 0)
    assert lake.execute("select count(*) from raw.quarantine").fetchone() == (1,)


def test_an_lrs_without_any_lms_roster_loads_every_statement(ralph_lrs, home, monkeypatch):
    """An xAPI-only deployment: no LMS export at all, every actor kind becomes a learner's statement."""
    con = connect_raw(home / "lake.duckdb")
    try:
        posted = batch(120, utcnow(), unknown=frozenset(range(0, 120, 7)))
        post_statements(ralph_lrs, posted)
        configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
        result = extract_lrs(con, settings())
        assert con.execute("select count(*) from raw.lms_users").fetchone() == (0,)
        assert (result["read"], result["loaded"], result["duplicate"], result["quarantined"]) == (120, 120, 0, 0)
        kinds = con.execute(
            "select count(actor_account_name), count(actor_mbox), count(actor_mbox_sha1sum) "
            "from raw.xapi_statements").fetchone()
        expected = (sum(1 for s in posted if "account" in s["actor"]), sum(1 for s in posted if "mbox" in s["actor"]),
                    sum(1 for s in posted if "mbox_sha1sum" in s["actor"]))
        assert kinds == expected and all(expected)
        assert all(row["balanced"] for row in reconciliation(con))
    finally:
        con.close()


def test_an_erased_learners_statements_sent_again_by_the_lrs_are_dropped_as_erased(ralph_lrs, lake, monkeypatch):
    """Erasure (docs/privacy.md): the LRS still holds the learner's statements; the extraction drops
    them, by every identifier form (account, mbox, mbox_sha1sum), and counts them as erased."""
    from skillpath.ingest.runner import ingest_source, summarize
    from skillpath.privacy.erasure import _erase_raw, resolve, seed_identity

    key = "lrs-erasure-key"
    monkeypatch.setenv("SKILLPATH_PSEUDONYM_KEY", key)
    uid, _email = users()[1]
    lake.begin()
    _erase_raw(lake, resolve(lake, seed_identity(uid), key), key, "e-lrs")
    lake.commit()
    posted = batch(90, utcnow())
    post_statements(ralph_lrs, posted)
    theirs = [s for i, s in enumerate(posted) if i % N_USERS == 1]  # actor(i) is users()[i % N_USERS]
    assert {next(iter(k for k in s["actor"] if k != "objectType")) for s in theirs} == {
        "account", "mbox", "mbox_sha1sum"}
    configure(monkeypatch, ralph_lrs.url, ralph_lrs.username, ralph_lrs.password)
    ingest_source(lake, "xapi_lrs", settings())
    (lrs,) = [r for r in summarize(lake)["sources"] if r["source"] == "xapi_lrs"]
    assert (lrs["records_read"], lrs["records_loaded"], lrs["records_erased"]) == (90, 90 - len(theirs), len(theirs))
    assert lrs["balanced"]
    loaded = set(statement_ids(lake))
    assert loaded == {s["id"] for s in posted} - {s["id"] for s in theirs}
