"""Every browser test fails on a server traceback written while it ran: an error the page swallows (a timer's
tick, a handler sending a table to a plot) is still an error."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_server_tracebacks(request):
    if "studio" not in request.fixturenames:
        yield
        return
    log = request.getfixturevalue("studio")["log"]
    before = log.stat().st_size
    yield
    with log.open("rb") as written:
        written.seek(before)
        new = written.read().decode("utf-8", errors="replace")
    if "Traceback" in new:
        start = new.index("Traceback")
        pytest.fail("the studio wrote a traceback while this test ran:\n" + new[start:start + 4000])
