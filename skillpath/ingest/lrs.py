"""Extract xAPI statements from a Learning Record Store over HTTP into the raw layer.

:class:`LrsClient` pages through ``GET {base}/xAPI/statements`` (xAPI 1.0.3,
basic auth, ``since`` / ``limit`` / ``ascending=true``, then the ``more`` link
until the LRS stops sending one or sends an empty page), retrying 5xx answers,
connection errors and timeouts with exponential backoff.

:func:`extract_lrs` loads each page in its own :class:`RawLoad` transaction
(source ``xapi_lrs``, ``source_ref`` = the page URL, ``content_sha256`` = sha256
of the page body) and moves the cursor ``raw.lrs_cursor.last_stored`` (greatest
``stored`` seen) in that same transaction, so a crash never skips statements: the
next run starts again after the last committed page.

Each run asks for statements ``since`` the cursor minus a window: the larger of
``SKILLPATH_LRS_OVERLAP_SECONDS`` and ``SKILLPATH_LRS_LOOKBACK_DAYS``. The
look-back exists because some LRSs (Ralph 5.1) compare ``since`` with the
statement ``timestamp`` rather than ``stored``: a statement stored late with an
old timestamp (an offline client syncing days later) is only returned while its
timestamp is inside the window. Beyond it, a full re-scan (no ``since``) every
``SKILLPATH_LRS_FULL_RESCAN_DAYS`` days, or forced with
``SKILLPATH_LRS_FULL_RESCAN=1``, reads everything again; only a re-scan that
reached the last page is recorded (``raw.lrs_cursor.full_scan_started_at``), so
an interrupted one is redone by the next run. Statements read again are
recognised by statement id + payload hash (the DuckDB join of
:func:`~skillpath.ingest.xapi.load_xapi_records`) and counted as
duplicates, not loaded twice.

The LRS answers with a page document ``{"statements": [...], "more": ...}``, not
with the bytes each statement was sent with, so the raw bytes kept for a
statement are its canonical re-serialisation (``orjson.dumps`` of the parsed
object: the LRS's key order, no whitespace). The page body itself is identified
by its sha256 in the load manifest.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit, urlunsplit

import duckdb
import orjson
import requests

from skillpath.config import ConfigError, Settings
from skillpath.ingest.rawstore import RawLoad, sha256_bytes, utcnow
from skillpath.ingest.xapi import Rejected, check_timestamp, load_xapi_records, parse_timestamp

log = logging.getLogger(__name__)

XAPI_VERSION = "1.0.3"
SOURCE = "xapi_lrs"
MAX_BACKOFF_SECONDS = 30.0


class LrsError(RuntimeError):
    """The LRS could not be read (after retries where retrying makes sense)."""


class LrsAuthError(LrsError):
    """The LRS refused the credentials (HTTP 401 or 403)."""


class LrsPage(NamedTuple):
    """One page of ``GET /xAPI/statements``."""

    url: str                      # the URL fetched, without credentials
    body: bytes                   # the response body exactly as received
    statements: list[bytes]       # each statement re-serialised with orjson
    max_stored: dt.datetime | None  # greatest parsable ``stored`` (naive UTC), None if none


def strip_credentials(url: str) -> str:
    """``url`` without any ``user:password@`` part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def parse_stored(value: object) -> dt.datetime | None:
    """An xAPI ``stored`` value as naive UTC, or None when absent, unparsable or implausible.

    Parsed like every timestamp (``xapi.parse_timestamp``: no offset = UTC, lower-case
    ``t`` / ``z`` accepted); a value outside the plausible window (``xapi.check_timestamp``)
    is None too, so one bad ``stored`` cannot move the cursor past every future statement.
    """
    try:
        ts = parse_timestamp(value)
        check_timestamp(ts, "stored")
    except (ValueError, Rejected):
        return None
    return ts


def format_since(ts: dt.datetime) -> str:
    """Naive UTC datetime -> ISO 8601 with ``Z`` (an offset is required by some LRSs)."""
    return ts.isoformat(timespec="microseconds") + "Z"


class LrsClient:
    """Read statements from an xAPI 1.0.3 LRS.

    ``base_url`` is the LRS root (statements are at ``{base_url}/xAPI/statements``;
    a base that already ends in ``/xAPI`` is accepted too). ``limit`` is the page
    size asked for (an LRS may cap it: Ralph serves at most 100 by default).
    Failed requests (HTTP 5xx or 429, connection errors, timeouts, truncated or
    non-JSON bodies) are retried up to ``max_retries`` times, waiting
    ``backoff * 2**attempt`` seconds (at most 30) in between; 401/403 raise
    :class:`LrsAuthError` and other 4xx :class:`LrsError` at once.
    """

    def __init__(self, base_url: str, username: str | None, password: str | None, *,
                 limit: int = 500, timeout: float = 30, max_retries: int = 5, backoff: float = 0.5):
        base = base_url.rstrip("/")
        if base.endswith("/xAPI"):
            base = base[: -len("/xAPI")]
        self.base_url = base + "/"
        self.statements_url = urljoin(self.base_url, "xAPI/statements")
        self.limit = limit
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.session = requests.Session()
        if username is not None or password is not None:
            self.session.auth = (username or "", password or "")
        self.session.headers.update({
            "X-Experience-API-Version": XAPI_VERSION,
            "Accept": "application/json",
        })

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> LrsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statements(self, since: dt.datetime | None = None) -> Iterator[LrsPage]:
        """Yield every page of statements stored after ``since`` (naive UTC), oldest first."""
        params: dict[str, str] | None = {"limit": str(self.limit), "ascending": "true"}
        if since is not None:
            params["since"] = format_since(since)
        url = self.statements_url
        while True:
            page_url, body, document = self._fetch(url, params)
            statements = document["statements"]
            stored = [parse_stored(s.get("stored")) for s in statements if isinstance(s, dict)]
            yield LrsPage(page_url, body, [orjson.dumps(s) for s in statements],
                          max((s for s in stored if s is not None), default=None))
            more = document.get("more")
            if not statements or not more:
                return
            url, params = urljoin(self.base_url, more), None

    def _fetch(self, url: str, params: dict[str, str] | None) -> tuple[str, bytes, dict]:
        """GET one page with retries: (URL without credentials, body, parsed StatementResult)."""
        shown = strip_credentials(url)
        attempt = 0
        while True:
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status in (401, 403):
                    raise LrsAuthError(
                        f"LRS {shown} refused the credentials (HTTP {status}); check "
                        f"SKILLPATH_LRS_USERNAME / SKILLPATH_LRS_PASSWORD: {response.text[:200]}")
                if 400 <= status < 500 and status != 429:
                    raise LrsError(f"LRS {shown} answered HTTP {status}: {response.text[:500]}")
                if not 200 <= status < 300:  # 5xx, 429, ...
                    problem = f"HTTP {status}: {response.text[:200]}"
                else:
                    page_url = strip_credentials(response.url)
                    try:
                        document = orjson.loads(response.content)
                    except orjson.JSONDecodeError as exc:  # truncated or garbled body: ask again
                        problem = f"invalid JSON body ({exc})"
                    else:
                        return page_url, response.content, self._check_page(page_url, document)
            if attempt >= self.max_retries:
                raise LrsError(f"LRS {shown} failed after {attempt + 1} attempts; last error: {problem}")
            wait = min(self.backoff * 2**attempt, MAX_BACKOFF_SECONDS)
            attempt += 1
            log.warning("LRS %s: %s; retry %d/%d in %.1fs", shown, problem, attempt, self.max_retries, wait)
            time.sleep(wait)

    @staticmethod
    def _check_page(page_url: str, document: object) -> dict:
        if not isinstance(document, dict) or not isinstance(document.get("statements"), list):
            raise LrsError(f"LRS page {page_url} is not a StatementResult (no 'statements' list)")
        more = document.get("more")
        if more is not None and not isinstance(more, str):
            raise LrsError(f"LRS page {page_url} has a 'more' that is not a string: {more!r}")
        return document


def lrs_cursor_key(lrs_url: str) -> str:
    """The ``raw.lrs_cursor.lrs_url`` key of an LRS: its URL without credentials or trailing slash."""
    return strip_credentials(lrs_url).rstrip("/")


class CursorState(NamedTuple):
    """The ``raw.lrs_cursor`` row of one LRS (all naive UTC)."""

    last_stored: dt.datetime | None            # greatest ``stored`` loaded
    full_scan_started_at: dt.datetime | None   # start of the last full re-scan that completed
    full_scan_finished_at: dt.datetime | None
    full_scan_requested_at: dt.datetime | None  # a forced re-scan not completed since


def read_cursor_state(con: duckdb.DuckDBPyConnection, lrs_url: str) -> CursorState | None:
    """The cursor row of ``lrs_url``, None before the first committed page or full scan."""
    row = con.execute(
        "select last_stored, full_scan_started_at, full_scan_finished_at, full_scan_requested_at "
        "from raw.lrs_cursor where lrs_url = ?",
        [lrs_cursor_key(lrs_url)]).fetchone()
    return CursorState(*row) if row else None


def read_cursor(con: duckdb.DuckDBPyConnection, lrs_url: str) -> dt.datetime | None:
    state = read_cursor_state(con, lrs_url)
    return state.last_stored if state else None


def _advance_cursor(con: duckdb.DuckDBPyConnection, key: str, stored: dt.datetime) -> None:
    con.execute(
        "insert into raw.lrs_cursor (lrs_url, last_stored, updated_at) values (?, ?, ?) "
        "on conflict (lrs_url) do update set "
        "last_stored = greatest(coalesce(raw.lrs_cursor.last_stored, excluded.last_stored), "
        "excluded.last_stored), updated_at = excluded.updated_at",
        [key, stored, utcnow()],
    )


def _request_full_scan(con: duckdb.DuckDBPyConnection, key: str, now: dt.datetime) -> None:
    """Remember that a full re-scan was asked for, until one completes (committed at once)."""
    con.execute(
        "insert into raw.lrs_cursor (lrs_url, updated_at, full_scan_requested_at) values (?, ?, ?) "
        "on conflict (lrs_url) do update set updated_at = excluded.updated_at, "
        "full_scan_requested_at = coalesce(raw.lrs_cursor.full_scan_requested_at, excluded.full_scan_requested_at)",
        [key, now, now],
    )


def _record_full_scan(con: duckdb.DuckDBPyConnection, key: str, started_at: dt.datetime) -> None:
    """Note a full re-scan that read every page (one statement: committed or not at all)."""
    now = utcnow()
    con.execute(
        "insert into raw.lrs_cursor (lrs_url, updated_at, full_scan_started_at, full_scan_finished_at) "
        "values (?, ?, ?, ?) on conflict (lrs_url) do update set updated_at = excluded.updated_at, "
        "full_scan_started_at = excluded.full_scan_started_at, "
        "full_scan_finished_at = excluded.full_scan_finished_at, full_scan_requested_at = null",
        [key, now, started_at, now],
    )


def full_scan_reason(state: CursorState | None, settings: Settings, now: dt.datetime) -> str | None:
    """Why this run reads the whole LRS (no ``since``), or None for an incremental run.

    ``first_run``: nothing loaded yet. ``forced``: ``SKILLPATH_LRS_FULL_RESCAN`` is
    set, or was set on a run whose re-scan did not complete
    (``full_scan_requested_at``). ``due``: ``SKILLPATH_LRS_FULL_RESCAN_DAYS`` > 0
    and no full scan is on record, or the UTC date is at least that many days
    after the date the last complete one started (dates, not durations: a daily
    run a few seconds earlier than last week's still finds a 7-day re-scan due).
    """
    if state is None or state.last_stored is None:
        return "first_run"
    if settings.lrs_full_rescan or state.full_scan_requested_at is not None:
        return "forced"
    days = settings.lrs_full_rescan_days
    if days > 0 and (state.full_scan_started_at is None
                     or (now.date() - state.full_scan_started_at.date()).days >= days):
        return "due"
    return None


def read_window(settings: Settings) -> dt.timedelta:
    """How far before the cursor an incremental run reads again: overlap or look-back, the larger."""
    return max(dt.timedelta(seconds=settings.lrs_overlap_seconds),
               dt.timedelta(days=settings.lrs_lookback_days))


def extract_lrs(con: duckdb.DuckDBPyConnection, settings: Settings,
                progress: Callable[[int], None] | None = None, *,
                client: LrsClient | None = None) -> dict:
    """Load every statement the LRS stored since the last run (minus the read window), or,
    when a full re-scan is due or forced, every statement it holds.

    ``progress``, when given, is called with the number of statements of each
    page fetched (an "advance by n" callback). ``client`` overrides the client
    built from ``settings`` (timeouts, retries). Empty pages are fetched but
    not recorded in the manifest. Returns counts: ``pages`` (HTTP pages
    fetched), ``pages_loaded``, ``read``, ``loaded``, ``duplicate``,
    ``quarantined``, plus ``since`` and ``cursor`` (ISO strings or None),
    ``full_scan`` (bool) and ``full_scan_reason`` (``first_run`` / ``forced`` /
    ``due``, or None).
    """
    if not settings.lrs_url:
        raise ConfigError("SKILLPATH_LRS_URL is not set: no LRS to extract from.")
    key = lrs_cursor_key(settings.lrs_url)
    started_at = utcnow()
    if settings.lrs_full_rescan:  # kept until a re-scan completes: an interrupted one is redone
        _request_full_scan(con, key, started_at)
    state = read_cursor_state(con, settings.lrs_url)
    reason = full_scan_reason(state, settings, started_at)
    since = None if reason else state.last_stored - read_window(settings)
    if client is None:
        client = LrsClient(settings.lrs_url, settings.lrs_username, settings.lrs_password,
                           limit=settings.lrs_page_limit)
    totals = {"pages": 0, "pages_loaded": 0, "read": 0, "loaded": 0, "duplicate": 0, "quarantined": 0}
    detail = {"since": format_since(since) if since else None}
    if reason:
        detail["full_scan"] = reason
    log.info("LRS %s: %s", key, f"full re-scan ({reason})" if reason else f"since {detail['since']}")
    with client:
        for page in client.statements(since=since):
            totals["pages"] += 1
            if progress is not None:
                progress(len(page.statements))
            if not page.statements:
                continue
            with RawLoad(con, SOURCE, page.url, sha256_bytes(page.body), detail=detail) as load:
                load_xapi_records(con, enumerate(page.statements, start=1), load=load)
                if page.max_stored is not None:
                    _advance_cursor(con, key, page.max_stored)
            totals["pages_loaded"] += 1
            totals["read"] += load.read
            totals["loaded"] += load.loaded
            totals["duplicate"] += load.duplicate
            totals["quarantined"] += load.quarantined
    if reason:  # every page was read: only now is the re-scan complete
        _record_full_scan(con, key, started_at)
    cursor = read_cursor(con, settings.lrs_url)
    totals["since"] = detail["since"]
    totals["cursor"] = format_since(cursor) if cursor else None
    totals["full_scan"] = reason is not None
    totals["full_scan_reason"] = reason
    return totals
