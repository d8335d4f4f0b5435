"""Run a local Ralph LRS (file-system backend) on 127.0.0.1.

Run it with the Ralph virtualenv's interpreter (see ``scripts/install_ralph.sh``)::

    .venv-ralph/bin/python scripts/run_ralph.py --port 8100 \\
        --data-dir /tmp/lrs-data --auth-file /tmp/lrs-auth.json

Ralph 5.1's ``fs`` LRS backend writes with ``operation_type=create`` by default,
so only the first POST succeeds (later ones fail with "already exists and
overwrite is not allowed"). This wrapper switches the backend to append before
the app is imported, then serves ``ralph.api:app`` with uvicorn.

Ralph reads its settings from ``RALPH_*`` environment variables when its
modules are imported; the options below only fill those variables:

* ``RALPH_RUNSERVER_BACKEND=fs``
* ``RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH`` (``--data-dir``)
* ``RALPH_AUTH_FILE`` (``--auth-file``, JSON written by ``ralph auth ... -w``)
* ``RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT`` (``--max-page-size``: Ralph caps
  the ``limit`` of ``GET /xAPI/statements`` at this value, 100 by default)

Ralph also reads a ``.env`` file from the working directory, so start it from a
directory you control.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RALPH_RUNSERVER_PORT", "8100")))
    parser.add_argument("--data-dir", type=Path,
                        default=os.environ.get("RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH"),
                        help="directory of the fs backend (statements go to fs_lrs.jsonl in it)")
    parser.add_argument("--auth-file", type=Path, default=os.environ.get("RALPH_AUTH_FILE"),
                        help="Ralph's basic-auth credentials file")
    parser.add_argument("--max-page-size", type=int,
                        default=int(os.environ.get("RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT", "100")))
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.data_dir is None or args.auth_file is None:
        parser.error("--data-dir and --auth-file are required (or their RALPH_* environment variables)")

    args.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        RALPH_RUNSERVER_BACKEND="fs",
        RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH=str(args.data_dir.resolve()),
        RALPH_AUTH_FILE=str(args.auth_file.resolve()),
        RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT=str(args.max_page_size),
    )

    # Imported only now: Ralph reads the environment at import time.
    import uvicorn
    from ralph.backends.data.base import BaseOperationType
    from ralph.backends.lrs.fs import FSLRSBackend

    FSLRSBackend.default_operation_type = BaseOperationType.APPEND

    from ralph.api import app

    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
