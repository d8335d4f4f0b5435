"""Recipient consent events for the demo world (``landing/consents/``, docs/privacy.md).

Every credential recipient gets a consent story for ``detailed_tracking``: most granted,
some never asked (no event: not tracked in detail under the default
``SKILLPATH_CONSENT_DEFAULT=required``), some withdrew, some withdrew and granted again.
Grants arrive as one CSV export (``consents/consents.csv``) naming the recipient by
user id or email (sometimes ``mailto:`` and mixed case, sometimes without
``subject_type``); withdrawals and re-grants as NDJSON (``consents/changes.ndjson``). A
few recipients also grant ``share_with_employers``, and one event has a scope nobody
documents (loaded, used by nothing). With defects on, one grant has no UTC offset and
is quarantined (it is written for a recipient whose story is "never", so what the
marts show does not depend on it).
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import orjson

from skillpath_dev.generate.common import DAY_MS, END_MS, fmt_ts
from skillpath_dev.generate.world import World

#: share of recipients per story (the rest: granted)
NEVER, WITHDRAWN, REGRANTED = 0.12, 0.10, 0.08
#: the stories of the first recipients, so that a small world has each of them
FIRST_STORIES = ("withdrawn", "regranted", "never")


def write_consents(world: World, recipients: list[int], consent_dir: Path, rng: random.Random,
                   defects: bool) -> dict:
    """Write the consent files for ``recipients`` (indexes into ``world.users``); return counts."""
    consent_dir.mkdir(parents=True, exist_ok=True)
    grants = io.StringIO()
    out = csv.writer(grants, lineterminator="\n")
    out.writerow(["subject_type", "subject", "scope", "action", "at", "source"])
    changes: list[bytes] = []
    stories = dict.fromkeys(("granted", "never", "withdrawn", "regranted"), 0)
    quarantined = 0
    for i, u in enumerate(recipients):
        user = world.users[u]
        acc = world.accounts[user.account]
        r = rng.random()
        story = ("never" if r < NEVER else "withdrawn" if r < NEVER + WITHDRAWN
                 else "regranted" if r < NEVER + WITHDRAWN + REGRANTED else "granted")
        if i < len(FIRST_STORIES):  # small worlds: every story at least once
            story = FIRST_STORIES[i]
        stories[story] += 1
        at = END_MS - int(rng.uniform(60, 300) * DAY_MS)
        if story == "never":
            if defects and quarantined == 0:
                # a grant without an offset: ambiguous, quarantined (bad_timestamp)
                out.writerow(["user_id", user.user_id, "detailed_tracking", "granted",
                              fmt_ts(at, 0, "")[:19], "lms-privacy-page"])
                quarantined += 1
            continue
        form = rng.random()
        if form < 0.5:
            subject_type, subject = "user_id", user.user_id
        elif form < 0.7:
            subject_type, subject = "email", "mailto:" + user.email.title()
        elif form < 0.85:
            subject_type, subject = "email", user.email
        else:
            subject_type, subject = "", user.email  # inferred from the @
        out.writerow([subject_type, subject, "detailed_tracking", "granted", fmt_ts(at, acc.off_min, acc.off),
                      "lms-privacy-page"])
        if rng.random() < 0.3:
            out.writerow([subject_type, subject, "share_with_employers", "granted",
                          fmt_ts(at + 60_000, acc.off_min, acc.off), "lms-privacy-page"])
        if story == "granted":
            continue
        withdrawn = at + int(rng.uniform(5, 40) * DAY_MS)
        changes.append(orjson.dumps({"subject": user.user_id, "subject_type": "user_id",
                                     "scope": "detailed_tracking", "action": "withdrawn",
                                     "at": fmt_ts(withdrawn, acc.off_min, acc.off), "source": "support-desk"}))
        if story == "regranted":
            again = withdrawn + int(rng.uniform(5, 15) * DAY_MS)
            changes.append(orjson.dumps({"subject": user.email, "scope": "detailed_tracking", "action": "granted",
                                         "at": fmt_ts(again, acc.off_min, acc.off), "source": "wallet-app"}))
    if recipients:
        first = world.users[recipients[0]]
        changes.append(orjson.dumps({"subject": first.user_id, "scope": "newsletter", "action": "granted",
                                     "at": fmt_ts(END_MS - DAY_MS, 0, "Z"), "source": "marketing"}))
    (consent_dir / "consents.csv").write_text(grants.getvalue(), encoding="utf-8")
    (consent_dir / "changes.ndjson").write_bytes(b"\n".join(changes) + b"\n")
    rows = grants.getvalue().count("\n") - 1
    return {"recipients": len(recipients), "stories": stories, "records": rows + len(changes),
            "quarantined": quarantined, "files": ["consents.csv", "changes.ndjson"]}
