"""`raftkube rolling-update`: replace a replication controller's pods one at a time.

    raftkube rolling-update OLD NEW-IMAGE | --image IMAGE | -f NEW.yaml [--update-period 1s]
                            [--timeout 5m] [--rollback]

The decisions are `rolling`'s (pure); this module reads the two controllers and their
ready pods, writes each step, and prints progress the way kubectl 1.x did. Running the
same command again after an interruption continues the update; `--rollback` turns an
unfinished one back.
"""

from __future__ import annotations

import time

import click

from raftkube.client import rolling
from raftkube.client.api import ApiClient, ApiError
from raftkube.client.commands import inventory_option, namespace_option, object_path, parse_duration
from raftkube.client.discovery import find_masters
from raftkube.errors import UserError
from raftkube.state.kinds import DEFAULT_NAMESPACE, kind_info

RC = kind_info("ReplicationController")
POD = kind_info("Pod")
POLL = 0.5


class Updater:
    """One rolling update in one namespace, through one client."""

    def __init__(self, client: ApiClient, namespace: str, period: float, timeout: float, echo=click.echo):
        self.client = client
        self.ns = namespace
        self.period = period
        self.give_up = time.monotonic() + timeout if timeout > 0 else None
        self.echo = echo

    # -- reading ------------------------------------------------------------------------

    def rc(self, name: str) -> dict | None:
        try:
            return self.client.get(object_path(RC, self.ns, name))
        except ApiError as exc:
            if exc.reason == "NotFound":
                return None
            raise

    def pods(self, rc: dict) -> list[dict]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(rc["spec"]["selector"].items()))
        listed = self.client.get(object_path(POD, self.ns), {"labelSelector": selector})["items"]
        return [pod for pod in listed if not pod["metadata"].get("deletionTimestamp")]

    def ready(self, rc: dict) -> int:
        return sum(1 for pod in self.pods(rc) if _is_ready(pod))

    def counts(self, old: dict, new: dict, desired: int) -> rolling.Counts:
        return rolling.Counts(desired, old["spec"].get("replicas", 0), new["spec"].get("replicas", 0),
                              self.ready(old), self.ready(new))

    # -- writing ------------------------------------------------------------------------

    def patch(self, name: str, patch: dict) -> dict:
        return self.client.patch(object_path(RC, self.ns, name), patch)

    def annotate(self, name: str, annotations: dict) -> dict:
        return self.patch(name, {"metadata": {"annotations": annotations}})

    def scale(self, rc: dict, replicas: int, verb: str) -> dict:
        self.echo(f"Scaling {rc['metadata']['name']} {verb} to {replicas}")
        return self.patch(rc["metadata"]["name"], {"spec": {"replicas": replicas}})

    def check_time(self, what: str) -> None:
        if self.give_up is not None and time.monotonic() >= self.give_up:
            raise UserError(f"timed out {what}; run the same command again to continue, or with --rollback "
                            f"to go back")

    # -- the steps --------------------------------------------------------------------

    def separate(self, old: dict) -> dict:
        """Give the old controller and its pods `deployment=<hash>` (template, then pods,
        then selector: the controller never sees fewer pods than it has)."""
        if rolling.DEPLOYMENT_KEY in (old["spec"].get("selector") or {}):
            return old
        value = rolling.template_hash(old["spec"]["template"])
        labelled = rolling.with_deployment_label(old, value)
        name = old["metadata"]["name"]
        self.patch(name, {"spec": {"template": {"metadata": {"labels": labelled["spec"]["template"]["metadata"]
                                                             ["labels"]}}}})
        for pod in self.pods(old):
            if (pod["metadata"].get("labels") or {}).get(rolling.DEPLOYMENT_KEY) != value:
                self.client.patch(object_path(POD, self.ns, pod["metadata"]["name"]),
                                  {"metadata": {"labels": {rolling.DEPLOYMENT_KEY: value}}})
        return self.patch(name, {"spec": {"selector": labelled["spec"]["selector"]}})

    def roll(self, old: dict, new: dict, desired: int) -> tuple[dict, dict]:
        """Scale `new` up to `desired` and `old` down to 0, one safe step at a time."""
        old_name, new_name = old["metadata"]["name"], new["metadata"]["name"]
        self.echo(f"Scaling up {new_name} from {new['spec'].get('replicas', 0)} to {desired}, scaling down "
                  f"{old_name} from {old['spec'].get('replicas', 0)} to 0 (keep {desired} pods available, "
                  f"don't exceed {desired + 1} pods)")
        while True:
            counts = self.counts(old, new, desired)
            if rolling.done(counts):
                return old, new
            old_target, new_target = rolling.next_step(counts)
            if new_target != counts.new_replicas:
                new = self.scale(new, new_target, "up")
            if old_target != counts.old_replicas:
                old = self.scale(old, old_target, "down")
            if (old_target, new_target) == (counts.old_replicas, counts.new_replicas):
                self.check_time(f"waiting for {new_name}'s pods to be ready ({counts.new_ready} of "
                                f"{counts.new_replicas} ready)")
                time.sleep(POLL)
            elif old_target != counts.old_replicas:
                time.sleep(self.period)

    def wait_gone(self, name: str) -> None:
        while self.rc(name) is not None:
            self.check_time(f"waiting for {name} to be deleted")
            time.sleep(POLL)

    def delete_rc(self, name: str, orphan: bool = False) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions",
                "propagationPolicy": "Orphan" if orphan else "Background"}
        try:
            self.client.delete(object_path(RC, self.ns, name), body)
        except ApiError as exc:
            if exc.reason != "NotFound":
                raise
        self.wait_gone(name)

    def rename(self, new: dict, name: str) -> dict:
        """Give `new` the old controller's name back, keeping its pods (kubectl's Rename)."""
        self.echo(f"Renaming {new['metadata']['name']} to {name}")
        current = self.rc(name)
        if current is None:
            current = self.client.create(object_path(RC, self.ns), rolling.renamed(new, name))
        return self.finish_rename(current, new)

    def finish_rename(self, target: dict, source: dict | None) -> dict:
        name = target["metadata"]["name"]
        source_name = target["metadata"]["annotations"][rolling.RENAMED_FROM]
        replicas = source["spec"].get("replicas", 0) if source else None
        if source is not None:
            # Released, not deleted: the pods stay and wait for their new controller.
            self.delete_rc(source_name, orphan=True)
            self.wait_released(target, source["metadata"]["uid"])
        if replicas is None:
            # Resumed after the source was gone: as many as its pods.
            replicas = len(self.pods(rolling.finish_rename(target, 0)))
        finished = rolling.finish_rename(target, replicas)
        finished["metadata"].pop("resourceVersion", None)
        return self.client.replace(object_path(RC, self.ns, name), finished)

    def wait_released(self, target: dict, uid: str) -> None:
        probe = rolling.finish_rename(target, 0)
        while any((ref.get("uid") == uid) for pod in self.pods(probe)
                  for ref in pod["metadata"].get("ownerReferences") or []):
            self.check_time("waiting for the pods to be released")
            time.sleep(POLL)


def _is_ready(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@click.command("rolling-update")
@click.argument("old")
@click.argument("new_image", required=False)
@click.option("--image", default=None, help="The new image (instead of the NEW-IMAGE argument).")
@click.option("-f", "--filename", "source", default=None, help="The new controller's manifest.")
@click.option("--container", default=None, help="With several containers: which one gets the image.")
@click.option("--update-period", default="1s", show_default=True, help="Wait between steps.")
@click.option("--timeout", "timeout_text", default="5m", show_default=True, help="Give up after this long.")
@click.option("--rollback", is_flag=True, help="Turn an unfinished update of OLD back.")
@namespace_option
@inventory_option
def rolling_update(old: str, new_image: str | None, image: str | None, source: str | None, container: str | None,
                   update_period: str, timeout_text: str, rollback: bool, namespace: str | None,
                   inventory: str | None) -> None:
    """Replace OLD's pods with new ones, one at a time, each Ready before an old one goes."""
    if new_image and image:
        raise UserError("give the new image once: as NEW-IMAGE or --image")
    image = image or new_image
    modes = [m for m, on in (("an image", image), ("-f FILE", source), ("--rollback", rollback)) if on]
    if len(modes) != 1:
        raise UserError("say what to do: NEW-IMAGE, --image IMAGE, -f NEW.yaml, or --rollback")
    period, timeout = parse_duration(update_period), parse_duration(timeout_text)
    ns = namespace or DEFAULT_NAMESPACE
    new_manifest = _read_new(source, ns) if source else None
    with find_masters(inventory).client() as client:
        updater = Updater(client, ns, period, timeout)
        try:
            if rollback:
                _rollback(updater, old)
            else:
                _update(updater, old, image, new_manifest, container)
        except rolling.RollingUpdateError as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted: run the same command again to continue, or with --rollback", err=True)
            raise SystemExit(130)


def _read_new(source: str, namespace: str) -> dict:
    import copy

    from raftkube.client.manifests import load_manifests, place_manifest
    from raftkube.state.objects import validate

    manifests = load_manifests(source)
    if len(manifests) != 1 or manifests[0].get("kind") != "ReplicationController":
        raise UserError(f"{source}: must hold exactly one ReplicationController")
    manifest = manifests[0]
    place_manifest(manifest, namespace)
    validate(copy.deepcopy(manifest))
    return manifest


def _update(updater: Updater, old_name: str, image: str | None, manifest: dict | None,
            container: str | None) -> None:
    old = updater.rc(old_name)
    if old is None or rolling.RENAMED_FROM in (old["metadata"].get("annotations") or {}):
        _finish_interrupted(updater, old_name, old)
        return
    annotations = old["metadata"].get("annotations") or {}
    next_name = annotations.get(rolling.NEXT_CONTROLLER)
    new = updater.rc(next_name) if next_name else None
    if new is not None:
        updater.echo(f"Continuing update with existing controller {next_name}.")
    else:
        old = updater.separate(old)
        wanted = rolling.new_controller_for_image(old, image, container) if image else manifest
        if wanted["metadata"]["name"] == old_name:
            raise UserError(f"{old_name}: the new controller needs another name (or give an image, and it is "
                            f"renamed back at the end)")
        rolling.check_disjoint(old, wanted)
        new = updater.rc(wanted["metadata"]["name"])
        if new is not None and (new["metadata"].get("annotations") or {}).get(rolling.SOURCE_ID, "") \
                .partition(":")[0] != old_name:
            raise UserError(f"replicationcontroller {wanted['metadata']['name']} already exists and is not "
                            f"the next controller of {old_name}")
        original = annotations.get(rolling.ORIGINAL_REPLICAS) or str(old["spec"].get("replicas", 1))
        old = updater.annotate(old_name, {rolling.ORIGINAL_REPLICAS: original,
                                          rolling.NEXT_CONTROLLER: wanted["metadata"]["name"]})
        if new is None:
            wanted = {**wanted, "metadata": {**wanted["metadata"], "annotations": {
                **(wanted["metadata"].get("annotations") or {}),
                rolling.DESIRED_REPLICAS: original,
                rolling.SOURCE_ID: f"{old_name}:{old['metadata']['uid']}"}}}
            wanted["spec"] = {**wanted["spec"], "replicas": 0}
            new = updater.client.create(object_path(RC, updater.ns), wanted)
            updater.echo(f"Created {new['metadata']['name']}")
    desired = int((new["metadata"].get("annotations") or {}).get(rolling.DESIRED_REPLICAS)
                  or (old["metadata"].get("annotations") or {}).get(rolling.ORIGINAL_REPLICAS) or 1)
    old, new = updater.roll(old, new, desired)
    updater.echo(f"Update succeeded. Deleting {old_name}")
    updater.delete_rc(old_name)
    if image:
        updater.rename(new, old_name)
        click.echo(f"replicationcontroller/{old_name} rolling updated")
    else:
        new = updater.annotate(new["metadata"]["name"], {rolling.DESIRED_REPLICAS: None, rolling.SOURCE_ID: None})
        click.echo(f'replicationcontroller/{old_name} rolling updated to "{new["metadata"]["name"]}"')


def _finish_interrupted(updater: Updater, old_name: str, old: dict | None) -> None:
    """The update got past deleting OLD: only the rename (or nothing) is left."""
    if old is not None:  # renamed already, still taking the pods over
        source = updater.rc(old["metadata"]["annotations"][rolling.RENAMED_FROM])
        updater.echo(f"Continuing the rename of {old['metadata']['annotations'][rolling.RENAMED_FROM]} to {old_name}")
        updater.finish_rename(old, source)
        click.echo(f"replicationcontroller/{old_name} rolling updated")
        return
    listed = updater.client.get(object_path(RC, updater.ns))["items"]
    successor = next((rc for rc in listed if (rc["metadata"].get("annotations") or {})
                      .get(rolling.SOURCE_ID, "").partition(":")[0] == old_name), None)
    if successor is None:
        raise UserError(f'replicationcontrollers "{old_name}" not found')
    name = successor["metadata"]["name"]
    if name.startswith(f"{old_name}-"):  # made from an image: it takes the old name back
        updater.echo(f"Continuing update with existing controller {name}.")
        updater.rename(successor, old_name)
        click.echo(f"replicationcontroller/{old_name} rolling updated")
    else:
        updater.annotate(name, {rolling.DESIRED_REPLICAS: None, rolling.SOURCE_ID: None})
        click.echo(f'replicationcontroller/{old_name} rolling updated to "{name}"')


def _rollback(updater: Updater, old_name: str) -> None:
    old = updater.rc(old_name)
    if old is None:
        raise UserError(f'replicationcontrollers "{old_name}" not found (a finished update cannot be rolled back)')
    annotations = old["metadata"].get("annotations") or {}
    next_name = annotations.get(rolling.NEXT_CONTROLLER)
    if not next_name:
        raise UserError(f"no rolling update of {old_name} is in progress")
    new = updater.rc(next_name)
    desired = int(annotations.get(rolling.ORIGINAL_REPLICAS) or old["spec"].get("replicas", 1))
    updater.echo(f"Rolling back {old_name} (update to {next_name})")
    if new is not None:
        # The same steps with the roles swapped: the update's new controller is now the old one.
        updater.roll(new, old, desired)
        updater.echo(f"Deleting {next_name}")
        updater.delete_rc(next_name)
    updater.annotate(old_name, {rolling.NEXT_CONTROLLER: None, rolling.ORIGINAL_REPLICAS: None})
    click.echo(f"replicationcontroller/{old_name} rolled back")
