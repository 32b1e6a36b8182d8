"""The probe state machine: Kubernetes' defaults, thresholds, initial delay, startup gating."""

import pytest

from raftkube.remote.helper.events import EventRing
from raftkube.remote.helper.probes import KILL, LIVENESS, READINESS, STARTUP, ContainerProbes, ProbeSpec, container_probes

T0 = 1000.0


def probes(**specs):
    return ContainerProbes({kind: ProbeSpec.parse(kind, spec) for kind, spec in specs.items()}, started_at=T0)


def exec_probe(**timing):
    return {"exec": {"command": ["true"]}, **timing}


def test_defaults_are_kubernetes():
    spec = ProbeSpec.parse(LIVENESS, {"httpGet": {"port": 80}})
    assert (spec.initial_delay, spec.period, spec.timeout, spec.success_threshold, spec.failure_threshold) == (0, 10, 1, 1, 3)
    assert spec.handler == "httpGet" and spec.action == {"port": 80}


@pytest.mark.parametrize("kind", [LIVENESS, STARTUP])
def test_liveness_and_startup_need_success_threshold_1(kind):
    with pytest.raises(ValueError, match="successThreshold must be 1"):
        ProbeSpec.parse(kind, exec_probe(successThreshold=2))
    assert ProbeSpec.parse(READINESS, exec_probe(successThreshold=2)).success_threshold == 2


def test_exactly_one_handler():
    with pytest.raises(ValueError, match="exactly one"):
        ProbeSpec.parse(LIVENESS, {"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}})
    with pytest.raises(ValueError, match="exactly one"):
        ProbeSpec.parse(LIVENESS, {"periodSeconds": 3})


def test_container_probes_reads_the_three_fields():
    found = container_probes({"name": "a", "livenessProbe": exec_probe(), "readinessProbe": {"tcpSocket": {"port": 8}}})
    assert set(found) == {LIVENESS, READINESS}


def test_first_run_waits_for_the_initial_delay_then_every_period():
    p = probes(readiness=exec_probe(initialDelaySeconds=5, periodSeconds=2))
    assert p.due(T0 + 4.9) == [] and p.next_at() == T0 + 5
    assert p.due(T0 + 5) == [READINESS]
    p.record(READINESS, True, T0 + 5)
    assert p.due(T0 + 6) == [] and p.next_at() == T0 + 7


def test_readiness_starts_not_ready_and_follows_thresholds():
    p = probes(readiness=exec_probe(successThreshold=2, failureThreshold=2))
    assert p.ready is False
    p.record(READINESS, True, T0)
    assert p.ready is False  # one success of two
    p.record(READINESS, True, T0 + 10)
    assert p.ready is True
    p.record(READINESS, False, T0 + 20)
    assert p.ready is True  # one failure of two
    p.record(READINESS, True, T0 + 30)
    p.record(READINESS, False, T0 + 40)
    assert p.ready is True  # the success in between reset the count
    assert p.record(READINESS, False, T0 + 50) is None  # readiness never kills
    assert p.ready is False


def test_no_readiness_probe_reports_none():
    assert probes(liveness=exec_probe()).ready is None


def test_liveness_kills_after_failure_threshold_and_then_waits_for_a_new_run():
    p = probes(liveness=exec_probe(failureThreshold=3), readiness=exec_probe())
    p.record(READINESS, True, T0)
    assert p.record(LIVENESS, False, T0) is None
    assert p.record(LIVENESS, False, T0 + 10) is None
    assert p.live()
    assert p.record(LIVENESS, False, T0 + 20) == KILL
    assert not p.live() and p.ready is False
    assert p.due(T0 + 1000) == [] and p.next_at() is None
    p.new_run(T0 + 100)
    assert p.live() and p.ready is False and p.due(T0 + 100) == [LIVENESS, READINESS]


def test_startup_gates_liveness_and_readiness():
    p = probes(startup=exec_probe(failureThreshold=30, periodSeconds=1),
               liveness=exec_probe(initialDelaySeconds=2), readiness=exec_probe())
    assert not p.started and p.ready is False
    assert p.due(T0 + 50) == [STARTUP]
    assert p.record(LIVENESS, False, T0 + 1) is None  # not active: ignored
    p.record(STARTUP, False, T0 + 1)
    p.record(STARTUP, True, T0 + 3)
    assert p.started
    assert p.due(T0 + 3) == [LIVENESS, READINESS]  # initial delay (2 s) already over
    assert STARTUP not in p.active()


def test_startup_failure_kills():
    p = probes(startup=exec_probe(failureThreshold=2), liveness=exec_probe())
    assert p.record(STARTUP, False, T0) is None
    assert p.record(STARTUP, False, T0 + 10) == KILL
    assert p.active() == []


def test_summary_and_messages():
    p = probes(readiness=exec_probe())
    p.record(READINESS, False, T0, "connection refused")
    assert p.summary()[READINESS] == {"result": None, "successes": 0, "failures": 1, "message": "connection refused"}


def test_event_ring_is_bounded_and_numbered():
    ring = EventRing(size=3)
    pod = {"uid": "u", "namespace": "default", "name": "web"}
    for i in range(5):
        ring.record(pod, "app", "Unhealthy", f"m{i}", "Warning")
    assert ring.seq == 5
    assert [e["seq"] for e in ring.since(0)] == [3, 4, 5]
    assert [e["message"] for e in ring.since(4)] == ["m4"]
    assert ring.since(5) == []


def test_exec_stream_frames_are_joined():
    from raftkube.remote.helper.prober import _demultiplex

    frame = lambda stream, data: bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data  # noqa: E731
    assert _demultiplex(frame(1, b"out ") + frame(2, b"err") + frame(1, b"!")) == b"out err!"
    assert _demultiplex(frame(1, b"whole") + frame(1, b"truncated")[:-4]) == b"wholetrunc"
    assert _demultiplex(b"") == b""
