"""Selective watches: objects entering the selection are ADDED, those leaving it DELETED."""

from raftkube.state.watching import SelectionTracker, is_watch


def pod(uid, app, ns="default"):
    return {"kind": "Pod", "metadata": {"uid": uid, "name": uid, "namespace": ns, "labels": {"app": app}}}


def tracker(known=None):
    return SelectionTracker(lambda o: o["metadata"]["namespace"] == "default",
                            lambda o: o["metadata"]["labels"]["app"] == "web", known)


def test_entering_and_leaving_the_selection():
    t = tracker({"a": False, "b": True})
    events = t.events([("MODIFIED", pod("a", "web")), ("MODIFIED", pod("b", "db")), ("MODIFIED", pod("b", "db")),
                       ("MODIFIED", pod("a", "web")), ("DELETED", pod("a", "web")), ("ADDED", pod("c", "db")),
                       ("ADDED", pod("d", "web", ns="other"))])
    assert [(kind, obj["metadata"]["uid"]) for kind, obj in events] == [
        ("ADDED", "a"), ("DELETED", "b"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_unknown_objects_count_as_they_are():
    events = tracker().events([("ADDED", pod("x", "web")), ("MODIFIED", pod("y", "web")), ("DELETED", pod("z", "web"))])
    assert [kind for kind, _ in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_values():
    assert all(is_watch(v) for v in ("1", "t", "true", "True", "TRUE"))
    assert not any(is_watch(v) for v in (None, "", "0", "false", "yes"))
