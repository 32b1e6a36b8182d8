"""Kubernetes' probe rules for one container, as a state machine over results and times.

Pure (no Docker, no sockets, no clock: times come in), so thresholds, initial delays
and startup gating are unit-tested without hosts; `prober.py` runs it against real
containers. The rules are kubelet's prober workers':

- each probe runs first `initialDelaySeconds` after the container started, then every
  `periodSeconds`;
- its result turns to success after `successThreshold` consecutive successes and to
  failure after `failureThreshold` consecutive failures;
- before any result, readiness is failure (not ready), liveness success, startup failure;
- while a startup probe has not succeeded, liveness and readiness do not run; once it
  has, it stops;
- a liveness (or startup) failure means kill the container; the probes then wait for
  the container's next run, which starts them afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
KINDS = (STARTUP, LIVENESS, READINESS)
FIELDS = {STARTUP: "startupProbe", LIVENESS: "livenessProbe", READINESS: "readinessProbe"}
TITLES = {STARTUP: "Startup", LIVENESS: "Liveness", READINESS: "Readiness"}
HANDLERS = ("exec", "httpGet", "tcpSocket")
KILL = "kill"


@dataclass(frozen=True)
class ProbeSpec:
    """One probe of a container spec, with Kubernetes' defaults filled in."""

    kind: str
    handler: str  # exec | httpGet | tcpSocket
    action: dict  # the handler's object as the pod spec has it
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    grace: float | None = None  # the probe's own terminationGracePeriodSeconds

    @classmethod
    def parse(cls, kind: str, probe: dict) -> ProbeSpec:
        """A validated pod spec's probe; ValueError names what is wrong."""
        handlers = [h for h in HANDLERS if probe.get(h) is not None]
        if len(handlers) != 1:
            raise ValueError(f"{FIELDS[kind]} must have exactly one of {', '.join(HANDLERS)}")
        success = int(probe.get("successThreshold") or 1)
        if kind != READINESS and success != 1:
            raise ValueError(f"{FIELDS[kind]}.successThreshold must be 1")
        spec = cls(
            kind=kind,
            handler=handlers[0],
            action=dict(probe[handlers[0]]),
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            success_threshold=success,
            failure_threshold=int(probe.get("failureThreshold") or 3),
            grace=probe.get("terminationGracePeriodSeconds"),
        )
        if spec.period < 1 or spec.timeout < 1 or spec.failure_threshold < 1 or spec.initial_delay < 0:
            raise ValueError(f"{FIELDS[kind]}: periodSeconds, timeoutSeconds and failureThreshold must be >= 1")
        return spec


def container_probes(container: dict) -> dict[str, ProbeSpec]:
    """The probes of one pod spec container, by kind."""
    return {kind: ProbeSpec.parse(kind, container[field]) for kind, field in FIELDS.items() if container.get(field)}


class _Tracker:
    """One probe's consecutive counts, result and next time to run."""

    def __init__(self, spec: ProbeSpec, started_at: float):
        self.spec = spec
        self.result: bool | None = None
        self.successes = self.failures = 0
        self.next_at: float | None = started_at + spec.initial_delay
        self.last_message = ""

    def record(self, ok: bool, now: float) -> bool:
        """Count one result; True when it turned the probe's result over."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            turned = self.successes >= self.spec.success_threshold and self.result is not True
            if turned:
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            turned = self.failures >= self.spec.failure_threshold and self.result is not False
            if turned:
                self.result = False
        self.next_at = now + self.spec.period
        return turned


class ContainerProbes:
    """The probes of one container for one run of it (a restart means a new object or `new_run`)."""

    def __init__(self, specs: dict[str, ProbeSpec], started_at: float):
        self.specs = specs
        self.new_run(started_at)

    def new_run(self, started_at: float) -> None:
        """The container (re)started at `started_at`: every probe starts over."""
        self.started_at = started_at
        self.trackers = {kind: _Tracker(spec, started_at) for kind, spec in self.specs.items()}
        self.killed = False

    @property
    def started(self) -> bool:
        """Kubernetes' `started`: the startup probe succeeded, or there is none."""
        startup = self.trackers.get(STARTUP)
        return startup is None or startup.result is True

    @property
    def ready(self) -> bool | None:
        """The readiness result (None: no readiness probe, so readiness is the container's running)."""
        readiness = self.trackers.get(READINESS)
        if readiness is None:
            return None
        return readiness.result is True and self.started and not self.killed

    def live(self) -> bool:
        liveness = self.trackers.get(LIVENESS)
        return liveness is None or liveness.result is not False

    def due(self, now: float) -> list[str]:
        """The probes to run now, in the order to run them."""
        return [kind for kind in self.active() if self.trackers[kind].next_at <= now]

    def next_at(self) -> float | None:
        """When a probe is next due (None: none is, until the container runs again)."""
        times = [self.trackers[kind].next_at for kind in self.active()]
        return min(times) if times else None

    def active(self) -> list[str]:
        if self.killed:
            return []
        if not self.started:
            return [STARTUP]
        return [kind for kind in (LIVENESS, READINESS) if kind in self.trackers]

    def record(self, kind: str, ok: bool, now: float, message: str = "") -> str | None:
        """One probe result; returns KILL when the container must be killed for it."""
        tracker = self.trackers[kind]
        if kind not in self.active():
            return None  # a result that arrived after the gate closed (killed, or startup done)
        tracker.last_message = message
        turned = tracker.record(ok, now)
        if kind == STARTUP and turned and ok:
            for other in (LIVENESS, READINESS):
                if other in self.trackers:
                    # Gated until now: their initial delay counts from the start, as in kubelet.
                    self.trackers[other].next_at = max(now, self.trackers[other].next_at)
        if kind in (LIVENESS, STARTUP) and turned and not ok:
            self.killed = True
            return KILL
        return None

    def summary(self) -> dict:
        """What the report shows of each probe."""
        return {
            kind: {
                "result": tracker.result,
                "successes": tracker.successes,
                "failures": tracker.failures,
                "message": tracker.last_message,
            }
            for kind, tracker in self.trackers.items()
        }
