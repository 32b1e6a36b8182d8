"""The HTTP API every master serves: Kubernetes paths, Status errors, watches, cluster admin.

Writes become state-machine commands stamped here with the time, a fresh UID and the
client's request id (`X-Request-Id`, so a client retrying against another master is
applied once). pysyncobj forwards a follower's commands to the leader, so any master
takes writes. Reads pass a read barrier first (linearizable) unless the client asks for
`resourceVersion=0`, which is served from the local replica.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from raftkube.errors import UserError
from raftkube.state import bodies, deletion, discovery, liveness, names, objects, patching, tables
from raftkube.state.commands import ClusterState
from raftkube.state.committer import Committer, LeaderDiskLow, NoQuorum
from raftkube.state.disk import DiskGuard, DiskLow
from raftkube.state.fieldselectors import FieldSelector, parse_field_selector
from raftkube.state.fieldvalidation import FieldValidationError, directive, validate_fields
from raftkube.state.patching import merge_patch  # noqa: F401  (the API's merge patch, for callers)
from raftkube.state.selectors import Selector, SelectorError, parse_selector
from raftkube.state.store import Store
from raftkube.state.watching import SelectionTracker, is_watch

logger = logging.getLogger(__name__)

BUILTIN_NAMESPACES = ("default", "kube-system")
UPDATE_ATTEMPTS = 5
GENERATE_ATTEMPTS = 5

STATUS_CODES = {
    "BadRequest": 400, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404, "MethodNotAllowed": 405,
    "AlreadyExists": 409, "Conflict": 409, "Gone": 410, "UnsupportedMediaType": 415,
    "RequestEntityTooLarge": 413, "Invalid": 422, "InternalError": 500, "ServiceUnavailable": 503,
    "InsufficientStorage": 507,
}


class ApiError(Exception):
    """Answered as a Kubernetes `Status` with the code for its reason."""

    def __init__(self, reason: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


def status_body(reason: str, message: str, retry_after: int | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": STATUS_CODES.get(reason, 500)}
    if retry_after is not None:
        body["details"] = {"retryAfterSeconds": retry_after}
    return body


def _status_response(error: ApiError) -> web.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return web.json_response(status_body(error.reason, error.message, error.retry_after),
                             status=STATUS_CODES.get(error.reason, 500), headers=headers)


def _user_error_reason(exc: UserError) -> str:
    if isinstance(exc, NoQuorum):
        return "ServiceUnavailable"
    if isinstance(exc, (DiskLow, LeaderDiskLow)):
        return "InsufficientStorage"
    if isinstance(exc, SelectorError):
        return "BadRequest"
    if isinstance(exc, objects.UnknownKind):
        return "NotFound"
    if isinstance(exc, objects.ValidationError):
        return "Invalid"
    if isinstance(exc, patching.PatchError):
        return "Invalid"
    return "BadRequest"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class Resource:
    """What a request path names: a kind, maybe a namespace (None: all), maybe a name."""

    info: objects.KindInfo
    namespace: str | None
    name: str | None

    @property
    def store_namespace(self) -> str:
        return (self.namespace or "") if self.info.namespaced else ""


class ApiServer:
    """The aiohttp application of one master."""

    def __init__(self, store: Store, token: str, master_name: str, committer: Committer | None = None,
                 cert_expires: str | None = None, disk_guard: DiskGuard | None = None):
        self.store = store
        self.cert_expires = cert_expires
        self.disk_guard = disk_guard
        self.liveness = liveness.WatchLiveness(store)
        self.committer = committer or Committer(store)
        self.master_name = master_name
        self._token = token
        self._ensured_namespaces: set[str] = set()
        self._revision_changed = asyncio.Event()
        self._listener = None
        self._stopping = False
        # Set by the master: helper ops on a node through the leader's host pool
        # (`raftkube.loops.runner.NodeAccess`), for pods/log and pods/exec.
        self.node_access = None
        # pods/log and pods/exec (state/podio.py), set up by the master with node access.
        self.pod_io = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._authenticate], client_max_size=bodies.MAX_BODY)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        app.on_response_prepare.append(_add_warnings)
        app.router.add_get("/version", self.version)
        app.router.add_get("/api", self.api_versions)
        app.router.add_get("/apis", self.api_groups)
        app.router.add_get("/api/{version}", self.api_resources)
        app.router.add_get("/apis/{group}/{version}", self.api_resources)
        app.router.add_get("/openapi/v3", self.openapi_root)
        app.router.add_get("/openapi/v3/{key:.+}", self.openapi_document)
        for prefix in ("/api/{version}", "/apis/{group}/{version}"):
            app.router.add_route("*", prefix + "/namespaces/{namespace}/{plural}", self.collection)
            app.router.add_route("*", prefix + "/namespaces/{namespace}/{plural}/{name}", self.item)
            app.router.add_route("*", prefix + "/namespaces/{namespace}/{plural}/{name}/{subresource}",
                                 self.subresource)
            app.router.add_route("*", prefix + "/{plural}", self.collection)
            app.router.add_route("*", prefix + "/{plural}/{name}", self.item)
            app.router.add_route("*", prefix + "/{plural}/{name}/{subresource}", self.subresource)
        app.router.add_get("/raftkube/v1/cluster", self.cluster_status)
        app.router.add_post("/raftkube/v1/cluster/members", self.add_member)
        app.router.add_delete("/raftkube/v1/cluster/members/{address}", self.remove_member)
        app.router.add_get("/healthz", self.healthz)
        return app

    # -- plumbing ---------------------------------------------------------------------

    async def _on_startup(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def on_applied(revision: int) -> None:  # tick thread
            loop.call_soon_threadsafe(self._wake_watchers)

        self._listener = on_applied
        self.store.add_listener(on_applied)
        self._bootstrap = asyncio.create_task(self._create_builtin_namespaces())

    async def _on_shutdown(self, app: web.Application) -> None:
        # aiohttp waits (60 s) for running handlers before it stops: end the watches now.
        self._stopping = True
        self._wake_watchers()

    async def _on_cleanup(self, app: web.Application) -> None:
        self._bootstrap.cancel()
        self.store.remove_listener(self._listener)

    async def _create_builtin_namespaces(self) -> None:
        """Like kube-apiserver, make `default` and `kube-system` exist from the start:
        whichever replica leads creates them (the shared request id applies it once)."""
        def missing(state) -> list[str]:
            return [ns for ns in BUILTIN_NAMESPACES if state.get("Namespace", "", ns) is None]

        while self.store.read(missing):
            if self.store.is_leader:
                for namespace in self.store.read(missing):
                    try:
                        await self._ensure_namespace(namespace)
                    except (ApiError, NoQuorum) as exc:
                        logger.info("built-in namespace %s not created yet: %s", namespace, exc)
            await asyncio.sleep(1.0)

    def _wake_watchers(self) -> None:
        self._revision_changed.set()
        self._revision_changed = asyncio.Event()

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except ApiError as exc:
            return _status_response(exc)
        except NoQuorum as exc:
            return _status_response(ApiError("ServiceUnavailable", str(exc), retry_after=1))
        except UserError as exc:
            return _status_response(ApiError(_user_error_reason(exc), str(exc)))
        except web.HTTPException as exc:  # aiohttp's own: unknown path, body too large
            reason = {404: "NotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge"}.get(exc.status)
            if reason is None:
                raise
            return web.json_response(status_body(reason, f"{exc.reason}: {request.method} {request.path}"),
                                     status=exc.status)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return _status_response(ApiError("InternalError", "internal error; see the master's log"))

    @web.middleware
    async def _authenticate(self, request: web.Request, handler):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        # surrogateescape: a header with bytes that are not UTF-8 is a wrong token, not a 500.
        given = token.strip().encode("utf-8", "surrogateescape")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, self._token.encode()):
            raise ApiError("Unauthorized", "a valid bearer token is required (see the inventory's token file)")
        return await handler(request)

    def _resource(self, request: web.Request) -> Resource:
        match = request.match_info
        info = objects.kind_info(match["plural"])
        version = f"{match['group']}/{match['version']}" if "group" in match else match["version"]
        if version != info.api_version:
            raise ApiError("NotFound", f"{info.plural} are served under {info.api_version}, not {version}")
        namespace, name = match.get("namespace"), match.get("name")
        if namespace is not None and not info.namespaced:
            raise ApiError("NotFound", f"{info.plural} are not namespaced")
        return Resource(info, namespace, name)

    async def _body(self, request: web.Request) -> dict:
        body = await self._document(request)
        if not isinstance(body, dict):
            raise ApiError("BadRequest", "request body must be an object")
        return body

    async def _document(self, request: web.Request):
        """The JSON (or YAML) body, whatever its shape (a JSON patch is a list)."""
        yaml_body = "yaml" in request.content_type
        try:
            body = await bodies.parse_async(await request.read(), yaml_body)
        except bodies.BodyError as exc:
            raise ApiError("RequestEntityTooLarge" if exc.too_large else "BadRequest", str(exc)) from None
        if yaml_body:
            try:
                # YAML can hold dates, sets and bytes; stored (unknown fields inside `status`
                # are kept) they would break every later answer that includes the object.
                json.dumps(body, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ApiError("BadRequest", f"request body holds a value JSON cannot: {exc} "
                                             "(quote dates and times)") from None
        return body

    async def _read(self, request: web.Request, reader):
        """Run `reader(state)` after a read barrier, unless the client accepts older data.

        As in Kubernetes, `resourceVersion=0` takes any local state and `resourceVersion=N`
        any state at least as new as N; without it the read is linearizable.
        """
        wanted = request.query.get("resourceVersion", "")
        fresh_enough = wanted.isdigit() and self.store.read(lambda state: state.revision) >= int(wanted)
        if not fresh_enough:
            await self.committer.barrier()
        return self.store.read(reader)

    async def _commit(self, command: dict) -> dict:
        if self.disk_guard is not None:
            self.disk_guard.check()
        size = 0
        if "object" in command:
            try:
                size = bodies.object_size(command["object"])
            except bodies.BodyError as exc:
                raise ApiError("RequestEntityTooLarge", str(exc)) from None
        result = await self.committer.run(command, size)
        if not result["ok"]:
            raise ApiError(result["reason"], result["message"])
        return result["object"]

    @staticmethod
    def _rid(request: web.Request, suffix: str = "") -> str:
        base = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        return base + suffix

    # -- objects ----------------------------------------------------------------------

    async def collection(self, request: web.Request) -> web.StreamResponse:
        resource = self._resource(request)
        if request.method == "GET":
            if is_watch(request.query.get("watch")):
                return await self._watch(request, resource)
            return await self._list(request, resource)
        if request.method == "POST":
            if resource.info.namespaced and resource.namespace is None:
                raise ApiError("MethodNotAllowed", f"create {resource.info.plural} under /namespaces/NAMESPACE/")
            return web.json_response(await self._create(request, resource, await self._body(request)), status=201)
        raise ApiError("MethodNotAllowed", f"{request.method} is not allowed on a collection")

    async def item(self, request: web.Request) -> web.StreamResponse:
        resource = self._resource(request)
        if resource.info.namespaced and resource.namespace is None:
            raise ApiError("NotFound", f"{resource.info.plural} live under /namespaces/NAMESPACE/")
        handlers = {"GET": self._get, "PUT": self._replace, "PATCH": self._patch, "DELETE": self._delete}
        handler = handlers.get(request.method)
        if handler is None:
            raise ApiError("MethodNotAllowed", f"{request.method} is not allowed on an object")
        if request.method == "GET" and is_watch(request.query.get("watch")):
            return await self._watch(request, resource)
        if request.method == "PATCH" and request.content_type == patching.APPLY:
            return await self._server_side_apply(request, resource)
        answer = await handler(request, resource)
        if request.method == "GET" and tables.wants_table(request.headers.get("Accept", "")):
            answer = tables.table([answer], resource.info.kind, _now_time(), answer["metadata"].get("resourceVersion"),
                                  request.query.get("includeObject", "Metadata"))
        return web.json_response(answer)

    async def read_pod(self, request: web.Request, namespace: str, name: str) -> dict:
        """The pod, read as a GET would (for pods/log and pods/exec)."""
        return await self._get(request, Resource(objects.kind_info("Pod"), namespace, name))

    async def _get(self, request: web.Request, resource: Resource) -> dict:
        key = (resource.info.kind, resource.store_namespace, resource.name)
        obj = await self._read(request, lambda state: state.get(*key))
        if obj is None:
            raise ApiError("NotFound", f'{resource.info.plural} "{resource.name}" not found')
        return obj

    async def _list(self, request: web.Request, resource: Resource) -> web.Response:
        selector = parse_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector"), resource.info.kind)
        kind = resource.info.kind

        def reader(state: ClusterState):
            return state.revision, state.list(kind, resource.namespace if resource.info.namespaced else None)

        revision, items = await self._read(request, reader)
        items = [obj for obj in items if _selected(obj, selector, fields)]
        if tables.wants_table(request.headers.get("Accept", "")):
            return web.json_response(tables.table(items, kind, _now_time(), str(revision),
                                                  request.query.get("includeObject", "Metadata")))
        return web.json_response({
            "kind": f"{kind}List", "apiVersion": resource.info.api_version,
            "metadata": {"resourceVersion": str(revision)}, "items": items,
        })

    def _prepare(self, resource: Resource, body: dict, name: str | None = None,
                 request: web.Request | None = None) -> dict:
        """Check the body against the path, fill kind/namespace, validate (defaults).

        Unknown fields follow the request's `fieldValidation` (Strict by default)."""
        info = resource.info
        if body.setdefault("kind", info.kind) != info.kind:
            raise ApiError("BadRequest", f"body kind {body['kind']!r} does not match the path ({info.plural})")
        body.setdefault("apiVersion", info.api_version)
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            raise ApiError("Invalid", "metadata: required mapping")
        if name is not None and meta.setdefault("name", name) != name:
            raise ApiError("BadRequest", f"body name {meta['name']!r} does not match the path ({name!r})")
        if info.namespaced:
            if meta.setdefault("namespace", resource.namespace) != resource.namespace:
                raise ApiError("BadRequest", f"the namespace of the object ({meta['namespace']!r}) "
                                             f"does not match the request ({resource.namespace!r})")
        else:
            meta.pop("namespace", None)
        if request is None:
            return objects.validate(body)
        try:
            how = directive(request.query.get("fieldValidation"))
        except FieldValidationError as exc:
            raise ApiError("BadRequest", str(exc)) from None
        obj, warnings = validate_fields(body, how, objects.validate)
        request.setdefault("warnings", []).extend(warnings)
        return obj

    async def _create(self, request: web.Request, resource: Resource, body: dict) -> dict:
        """Create; a `generateName` gets a random suffix here, never in the state machine."""
        obj = self._prepare(resource, body, request=request)
        if _dry_run(request):
            return obj
        await self._ensure_namespace(obj["metadata"].get("namespace", ""))
        generated = not obj["metadata"].get("name")
        for attempt in range(GENERATE_ATTEMPTS if generated else 1):
            if generated:
                name = names.generate_name(obj["metadata"]["generateName"])
                obj = {**obj, "metadata": {**obj["metadata"], "name": name}}
            try:
                return await self._commit({"op": "create", "rid": self._rid(request, f"/{attempt}"),
                                           "object": obj, "uid": str(uuid.uuid4()), "now": _now()})
            except ApiError as exc:
                if not generated or exc.reason != "AlreadyExists":
                    raise
        raise ApiError("AlreadyExists", f"no free name for generateName {obj['metadata']['generateName']!r}")

    async def _replace(self, request: web.Request, resource: Resource) -> dict:
        body = await self._body(request)
        return await self._update(request, resource, body, lambda current: dict(body))

    async def _patch(self, request: web.Request, resource: Resource) -> dict:
        """Merge, strategic merge or JSON patch of the current object, by Content-Type."""
        content_type = _patch_type(request)
        patch = await self._document(request)
        body = patch if isinstance(patch, dict) else {}
        return await self._update(request, resource, body,
                                  lambda current: patching.apply_patch(current, content_type, patch))

    async def _server_side_apply(self, request: web.Request, resource: Resource) -> web.Response:
        """`apply-patch+yaml`: create when missing (201), else merge the applied configuration.

        Field ownership is not tracked, so there are no conflicts to report; the field
        manager is recorded in metadata.managedFields as Kubernetes does.
        """
        manager = request.query.get("fieldManager", "")
        if not manager:
            raise ApiError("BadRequest", "fieldManager is required for apply requests")
        applied = await self._body(request)
        if not isinstance(applied.get("metadata") or {}, dict):
            raise ApiError("Invalid", "metadata: required mapping")
        entry = {"manager": manager, "operation": "Apply", "apiVersion": resource.info.api_version,
                 "time": _now(), "fieldsType": "FieldsV1", "fieldsV1": {}}
        key = (resource.info.kind, resource.store_namespace, resource.name)
        if await self._read(request, lambda state: state.get(*key)) is None:
            created = {**applied, "metadata": {**(applied.get("metadata") or {}), "managedFields": [entry]}}
            if created["metadata"].get("name", resource.name) != resource.name:
                raise ApiError("BadRequest", f"body name {created['metadata']['name']!r} does not match the path")
            created["metadata"]["name"] = resource.name
            return web.json_response(await self._create(request, resource, created), status=201)

        def build(current: dict) -> dict:
            merged = patching.strategic_merge_patch(current, applied)
            others = [m for m in current["metadata"].get("managedFields") or []
                      if not (m.get("manager") == manager and m.get("operation") == "Apply")]
            merged["metadata"] = {**merged["metadata"], "managedFields": [*others, entry]}
            return merged

        return web.json_response(await self._update(request, resource, applied, build))

    async def _update(self, request: web.Request, resource: Resource, body: dict, build) -> dict:
        """Read, build the new object, check what Kubernetes keeps immutable, compare-and-swap.

        The swap is always conditional on the version that was checked, so a concurrent
        change cannot slip past the immutability check; the loop retries then, unless the
        client pinned a resourceVersion itself (its conflict is its own to resolve).
        """
        meta = body.get("metadata")
        pinned = meta.get("resourceVersion") if isinstance(meta, dict) else None
        for attempt in range(UPDATE_ATTEMPTS):
            current = await self._get(request, resource)
            new = build(current)
            if not isinstance(new.get("metadata"), dict):
                raise ApiError("Invalid", "metadata: required mapping")
            # A fresh metadata dict: merge_patch shares what the patch leaves alone, and a
            # stored object must never be written to.
            new["metadata"] = {**new["metadata"],
                               "resourceVersion": pinned or current["metadata"]["resourceVersion"]}
            if new["metadata"].get("uid") not in (None, "", current["metadata"]["uid"]):
                # Not worth a retry: the object was deleted and made again since the client read it.
                raise ApiError("Conflict", f'{resource.info.plural} "{resource.name}" has another uid '
                                           f'than {new["metadata"]["uid"]!r}: it was deleted and created again')
            obj = objects.validate_update(current, self._prepare(resource, new, resource.name, request))
            if _dry_run(request):
                return obj
            try:
                return await self._commit({"op": "update", "rid": self._rid(request, f"/{attempt}"),
                                           "object": obj, "now": _now()})
            except ApiError as exc:
                if exc.reason != "Conflict" or pinned:
                    raise
        raise ApiError("Conflict", f'{resource.info.plural} "{resource.name}" keeps changing; retry')

    async def _delete(self, request: web.Request, resource: Resource) -> dict:
        """Kubernetes' DELETE with DeleteOptions (body or query): graceful pods,
        propagation policies and finalizers are the state machine's (state/deletion.py)."""
        if resource.info.kind == "Namespace" and resource.name in BUILTIN_NAMESPACES:
            raise ApiError("Forbidden", f'namespaces "{resource.name}" is forbidden: this namespace may not be deleted')
        body = (await self._body(request)) if request.can_read_body else None
        try:
            options = deletion.parse_delete_options(body, request.query)
        except deletion.DeletionError as exc:
            raise ApiError("BadRequest", str(exc)) from None
        command = {
            "op": "delete", "rid": self._rid(request), "kind": resource.info.kind,
            "namespace": resource.store_namespace, "name": resource.name, "now": _now(),
            "resourceVersion": options.preconditions.get("resourceVersion") or request.query.get("resourceVersion"),
            "uid": options.preconditions.get("uid"),
        }
        if options.grace is not None:
            command["gracePeriodSeconds"] = options.grace
        if options.propagation is not None:
            command["propagationPolicy"] = options.propagation
        return await self._commit(command)

    async def _ensure_namespace(self, namespace: str) -> None:
        """The built-in namespaces exist as soon as anything is created in them."""
        if namespace not in BUILTIN_NAMESPACES or namespace in self._ensured_namespaces:
            return
        obj = objects.validate({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        # The same request id on every master: only the first one is applied.
        result = await self.committer.run({"op": "create", "rid": f"builtin-namespace/{namespace}",
                                           "object": obj, "uid": str(uuid.uuid4()), "now": _now()})
        if result["ok"] or result["reason"] == "AlreadyExists":
            self._ensured_namespaces.add(namespace)

    # -- watch ------------------------------------------------------------------------

    async def _watch(self, request: web.Request, resource: Resource) -> web.StreamResponse:
        """Stream `{"type", "object"}` lines; without a resourceVersion, start with ADDED."""
        selector = parse_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector"), resource.info.kind)
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include_object = request.query.get("includeObject", "Metadata")
        kind, namespace = resource.info.kind, resource.namespace if resource.info.namespaced else None
        timeout_text = request.query.get("timeoutSeconds", "")
        if timeout_text and not timeout_text.isdigit():
            raise ApiError("BadRequest", f"timeoutSeconds {timeout_text!r} is not a whole number")
        timeout = int(timeout_text) if timeout_text else None

        def in_scope(obj: dict) -> bool:
            meta = obj["metadata"]
            return (obj.get("kind") == kind
                    and (namespace is None or meta.get("namespace", "") == namespace)
                    and (resource.name is None or meta["name"] == resource.name))

        def selected(obj: dict) -> bool:
            return _selected(obj, selector, fields)

        start = request.query.get("resourceVersion", "")
        if start in ("", "0"):
            await self.committer.barrier()
            revision, initial = self.store.read(lambda state: (state.revision, state.list(kind, namespace)))
            events = [("ADDED", obj) for obj in initial if in_scope(obj) and selected(obj)]
            known = {obj["metadata"]["uid"]: selected(obj) for obj in initial if in_scope(obj)}
        elif start.isdigit():
            revision, events = int(start), []
            # Objects unchanged since `start` were (not) selected then as now.
            current = self.store.read(lambda state: state.list(kind, namespace))
            known = {obj["metadata"]["uid"]: selected(obj) for obj in current
                     if in_scope(obj) and int(obj["metadata"]["resourceVersion"]) <= revision}
        else:
            raise ApiError("BadRequest", f"resourceVersion {start!r} is not a number")
        tracker = SelectionTracker(in_scope, selected, known)

        def line(event_type: str, obj: dict) -> bytes:
            if as_table and event_type != "ERROR":
                obj = tables.table([obj], kind, _now_time(), obj["metadata"].get("resourceVersion"), include_object)
            return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"

        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        clock = asyncio.get_running_loop().time
        deadline = clock() + timeout if timeout else None
        bookmarks = request.query.get("allowWatchBookmarks") in ("1", "true")
        last_sent = clock()
        try:
            while True:
                for event_type, obj in events:
                    await response.write(line(event_type, obj))
                    last_sent = clock()
                changed = self._revision_changed
                changes = self.store.read(lambda state: state.changes_since(revision))
                if changes is None:
                    gone = status_body("Gone", f"too old resource version: {revision}")
                    await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                    break
                if changes:
                    revision = changes[-1][0]
                    events = tracker.events((event_type, obj) for _, event_type, obj in changes)
                    continue
                events = []
                if self._stopping or request.transport is None or request.transport.is_closing():
                    break  # the master stops, or the client went away (aiohttp does not cancel the handler)
                if not self.liveness.in_contact():
                    logger.info("ending a watch: this master lost contact with the others")
                    break  # the client reconnects, to a master that can reach a quorum
                if clock() - last_sent >= liveness.WATCH_HEARTBEAT:
                    beat = liveness.bookmark(kind, resource.info.api_version, revision) if bookmarks else None
                    await response.write(json.dumps(beat).encode() + b"\n" if beat else b"\n")
                    last_sent = clock()
                wait = min(liveness.CHECK_EVERY, liveness.WATCH_HEARTBEAT - (clock() - last_sent))
                if deadline is not None:
                    wait = min(wait, deadline - clock())
                    if wait <= 0:
                        break
                try:
                    await asyncio.wait_for(changed.wait(), wait)
                except asyncio.TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    # -- discovery (state/discovery.py) ---------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.version())

    async def api_versions(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.api_versions(f"{request.host}"))

    async def api_groups(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.api_group_list())

    async def api_resources(self, request: web.Request) -> web.Response:
        match = request.match_info
        api_version = f"{match['group']}/{match['version']}" if "group" in match else match["version"]
        document = discovery.resource_list(api_version)
        if document is None:
            raise ApiError("NotFound", f"the server could not find the requested resource ({api_version})")
        return web.json_response(document)

    async def openapi_root(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.openapi_root())

    async def openapi_document(self, request: web.Request) -> web.Response:
        api_version = discovery.openapi_key_version(request.match_info["key"])
        if api_version is None:
            raise ApiError("NotFound", f"no OpenAPI document for {request.match_info['key']}")
        return web.json_response(discovery.openapi_document(api_version))

    # -- subresources -----------------------------------------------------------------

    async def subresource(self, request: web.Request) -> web.StreamResponse:
        resource = self._resource(request)
        if resource.info.namespaced and resource.namespace is None:
            raise ApiError("NotFound", f"{resource.info.plural} live under /namespaces/NAMESPACE/")
        sub = request.match_info["subresource"]
        if sub == "scale" and resource.info.kind == "ReplicationController":
            return web.json_response(await self._scale(request, resource))
        if sub == "status":
            return web.json_response(await self._status(request, resource))
        if sub in ("log", "exec") and resource.info.kind == "Pod":
            if self.pod_io is None:
                raise ApiError("ServiceUnavailable", "this master cannot reach the nodes yet", retry_after=1)
            handler = self.pod_io.log if sub == "log" else self.pod_io.exec
            return await handler(request, resource.namespace, resource.name)
        raise ApiError("NotFound", f"{resource.info.plural} have no subresource {sub!r}")

    async def _scale(self, request: web.Request, resource: Resource) -> dict:
        """`autoscaling/v1` Scale of a ReplicationController: GET, PUT, PATCH spec.replicas."""
        if request.method == "GET":
            return _scale_of(await self._get(request, resource))
        if request.method not in ("PUT", "PATCH"):
            raise ApiError("MethodNotAllowed", f"{request.method} is not allowed on scale")
        if request.method == "PUT":
            wanted = await self._body(request)
        else:
            content_type, patch = _patch_type(request), await self._document(request)
            wanted = {}
        meta = wanted.get("metadata") or {}
        if not isinstance(meta, dict):
            raise ApiError("Invalid", "Scale: metadata: required mapping")
        pinned = meta.get("resourceVersion")

        def build(current: dict) -> dict:
            scale = wanted if request.method == "PUT" else \
                patching.apply_patch(_scale_of(current), content_type, patch)
            spec = scale.get("spec") or {}
            if not isinstance(spec, dict):
                raise ApiError("Invalid", f"Scale: spec must be a mapping, got {spec!r}")
            # Go clients omit a zero (`omitempty`): no replicas means 0.
            replicas = spec.get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise ApiError("Invalid", f"Scale: spec.replicas must be a whole number >= 0, got {replicas!r}")
            return {**current, "spec": {**current["spec"], "replicas": replicas}}

        body = {"metadata": {"resourceVersion": pinned}} if pinned else {}
        return _scale_of(await self._update(request, resource, body, build))

    async def _status(self, request: web.Request, resource: Resource) -> dict:
        """The `status` subresource: GET the object, PUT/PATCH change only its status."""
        if request.method == "GET":
            return await self._get(request, resource)
        if request.method == "PUT":
            body = await self._body(request)
            return await self._update(request, resource, body,
                                      lambda current: {**current, "status": body.get("status") or {}})
        if request.method == "PATCH":
            content_type, patch = _patch_type(request), await self._document(request)

            def build(current: dict) -> dict:
                patched = patching.apply_patch(current, content_type, patch)
                return {**current, "status": patched.get("status") or {}}

            return await self._update(request, resource, patch if isinstance(patch, dict) else {}, build)
        raise ApiError("MethodNotAllowed", f"{request.method} is not allowed on status")

    # -- cluster administration -------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        reason = await self.liveness.not_ready_reason()
        if reason:
            return web.Response(text=f"not ready: {reason}\n", status=503)
        return web.Response(text="ok")

    async def cluster_status(self, request: web.Request) -> web.Response:
        status = self.store.raft_status()
        status["name"] = self.master_name
        status["certificateExpires"] = self.cert_expires
        status["revision"], status["lease"] = self.store.read(lambda state: (state.revision, state.lease))
        return web.json_response(status)

    async def add_member(self, request: web.Request) -> web.Response:
        address = _member_address((await self._body(request)).get("address"))
        await self._change_membership(self.store.addNodeToCluster, address, "add")
        return web.json_response({"address": address, "added": True}, status=201)

    async def remove_member(self, request: web.Request) -> web.Response:
        address = _member_address(request.match_info["address"])
        if address == self.store.selfNode.address:
            raise ApiError("BadRequest", "a master cannot remove itself; ask another master")
        await self._change_membership(self.store.removeNodeFromCluster, address, "remove")
        return web.json_response({"address": address, "removed": True})

    async def _change_membership(self, change, address: str, verb: str) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def done(result, failure) -> None:  # tick thread
            def settle():
                if not future.done():
                    future.set_result(failure)
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:
                pass

        change(address, callback=done)
        try:
            failure = await asyncio.wait_for(future, 10.0)
        except asyncio.TimeoutError:
            raise NoQuorum(f"could not {verb} member {address}: no commit within 10s") from None
        if failure != 0:
            raise ApiError("Conflict", f"could not {verb} member {address}: the cluster refused "
                                       "(another membership change in progress, or already done)")


def _member_address(address) -> str:
    """A Raft member's "HOST:PORT", checked here: pysyncobj raises on a malformed one."""
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ApiError("BadRequest", f"member address {address!r} is not HOST:RAFT_PORT")
    return address


def _selected(obj: dict, selector: Selector, fields: FieldSelector | None = None) -> bool:
    return selector.matches(obj["metadata"].get("labels") or {}) and (fields is None or fields.matches(obj))


def _scale_of(rc: dict) -> dict:
    meta = rc["metadata"]
    selector = ",".join(f"{k}={v}" for k, v in sorted((rc["spec"].get("selector") or {}).items()))
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace", ""), "uid": meta.get("uid"),
                         "resourceVersion": meta.get("resourceVersion"),
                         "creationTimestamp": meta.get("creationTimestamp")},
            "spec": {"replicas": rc["spec"].get("replicas", 1)},
            "status": {"replicas": (rc.get("status") or {}).get("replicas", 0), "selector": selector}}


def _now_time() -> datetime:
    return datetime.now(timezone.utc)


def _dry_run(request: web.Request) -> bool:
    """`dryRun=All`: validate and answer what would be stored, store nothing."""
    values = request.query.getall("dryRun", [])
    unknown = [v for v in values if v != "All"]
    if unknown:
        raise ApiError("BadRequest", f"dryRun {unknown[0]!r}: only All is supported")
    return bool(values)


def _patch_type(request: web.Request) -> str:
    content_type = request.content_type
    if content_type not in patching.CONTENT_TYPES:
        raise ApiError("UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                                               f"media types include: {', '.join(patching.CONTENT_TYPES)}")
    return content_type


async def _add_warnings(request: web.Request, response: web.StreamResponse) -> None:
    """`Warning: 299 - "..."` headers, as Kubernetes sends them (kubectl prints them)."""
    for warning in request.get("warnings", []):
        response.headers.add("Warning", '299 - ' + json.dumps(warning))
