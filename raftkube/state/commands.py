"""The cluster state and the commands that change it: pure, deterministic, never raising.

`ClusterState` is what Raft replicates. Every replica applies the same commands in the
same order and must end in the same state, so nothing here reads a clock, draws a random
number or does I/O: the API stamps each command with the time, a fresh UID and a client
request id before it enters the log. An exception here would wedge pysyncobj's apply
loop, so `apply` turns every failure, including a malformed command, into an error value.

A command is a plain dict: `{"op": "create"|"update"|"delete"|"lease", "rid": ...}` plus
the op's arguments (see the `_op_*` methods). A result is `{"ok": True, "object": ...}`
or `{"ok": False, "reason": <Kubernetes StatusReason>, "message": ...}`.
"""

from __future__ import annotations

import collections
import json
import logging
import time

from raftkube.state import allocation
from raftkube.state import deletion
from raftkube.state.objects import KINDS

logger = logging.getLogger(__name__)

# Bounded so a snapshot stays small; large enough that a client retrying within a few
# seconds, or a watcher a few seconds behind, still finds what it needs.
REQUEST_MEMORY = 10000
CHANGE_LOG_SIZE = 10000
# ... and in bytes (JSON size of the objects they hold), since an object may be 1.5 MiB.
REQUEST_MEMORY_BYTES = 64 * 2**20
CHANGE_LOG_BYTES = 64 * 2**20
# Events are removed this long after they were last recorded (Kubernetes' --event-ttl),
# by the state machine itself, against the leader's clock; swept at most once a minute.
EVENT_TTL = 3600.0
EVENT_SWEEP = 60.0

NAMESPACE_KIND = "Namespace"


def ok(obj: dict | None = None) -> dict:
    return {"ok": True, "object": obj}


def error(reason: str, message: str) -> dict:
    return {"ok": False, "reason": reason, "message": message}


class CommandError(Exception):
    """An invalid command or unmet precondition; `apply` turns it into an error value."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def json_size(obj) -> int:
    """The size of `obj` serialized as the API sends it, for the byte bounds."""
    return len(json.dumps(obj, separators=(",", ":")))


# What the state machine adds to an object the API measured (uid, creationTimestamp,
# resourceVersion, generation), at most.
_STORED_METADATA_BYTES = 160


def _measured_size(command: dict) -> int | None:
    """The object's JSON size as the API measured it (its `size`), if the command has one:
    the byte bounds need no second serialization of every object on every replica."""
    size = command.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return size + _STORED_METADATA_BYTES
    return None


def _describe(kind: str, name: str) -> str:
    """Kubernetes' wording: `pods "web"`."""
    info = KINDS.get(kind)
    return f'{info.plural if info else kind} "{name}"'


def _text(value, what: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise CommandError("BadRequest", f"{what} must be a non-empty string")
    return value


def _object_key(obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object, checking just enough shape to store it."""
    if not isinstance(obj, dict):
        raise CommandError("BadRequest", "object must be a mapping")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise CommandError("BadRequest", "object.metadata must be a mapping")
    kind = _text(obj.get("kind"), "object.kind")
    name = _text(meta.get("name"), "object.metadata.name")
    namespace = _text(meta.get("namespace", ""), "object.metadata.namespace", allow_empty=True)
    info = KINDS.get(kind)
    if info is None:
        raise CommandError("BadRequest", f"unknown kind {kind!r}")
    # A namespaced object without a namespace, or a Node filed under one, would be
    # unreachable by its path or swept away with that namespace.
    if info.namespaced != bool(namespace):
        raise CommandError("BadRequest", f"{_describe(kind, name)}: metadata.namespace must be "
                                         f"{'set' if info.namespaced else 'empty (cluster-scoped)'}")
    return kind, namespace, name


def _resource_version(value) -> int | None:
    """A precondition resourceVersion: None or "" means unconditional."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise CommandError("BadRequest", f"resourceVersion {value!r} is not a number")


def _next_generation(current: dict, new: dict) -> int:
    """Kubernetes' metadata.generation: bumped when the desired state changes, so a
    controller's status.observedGeneration can tell whether it has acted on the latest
    spec. Metadata and status changes keep it."""
    generation = current["metadata"].get("generation") or 1
    desired = {key for key in {*current, *new} if key not in ("metadata", "status")}
    if any(current.get(key) != new.get(key) for key in desired):
        return generation + 1
    return generation


class ClusterState:
    """Every object of the cluster, the change log for watches and the request memory.

    Stored objects are never mutated in place (a change stores a new dict), so a reader
    may hold a reference returned by `get`/`list` without copying.
    """

    # The leader's latest clock stamp (Unix seconds) and the last Event sweep: class
    # defaults so snapshots written before they existed still load.
    clock = 0.0
    events_swept = 0.0
    # Pod IP -> (namespace, name) of the pod holding it: what allocation needs at each
    # bind, kept as pods are stored and removed (rebuilt from the pods when missing, as
    # in a snapshot written before it existed).
    _pod_ip_holders: dict | None = None

    def __init__(self) -> None:
        self.revision = 0
        self.objects: dict[str, dict[tuple[str, str], dict]] = {}
        self.changes: collections.deque = collections.deque()
        self.change_sizes: collections.deque = collections.deque()
        self.change_bytes = 0
        self.requests: collections.OrderedDict = collections.OrderedDict()
        self.request_sizes: dict[str, int] = {}
        self.request_bytes = 0
        self.lease: dict | None = None

    # -- applying commands ------------------------------------------------------------

    def apply(self, command) -> dict:
        """Apply one command once: a request id seen before returns its first result."""
        try:
            if not isinstance(command, dict):
                raise CommandError("BadRequest", "command must be a mapping")
            rid = command.get("rid")
            if rid is not None and not isinstance(rid, str):
                raise CommandError("BadRequest", "rid must be a string")
            if rid and rid in self.requests:
                return self.requests[rid]
            if self._expired(command.get("deadline")):
                # Not remembered: a client retrying with the same request id later may succeed.
                return error("ServiceUnavailable", "the write expired before the masters could commit it "
                                                   "and was not applied; retry")
            handler = self._OPS.get(command.get("op")) if isinstance(command.get("op"), str) else None
            if handler is None:
                raise CommandError("BadRequest", f"unknown command {command.get('op')!r}")
            result = handler(self, command)
        except CommandError as exc:
            result = error(exc.reason, exc.message)
            rid = command.get("rid") if isinstance(command, dict) else None
        except Exception as exc:  # pysyncobj wedges if anything escapes; a bug shows here
            logger.exception("command failed")
            return error("InternalError", f"command failed: {exc.__class__.__name__}")
        if rid and isinstance(rid, str):
            self._remember(rid, result)
        return result

    def apply_batch(self, commands) -> list[dict]:
        """Apply a batch (one Raft entry); an empty batch is the read barrier's no-op."""
        if not isinstance(commands, (list, tuple)):
            return [error("BadRequest", "a batch must be a list of commands")]
        return [self.apply(command) for command in commands]

    def _expired(self, deadline) -> bool:
        """Whether a command's deadline (Unix seconds) is before the leader's last stamp."""
        if deadline is None:
            return False
        if not isinstance(deadline, (int, float)) or isinstance(deadline, bool):
            raise CommandError("BadRequest", "deadline must be a number")
        return bool(self.clock) and deadline < self.clock

    def stamp_clock(self, now) -> None:
        """The leader's wall clock (see raft_patches.StampingQueue); also expires Events."""
        if not isinstance(now, (int, float)) or isinstance(now, bool) or now <= self.clock:
            return
        self.clock = float(now)
        if self.clock - self.events_swept >= EVENT_SWEEP:
            self.events_swept = self.clock
            self._expire_events()

    def _expire_events(self) -> None:
        # Timestamps are RFC 3339 in UTC: their first 19 characters sort as times do.
        cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock - EVENT_TTL))
        for (namespace, name), event in list(self.objects.get("Event", {}).items()):
            stamps = [event.get("lastTimestamp"), event.get("eventTime"), event["metadata"].get("creationTimestamp")]
            newest = max((stamp[:19] for stamp in stamps if isinstance(stamp, str)), default="")
            if newest < cutoff:
                self._remove("Event", namespace, name)

    def _remember(self, rid: str, result: dict) -> None:
        self._ensure_byte_bounds()
        obj = result.get("object")
        if self.changes and obj is not None and self.changes[-1][2] is obj:
            size = self.change_sizes[-1]  # measured a moment ago, as the change it made
        else:
            size = json_size(obj) if result.get("ok") else len(result.get("message", ""))
        self.requests[rid] = result
        self.request_sizes[rid] = size
        self.request_bytes += size
        while len(self.requests) > REQUEST_MEMORY or self.request_bytes > REQUEST_MEMORY_BYTES:
            old, _ = self.requests.popitem(last=False)
            self.request_bytes -= self.request_sizes.pop(old, 0)

    def _log_change(self, change: tuple[int, str, dict], size: int | None = None) -> None:
        self._ensure_byte_bounds()
        if size is None:
            size = json_size(change[2])
        self.changes.append(change)
        self.change_sizes.append(size)
        self.change_bytes += size
        while len(self.changes) > CHANGE_LOG_SIZE or (self.change_bytes > CHANGE_LOG_BYTES and len(self.changes) > 1):
            self.changes.popleft()
            self.change_bytes -= self.change_sizes.popleft()

    def _ensure_byte_bounds(self) -> None:
        """A state from a snapshot written before the byte bounds: start counting now."""
        if "change_sizes" not in vars(self):
            self.changes = collections.deque(self.changes)
            self.change_sizes = collections.deque(json_size(obj) for _, _, obj in self.changes)
            self.change_bytes = sum(self.change_sizes)
            self.request_sizes = {rid: 0 for rid in self.requests}
            self.request_bytes = 0

    def _op_create(self, command: dict) -> dict:
        """Args: object, uid, now. Fails if the name is taken or its namespace is missing."""
        obj = command.get("object")
        kind, namespace, name = _object_key(obj)
        uid = _text(command.get("uid"), "uid")
        now = _text(command.get("now"), "now")
        if self._find(kind, namespace, name) is not None:
            raise CommandError("AlreadyExists", f"{_describe(kind, name)} already exists")
        if namespace and self._find(NAMESPACE_KIND, "", namespace) is None:
            raise CommandError("NotFound", f'namespace "{namespace}" not found')
        obj = self._with_addresses(kind, None, obj)
        stored = dict(obj)
        stored["metadata"] = {**obj["metadata"], "uid": uid, "creationTimestamp": now, "generation": 1}
        return ok(self._store("ADDED", kind, namespace, name, stored, _measured_size(command)))

    def _op_update(self, command: dict) -> dict:
        """Args: object, now. Compare-and-swap on metadata.resourceVersion when it is set."""
        obj = command.get("object")
        kind, namespace, name = _object_key(obj)
        _text(command.get("now"), "now")
        current = self._find(kind, namespace, name)
        if current is None:
            raise CommandError("NotFound", f"{_describe(kind, name)} not found")
        self._check_preconditions(current, obj["metadata"].get("resourceVersion"),
                                  obj["metadata"].get("uid"), kind, name)
        obj = self._with_addresses(kind, current, obj)
        stored = deletion.carry_deletion(current, obj)
        stored["metadata"] = {
            **stored["metadata"],
            "uid": current["metadata"]["uid"],
            "creationTimestamp": current["metadata"]["creationTimestamp"],
            "resourceVersion": current["metadata"]["resourceVersion"],
            "generation": _next_generation(current, obj),
        }
        if stored == current:  # no new version, no watch event: "unchanged"
            return ok(current)
        if deletion.finished(stored):  # its last finalizer removed while terminating
            return ok(self._remove(kind, namespace, name))
        return ok(self._store("MODIFIED", kind, namespace, name, stored, _measured_size(command)))

    def _op_delete(self, command: dict) -> dict:
        """Args: kind, namespace, name, optional resourceVersion/uid preconditions,
        gracePeriodSeconds, propagationPolicy, now (needed when it only marks).

        Kubernetes' graceful deletion and finalizers (see deletion.py): the object may
        stay, terminating, with a deletionTimestamp. Deleting a namespace deletes
        everything in it, in the same command.
        """
        kind = _text(command.get("kind"), "kind")
        namespace = _text(command.get("namespace", ""), "namespace", allow_empty=True)
        name = _text(command.get("name"), "name")
        current = self._find(kind, namespace, name)
        if current is None:
            raise CommandError("NotFound", f"{_describe(kind, name)} not found")
        self._check_preconditions(current, command.get("resourceVersion"), command.get("uid"), kind, name)
        try:
            terminating = deletion.plan_delete(current, command.get("now"), command.get("gracePeriodSeconds"),
                                               command.get("propagationPolicy"))
        except deletion.DeletionError as exc:
            raise CommandError("BadRequest", str(exc)) from None
        if terminating is current:
            return ok(current)
        if terminating is not None:
            return ok(self._store("MODIFIED", kind, namespace, name, terminating))
        if kind == NAMESPACE_KIND:
            for member_kind, member_ns, member_name in self._keys_in_namespace(name):
                self._remove(member_kind, member_ns, member_name)
        return ok(self._remove(kind, namespace, name))

    def _op_lease(self, command: dict) -> dict:
        """Args: holder, term, now (seconds). The leader's proof that it still leads.

        The loops act only while their lease, committed in their own term, is recent.
        """
        holder = _text(command.get("holder"), "holder")
        term, now = command.get("term"), command.get("now")
        if not isinstance(term, int) or isinstance(term, bool):
            raise CommandError("BadRequest", "term must be an integer")
        if not isinstance(now, (int, float)) or isinstance(now, bool):
            raise CommandError("BadRequest", "now must be a number")
        if self.lease is not None and term < self.lease["term"]:
            raise CommandError("Conflict", f"lease is held in a later term {self.lease['term']}")
        self.lease = {"holder": holder, "term": term, "renewed": now}
        return ok(dict(self.lease))

    _OPS = {"create": _op_create, "update": _op_update, "delete": _op_delete, "lease": _op_lease}

    def _with_addresses(self, kind: str, current: dict | None, obj: dict) -> dict:
        """Pod IPs, pod CIDRs, ClusterIPs and NodePorts, chosen as the object is stored."""
        try:
            # Unsorted: allocation only scans, and runs on Raft's apply thread.
            return allocation.complete(lambda k: list(self.objects.get(k, {}).values()), self._find,
                                       kind, current, obj, self._pod_ips() if kind == "Pod" else None)
        except allocation.AllocationError as exc:
            raise CommandError(exc.reason, exc.message) from None

    def _pod_ips(self) -> dict:
        if self._pod_ip_holders is None:
            self._pod_ip_holders = {}
            for key, pod in self.objects.get("Pod", {}).items():
                self._hold_pod_ip(key, None, pod)
        return self._pod_ip_holders

    def _hold_pod_ip(self, key: tuple[str, str], old: dict | None, new: dict | None) -> None:
        holders = self._pod_ip_holders
        if holders is None:
            return  # built from the pods when first needed
        old_ip = ((old or {}).get("status") or {}).get("podIP")
        new_ip = ((new or {}).get("status") or {}).get("podIP")
        if old_ip != new_ip and old_ip and holders.get(old_ip) == key:
            del holders[old_ip]
        if new_ip:
            holders[new_ip] = key

    @staticmethod
    def _check_preconditions(current: dict, resource_version, uid, kind: str, name: str) -> None:
        expected = _resource_version(resource_version)
        if expected is not None and expected != int(current["metadata"]["resourceVersion"]):
            raise CommandError(
                "Conflict",
                f"Operation cannot be fulfilled on {_describe(kind, name)}: the object "
                f"has been modified (resourceVersion {current['metadata']['resourceVersion']}, "
                f"not {expected}); please apply your changes to the latest version and try again")
        if uid not in (None, "") and uid != current["metadata"]["uid"]:
            raise CommandError("Conflict", f"{_describe(kind, name)} has another uid")

    def _store(self, event: str, kind: str, namespace: str, name: str, obj: dict, size: int | None = None) -> dict:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        by_key = self.objects.setdefault(kind, {})
        if kind == "Pod":
            self._hold_pod_ip((namespace, name), by_key.get((namespace, name)), obj)
        by_key[(namespace, name)] = obj
        self._log_change((self.revision, event, obj), size)
        return obj

    def _remove(self, kind: str, namespace: str, name: str) -> dict:
        removed = self.objects[kind].pop((namespace, name))
        if kind == "Pod":
            self._hold_pod_ip((namespace, name), removed, None)
        if not self.objects[kind]:
            del self.objects[kind]
        self.revision += 1
        # The DELETED event carries the last state with the deletion's own version, as
        # Kubernetes does, so a watcher can resume from it.
        final = {**removed, "metadata": {**removed["metadata"], "resourceVersion": str(self.revision)}}
        self._log_change((self.revision, "DELETED", final))
        return final

    def _find(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.objects.get(kind, {}).get((namespace, name))

    def _keys_in_namespace(self, namespace: str) -> list[tuple[str, str, str]]:
        return [(kind, ns, name) for kind, by_key in self.objects.items()
                for ns, name in by_key if ns == namespace]

    # -- reading ----------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self._find(kind, namespace, name)

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        """Objects of a kind, in one namespace or (None) in all, sorted by namespace/name."""
        by_key = self.objects.get(kind, {})
        return [by_key[key] for key in sorted(by_key) if namespace is None or key[0] == namespace]

    def changes_since(self, revision: int) -> list[tuple[int, str, dict]] | None:
        """Change events after `revision`, or None if some were already dropped (410 Gone)."""
        if revision >= self.revision:
            return []
        oldest = self.changes[0][0] if self.changes else self.revision + 1
        if revision + 1 < oldest:
            return None
        newer = []
        for change in reversed(self.changes):  # a watcher is usually near the end
            if change[0] <= revision:
                break
            newer.append(change)
        newer.reverse()
        return newer
