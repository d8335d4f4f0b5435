"""Run-failure and blocked-gate notifications to ``SKILLPATH_ALERT_WEBHOOK`` (JSON POST)."""

from __future__ import annotations

import datetime as dt
import logging

import requests

from skillpath.config import settings

log = logging.getLogger(__name__)


def send_alert(summary: dict, url: str | None = None, timeout: float = 10.0) -> bool:
    """POST ``summary`` (plus a timestamp) as JSON; returns whether the webhook accepted it.

    A failing webhook is logged, never raised: the alert must not hide the original failure.
    """
    url = url or settings().alert_webhook
    if not url:
        return False
    body = {"source": "skillpath", "sent_at": dt.datetime.now(dt.UTC).isoformat(), **summary}
    try:
        resp = requests.post(url, json=body, timeout=timeout)
        resp.raise_for_status()
        return True
    except requests.RequestException as exc:
        log.warning("alert webhook %s failed: %s", url, exc)
        return False
