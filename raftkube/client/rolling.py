"""The classic ReplicationController rolling update (kubectl 1.x), as pure decisions.

A new controller is scaled up while the old one is scaled down, never letting fewer
than `desired - max_unavailable` pods be ready nor more than `desired + max_surge`
exist (kubectl's defaults: 0 and 1, so one new pod at a time, each Ready before an old
one goes). The progress lives in annotations on the two controllers, as kubectl kept
it, so an interrupted update resumes where it stopped, or is rolled back by running
the same steps with the roles swapped.

The two controllers must not select each other's pods: the old one gets a
`deployment=<hash>` label on its template, its pods and its selector first, the new one
`deployment=<hash of the new template>` (kubectl's `--deployment-label-key`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass

DEPLOYMENT_KEY = "deployment"
NEXT_CONTROLLER = "kubectl.kubernetes.io/next-controller-id"
ORIGINAL_REPLICAS = "kubectl.kubernetes.io/original-replicas"
DESIRED_REPLICAS = "kubectl.kubernetes.io/desired-replicas"
SOURCE_ID = "kubectl.kubernetes.io/update-source-id"
RENAMED_FROM = "raftkube.io/renamed-from"  # on the RC taking the old name back, until it has its pods
RENAME_PENDING = "raftkube.io/rename-pending"  # a label no pod has: selects nothing meanwhile


class RollingUpdateError(ValueError):
    """A request the update cannot honour (the command wraps it into a UserError)."""


@dataclass(frozen=True)
class Counts:
    """What the two controllers want and have (ready pods only count once Ready)."""

    desired: int
    old_replicas: int
    new_replicas: int
    old_ready: int
    new_ready: int


def next_step(counts: Counts, max_surge: int = 1, max_unavailable: int = 0) -> tuple[int, int]:
    """(old replicas, new replicas) to set next; unchanged means wait for pods to get Ready.

    Scale the new one up as far as the surge allows, then the old one down as far as the
    ready pods allow; when both are where they belong the update is done.
    """
    desired, old, new = counts.desired, counts.old_replicas, counts.new_replicas
    if new < desired:
        room = desired + max_surge - old - new
        if room > 0:
            return old, min(desired, new + room)
    if old > 0:
        min_available = desired - max_unavailable
        ready = min(counts.old_ready, old) + min(counts.new_ready, new)
        if min_available <= 0:
            return 0, new
        spare = ready - min_available
        if spare > 0:
            return max(0, old - spare), new
    return old, new


def done(counts: Counts) -> bool:
    return counts.old_replicas == 0 and counts.new_replicas == counts.desired and counts.new_ready >= counts.desired


def template_hash(template: dict) -> str:
    """A short stable hash of a pod template, leaving out the deployment label itself."""
    canonical = copy.deepcopy(template)
    labels = canonical.get("metadata", {}).get("labels") or {}
    labels.pop(DEPLOYMENT_KEY, None)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def with_deployment_label(rc: dict, value: str) -> dict:
    """`rc` whose selector and template labels carry `deployment=value`."""
    updated = copy.deepcopy(rc)
    spec = updated["spec"]
    spec["selector"] = {**(spec.get("selector") or {}), DEPLOYMENT_KEY: value}
    template_meta = spec["template"].setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), DEPLOYMENT_KEY: value}
    return updated


def new_controller_for_image(old: dict, image: str, container: str | None = None) -> dict:
    """The next controller of `old` running `image`: named `OLD-<hash>`, replicas 0."""
    template = copy.deepcopy(old["spec"]["template"])
    containers = template["spec"]["containers"]
    if container is None:
        if len(containers) > 1:
            names = ", ".join(c["name"] for c in containers)
            raise RollingUpdateError(f"the pods have several containers ({names}): say which with --container")
        target = containers[0]
    else:
        target = next((c for c in containers if c["name"] == container), None)
        if target is None:
            raise RollingUpdateError(f"no container {container!r} in the template")
    if target.get("image") == image:
        raise RollingUpdateError(f"{target['name']} already runs {image}")
    target["image"] = image
    digest = template_hash(template)
    meta = old["metadata"]
    new = {"apiVersion": "v1", "kind": "ReplicationController",
           "metadata": {"name": f"{meta['name']}-{digest}", "namespace": meta.get("namespace"),
                        "labels": dict(meta.get("labels") or {})},
           "spec": {**{k: v for k, v in old["spec"].items() if k not in ("template", "replicas")},
                    "replicas": 0, "template": template}}
    return with_deployment_label(new, digest)


def check_disjoint(old: dict, new: dict) -> None:
    """Refuse a new controller that would claim the old one's pods (or the reverse)."""
    def selects(rc: dict, labels: dict) -> bool:
        return all(labels.get(k) == v for k, v in (rc["spec"].get("selector") or {}).items())

    old_labels = old["spec"]["template"].get("metadata", {}).get("labels") or {}
    new_labels = new["spec"]["template"].get("metadata", {}).get("labels") or {}
    if selects(new, old_labels) or selects(old, new_labels):
        raise RollingUpdateError(
            f"{new['metadata']['name']}'s selector must differ from {old['metadata']['name']}'s in at least one "
            f"label value, so that each controller keeps its own pods")


def renamed(new: dict, name: str) -> dict:
    """The new controller under the old name, selecting nothing yet (replicas 0 and a
    label no pod has) so it neither adopts the pods nor makes its own until `finish_rename`."""
    meta = new["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in (DESIRED_REPLICAS, SOURCE_ID, NEXT_CONTROLLER, ORIGINAL_REPLICAS)}
    annotations[RENAMED_FROM] = meta["name"]
    spec = copy.deepcopy(new["spec"])
    spec["replicas"] = 0
    spec["selector"] = {**spec["selector"], RENAME_PENDING: "true"}
    template_meta = spec["template"].setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), RENAME_PENDING: "true"}
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "namespace": meta.get("namespace"), "labels": dict(meta.get("labels") or {}),
                         "annotations": annotations},
            "spec": spec}


def finish_rename(rc: dict, replicas: int) -> dict:
    """The renamed controller taking over the pods: the real selector and its replicas."""
    updated = copy.deepcopy(rc)
    updated["metadata"]["annotations"] = {k: v for k, v in (rc["metadata"].get("annotations") or {}).items()
                                          if k != RENAMED_FROM}
    spec = updated["spec"]
    spec["replicas"] = replicas
    spec["selector"] = {k: v for k, v in spec["selector"].items() if k != RENAME_PENDING}
    labels = spec["template"]["metadata"]["labels"]
    spec["template"]["metadata"]["labels"] = {k: v for k, v in labels.items() if k != RENAME_PENDING}
    return updated
