"""Shared pieces of the sample-data generator: clock, ids, formatting, file writers.

Everything here is deterministic: no wall-clock time, no process-dependent hashing,
gzip headers with ``mtime=0`` and no file name.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import random
from pathlib import Path

# The generated history ends here (UTC); it spans HISTORY_DAYS before it.
BASE_DATE = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
HISTORY_DAYS = 540
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
END_MS = int(BASE_DATE.timestamp() * 1000)
START_MS = END_MS - HISTORY_DAYS * DAY_MS

LMS_HOME = "https://lms.example.org"
CRED_HOME = "https://credentials.example.org"
XAPI_EXT = f"{LMS_HOME}/xapi/extensions"
HS256_DEMO_SECRET = b"skillpath-demo-jwt-secret"

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DAY_STR: dict[int, str] = {}


def sub_rng(seed: int, name: str) -> random.Random:
    """An independent random stream per part, so one part's changes do not shift another's."""
    return random.Random(f"skillpath:{seed}:{name}")


def uuid4(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``."""
    n = rng.getrandbits(128)
    n = (n & ~(0xF000 << 64)) | (0x4000 << 64)
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def offset_str(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}"


def fmt_ts(utc_ms: int, off_min: int, off: str, millis: bool = True) -> str:
    """ISO 8601 local time with its offset, e.g. ``2025-03-01T10:22:33.123+01:00``."""
    loc = utc_ms + off_min * 60_000
    day, ms = divmod(loc, DAY_MS)
    d = _DAY_STR.get(day)
    if d is None:
        d = _DAY_STR[day] = dt.date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
    s, ms = divmod(ms, 1000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if millis:
        return f"{d}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}{off}"
    return f"{d}T{h:02d}:{m:02d}:{s:02d}{off}"


def fmt_utc(utc_ms: int) -> str:
    """ISO 8601 UTC with ``Z`` (credential documents use this form)."""
    return fmt_ts(utc_ms, 0, "Z", millis=False)


def iso_duration(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    out = "PT"
    if h:
        out += f"{h}H"
    if m:
        out += f"{m}M"
    if s or out == "PT":
        out += f"{s}S"
    return out


def sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    parts = [int(x) for x in raw]
    short = total - sum(parts)
    order = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[:short]:
        parts[i] += 1
    return parts


class RotatingWriter:
    """Writes lines to ``<dir>/<prefix>-00001<suffix>``, ``-00002`` ... rotating every ``max_records``.

    ``gz`` files are gzip level 1 with a fixed header (byte-identical for identical input).
    """

    def __init__(self, directory: Path, prefix: str, suffix: str, max_records: int, gz: bool = False):
        self.directory = directory
        self.prefix = prefix
        self.suffix = suffix
        self.max_records = max_records
        self.gz = gz
        self.files: dict[str, int] = {}  # file name -> records written
        self._fh = None
        self._raw = None
        self._name = ""
        self._count = 0
        self._buf: list[bytes] = []
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def current_name(self) -> str:
        return self._name

    def _open(self) -> None:
        self._name = f"{self.prefix}-{len(self.files) + 1:05d}{self.suffix}"
        self._raw = open(self.directory / self._name, "wb")  # noqa: SIM115 - closed in _close
        self._fh = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=1, mtime=0)
            if self.gz else self._raw
        )
        self._count = 0
        self.files[self._name] = 0

    def _flush(self) -> None:
        if self._buf:
            self._fh.write(b"".join(self._buf))
            self._buf = []

    def _close(self) -> None:
        if self._fh is None:
            return
        self._flush()
        self.files[self._name] = self._count
        if self.gz:
            self._fh.close()
        self._raw.close()
        self._fh = self._raw = None

    def will_rotate(self) -> bool:
        """True when the next record opens a new file."""
        return self._fh is None or self._count >= self.max_records

    def write(self, line: bytes) -> None:
        """Write one record (``line`` without its newline)."""
        if self._fh is not None and self._count >= self.max_records:
            self._close()
        if self._fh is None:
            self._open()
        self._buf.append(line + b"\n")
        self._count += 1
        if len(self._buf) >= 4096:
            self._flush()

    def write_same_file(self, line: bytes) -> None:
        """Write one record into the current file even when it is full (for injected defects)."""
        self._buf.append(line + b"\n")
        self._count += 1

    def close(self) -> None:
        self._close()
