"""`get -w`: each change once across reconnects, and rows that line up under one header."""

import datetime

from raftkube.client.printing import WatchPrinter
from raftkube.client.watching import WatchCursor
from raftkube.state.kinds import kind_info

NOW = datetime.datetime(2026, 11, 27, 12, 0, 0, tzinfo=datetime.timezone.utc)


def pod(name, version, phase="Pending", namespace="default"):
    return {"kind": "Pod", "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(version),
                                        "creationTimestamp": "2026-11-27T11:59:00Z"},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": phase}}


def test_a_replayed_change_is_dropped():
    cursor = WatchCursor(10, [pod("a", 9)])
    assert cursor.accept("MODIFIED", pod("a", 11))
    assert cursor.accept("ADDED", pod("b", 12))
    # The next master replays from the revision asked for; and what an older one says twice.
    assert not cursor.accept("MODIFIED", pod("a", 11))
    assert not cursor.accept("ADDED", pod("b", 12))
    assert not cursor.accept("ADDED", pod("old", 5))
    assert cursor.accept("DELETED", pod("a", 13))
    assert cursor.revision == 13 and set(cursor.seen) == {("default", "b")}


def test_a_relisting_yields_exactly_what_was_missed():
    cursor = WatchCursor(20, [pod("kept", 3), pod("changed", 4), pod("gone", 5)])
    missed = cursor.relisted([pod("kept", 3), pod("changed", 30), pod("new", 31)], 35)
    assert [(t, o["metadata"]["name"]) for t, o in missed] == [
        ("DELETED", "gone"), ("MODIFIED", "changed"), ("ADDED", "new")]
    deleted = missed[0][1]
    assert deleted["metadata"]["resourceVersion"] == "35"
    assert cursor.revision == 35
    assert not cursor.accept("MODIFIED", pod("changed", 30))
    assert cursor.relisted([pod("kept", 3), pod("changed", 30), pod("new", 31)], 35) == []


def test_the_header_is_printed_once_and_rows_line_up():
    printer = WatchPrinter(None, kind_info("pods"))
    first = printer.lines([("ADDED", pod("web", 1))], NOW).splitlines()
    later = printer.lines([("MODIFIED", pod("web", 2, "Running"))], NOW).splitlines()
    assert first[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(later) == 1 and later[0].split() == ["web", "0/1", "Running", "0", "60s"]
    assert later[0].index("Running") == first[0].index("STATUS")


def test_nothing_listed_prints_the_header_with_the_first_change():
    printer = WatchPrinter(None, kind_info("pods"), events=True)
    assert printer.lines([], NOW) == ""
    text = printer.lines([("ADDED", pod("a", 1))], NOW).splitlines()
    assert text[0].split()[:2] == ["EVENT", "NAME"] and text[1].split()[:2] == ["ADDED", "a"]
    deleted = printer.lines([("DELETED", pod("a", 2))], NOW)
    assert deleted.index("a") == text[1].index("a")


def test_documents_and_names():
    assert WatchPrinter("name", kind_info("pods")).lines([("ADDED", pod("a", 1))], NOW) == "pod/a"
    text = WatchPrinter("json", kind_info("pods"), events=True).lines([("DELETED", pod("a", 1))], NOW)
    assert '"type": "DELETED"' in text
    assert WatchPrinter("yaml", kind_info("pods")).lines([("ADDED", pod("a", 1))], NOW).startswith("---\n")
