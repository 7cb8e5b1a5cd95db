"""How `backstop` writes to an exchange that a server is running: through that server's operator
API. The server records the URL it listens on in the data directory's writer lock
(`journal/lock.py`); the operator token is `$BACKSTOP_OPERATOR_TOKEN`, else the one the server
wrote into the data directory when it first started (`server/operator.py`)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from backstop.cli_input import fail

TIMEOUT_S = 60


def _token(data_dir: Path) -> tuple[str, str]:
    """(the operator token, where it came from)."""
    given = os.environ.get("BACKSTOP_OPERATOR_TOKEN")
    if given:
        return given, "$BACKSTOP_OPERATOR_TOKEN"
    from backstop.server.operator import TOKEN_FILE  # here: the web framework is slow to import

    path = data_dir / TOKEN_FILE
    try:
        return path.read_text().strip(), str(path)
    except OSError:
        fail("no operator token: set $BACKSTOP_OPERATOR_TOKEN to the token the server was started with")


def post(url: str, path: str, body: dict[str, Any], data_dir: Path) -> None:
    """POST `body` to the operator API at `url` + `path`: done once it returns (the server answers
    only once the change is in its journal), or a one-line error with the server's own message
    (FTX's error strings, as the engine gives them)."""
    token, source = _token(data_dir)
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            fail(f"the server at {url} answered {exc.code} {exc.reason}")
        if exc.code == 401:
            fail(f"the server at {url} refused the operator token from {source}: {answer.get('error')}")
    except TimeoutError:
        fail(f"the server at {url} did not answer within {TIMEOUT_S} s; the write may have been applied")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        fail(f"the server at {url} does not answer ({reason})")
    if not isinstance(answer, dict) or not answer.get("success"):
        error = answer.get("error") if isinstance(answer, dict) else None
        fail(str(error or f"the server at {url} gave no answer"))
