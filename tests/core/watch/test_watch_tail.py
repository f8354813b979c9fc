"""`esper.watch.tail`: an events.jsonl read incrementally, by byte offset, read-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from esper.watch.tail import EventTail

from support.watchruns import growth_events, write_events


def _line(event: dict[str, object]) -> bytes:
    return (json.dumps(event) + "\n").encode()


def test_a_missing_file_reads_as_empty_until_it_appears(tmp_path: Path) -> None:
    tail = EventTail(tmp_path / "events.jsonl")
    assert tail.poll().events == []
    write_events(tmp_path, growth_events(range(1, 2)))
    batch = tail.poll()
    assert [e["type"] for _, e in batch.events][:2] == ["run.started", "engine.epoch"]
    assert not batch.restarted


def test_each_poll_reads_only_what_was_appended(tmp_path: Path) -> None:
    events = growth_events(range(1, 4))
    path = write_events(tmp_path, events[:3])
    tail = EventTail(path)
    assert [n for n, _ in tail.poll().events] == [1, 2, 3]
    assert tail.offset == path.stat().st_size
    assert tail.poll().events == []
    write_events(tmp_path, events[3:5], mode="a")
    batch = tail.poll()
    assert [n for n, _ in batch.events] == [4, 5]
    assert [e for _, e in batch.events] == events[3:5]


def test_a_half_written_last_line_waits_for_its_end(tmp_path: Path) -> None:
    events = growth_events(range(1, 2))
    path = tmp_path / "events.jsonl"
    whole, last = _line(events[0]), _line(events[1])
    path.write_bytes(whole + last[:25])
    tail = EventTail(path)
    assert [e["type"] for _, e in tail.poll().events] == ["run.started"]
    assert tail.offset == len(whole)
    with path.open("ab") as fh:
        fh.write(last[25:])
    batch = tail.poll()
    assert [(n, e["type"]) for n, e in batch.events] == [(2, "engine.epoch")]
    assert batch.problems == []


def test_bad_lines_are_skipped_and_named(tmp_path: Path) -> None:
    events = growth_events(range(1, 2))
    path = tmp_path / "events.jsonl"
    path.write_bytes(_line(events[0]) + b"{not json\n\n\xff\xfe\n" + _line(events[1]))
    tail = EventTail(path, name="events.jsonl")
    batch = tail.poll()
    assert [n for n, _ in batch.events] == [1, 5]
    assert batch.problems[0].startswith("events.jsonl:2: not valid JSON")
    assert batch.problems[1] == "events.jsonl:4: not UTF-8 text"


def test_a_replaced_or_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    events = growth_events(range(1, 3))
    path = write_events(tmp_path, events)
    tail = EventTail(path)
    assert len(tail.poll().events) == len(events)
    # Rotated: a new file (another inode) under the same name.
    fresh = tmp_path / "new.jsonl"
    fresh.write_bytes(_line(events[0]) + _line(events[1]) + _line(events[2]) * 5)
    os.replace(fresh, path)
    batch = tail.poll()
    assert batch.restarted
    assert [n for n, _ in batch.events] == list(range(1, 8))
    # Truncated in place: shorter than what was read.
    path.write_bytes(_line(events[0]))
    batch = tail.poll()
    assert batch.restarted
    assert [n for n, _ in batch.events] == [1]


def test_a_long_log_is_read_in_slices(tmp_path: Path) -> None:
    events = growth_events()
    path = write_events(tmp_path, events)
    tail = EventTail(path, max_bytes=4096)
    read: list[dict[str, object]] = []
    polls = 0
    while True:
        batch = tail.poll()
        read += [e for _, e in batch.events]
        polls += 1
        if not batch.more:
            break
    assert read == events
    assert polls > 3
    # One line longer than the limit is read whole, not stalled on.
    assert len(EventTail(path, max_bytes=16).poll().events) == 1


def test_the_file_is_only_ever_read(tmp_path: Path) -> None:
    path = write_events(tmp_path, growth_events(range(1, 3)))
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        before = path.stat()
        assert EventTail(path).poll().events
        assert path.stat().st_mtime_ns == before.st_mtime_ns
        assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]
    finally:
        tmp_path.chmod(0o755)


def test_max_bytes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        EventTail(tmp_path / "events.jsonl", max_bytes=0)
