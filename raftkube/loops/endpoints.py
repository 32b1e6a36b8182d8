"""The endpoints controller: each Service's Endpoints are the pods its selector picks.

Like Kubernetes' `pkg/controller/endpoint`: Ready pods with an IP are `addresses`,
the others (not yet or no longer ready) `notReadyAddresses`; terminating and finished
pods are left out. A named targetPort is resolved per pod (two pods may serve `http` on
different ports), so pods are grouped into subsets by their resolved ports. Services
without a selector keep the Endpoints someone else writes (kube-dns' are the masters).
Writes are conditional and only made when the subsets change.
"""

from __future__ import annotations

import logging

from raftkube.loops.controller import Controller
from raftkube.state.objects import validate
from raftkube.state.selectors import Selector

logger = logging.getLogger(__name__)


def pod_ready(pod: dict) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _serving(pod: dict) -> bool:
    status = pod.get("status") or {}
    return (bool(status.get("podIP")) and not pod["metadata"].get("deletionTimestamp")
            and status.get("phase") not in ("Succeeded", "Failed"))


def _resolve(target, pod: dict, protocol: str) -> int | None:
    if isinstance(target, int):
        return target
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return port.get("containerPort")
    return None


def _address(pod: dict) -> dict:
    meta = pod["metadata"]
    address = {"ip": pod["status"]["podIP"],
               "targetRef": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}}
    if (pod.get("spec") or {}).get("nodeName"):
        address["nodeName"] = pod["spec"]["nodeName"]
    return address


def desired_subsets(service: dict, pods: list[dict]) -> list[dict]:
    """The Endpoints subsets for `service` given the pods of its namespace."""
    spec = service.get("spec") or {}
    selector = Selector.from_match_labels(spec["selector"])
    groups: dict[tuple, dict] = {}
    for pod in pods:
        if not _serving(pod) or not selector.matches(pod["metadata"].get("labels") or {}):
            continue
        ports = []
        for port in spec.get("ports") or ():
            protocol = port.get("protocol", "TCP")
            number = _resolve(port.get("targetPort", port.get("port")), pod, protocol)
            if number is not None:
                entry = {"port": number, "protocol": protocol}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        if spec.get("ports") and not ports:
            continue
        key = tuple((p.get("name", ""), p["port"], p["protocol"]) for p in ports)
        group = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
        group["addresses" if pod_ready(pod) else "notReadyAddresses"].append(_address(pod))
    subsets = []
    for key in sorted(groups):
        group = groups[key]
        subset = {name: sorted(group[name], key=lambda a: (a["ip"], a["targetRef"]["name"]))
                  for name in ("addresses", "notReadyAddresses") if group[name]}
        if group["ports"]:
            subset["ports"] = sorted(group["ports"], key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoints"
    workers = 2

    def setup(self) -> None:
        self.cache.on("Service", self._on_service)
        self.cache.on("Endpoints", self._on_service)
        self.cache.on("Pod", self._on_pod)
        for key in self.cache.keys("Service"):
            self.queue.add(key)

    def _on_service(self, event: str, old: dict | None, new: dict | None) -> None:
        obj = new or old
        self.queue.add((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))

    def _on_pod(self, event: str, old: dict | None, new: dict | None) -> None:
        for pod in {id(p): p for p in (old, new) if p is not None}.values():
            namespace = pod["metadata"].get("namespace", "")
            labels = pod["metadata"].get("labels") or {}
            for service in self.cache.list("Service", namespace):
                selector = (service.get("spec") or {}).get("selector")
                if selector and Selector.from_match_labels(selector).matches(labels):
                    self.queue.add((namespace, service["metadata"]["name"]))

    async def sync(self, key) -> None:
        namespace, name = key
        service = self.cache.get("Service", namespace, name)
        current = self.cache.get("Endpoints", namespace, name)
        if service is None:
            if current is not None:  # as Kubernetes: the Endpoints go with their Service
                await self.ctx.delete(current)
            return
        if not (service.get("spec") or {}).get("selector"):
            return  # endpoints managed by hand (or by setup, for kube-dns)
        subsets = desired_subsets(service, self.cache.list("Pod", namespace))
        labels = service["metadata"].get("labels") or {}
        wanted = validate({"apiVersion": "v1", "kind": "Endpoints",
                           "metadata": {"name": name, "namespace": namespace, "labels": labels},
                           "subsets": subsets})
        if current is None:
            result = await self.ctx.create(wanted)
        elif current.get("subsets", []) == wanted.get("subsets", []) and (current["metadata"].get("labels") or {}) == labels:
            return
        else:
            meta = {**current["metadata"], "labels": labels} if labels else {
                k: v for k, v in current["metadata"].items() if k != "labels"}
            result = await self.ctx.update({**current, "metadata": meta, "subsets": wanted.get("subsets", [])})
        if not result["ok"] and result["reason"] not in ("Conflict", "AlreadyExists", "NotFound"):
            logger.warning("endpoints %s/%s not written: %s", namespace, name, result["message"])
        # A conflict means the cache moved on: its handler has queued the key again.

