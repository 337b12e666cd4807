"""The run's event log as readers see it after a worker was killed half-way through a line."""

import json

from engine.runs.events import EVENTS_FILE, EventLog, read_events, read_last_status


def test_an_event_written_after_a_cut_line_starts_its_own_line(tmp_path):
    log = EventLog(tmp_path)
    log.write("status", status="running")
    with (tmp_path / EVENTS_FILE).open("a", encoding="utf-8") as out:
        out.write(json.dumps({"event": "log", "time": 1.0, "step": 3})[:20])  # killed mid-write
    log.write("status", status="stopped")
    lines = (tmp_path / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and lines[1].startswith('{"event": "log"') and lines[2].startswith('{"event": "status"')
    assert [event["status"] for event in read_events(tmp_path)] == ["running", "stopped"]
    assert read_last_status(tmp_path)["status"] == "stopped"
