"""`raftkube cordon`, `uncordon` and `drain`: take a node out of service and back.

Cordoning marks the node unschedulable (the scheduler places nothing new there);
draining also deletes its pods gracefully so their replication controllers recreate
them on other nodes, then waits until they are gone.
"""

from __future__ import annotations

import time

import click

from raftkube.client import draining
from raftkube.client.api import ApiClient, ApiError
from raftkube.client.commands import inventory_option, object_path, parse_duration
from raftkube.client.discovery import find_masters
from raftkube.errors import UserError
from raftkube.state.kinds import kind_info

NODE = kind_info("Node")
POD = kind_info("Pod")


def _set_unschedulable(client: ApiClient, name: str, unschedulable: bool) -> bool:
    """Mark the node; False if it already was."""
    node = client.get(object_path(NODE, None, name))
    if bool(node.get("spec", {}).get("unschedulable")) == unschedulable:
        return False
    # null removes the field, as kubectl's patch does on uncordon.
    client.patch(object_path(NODE, None, name), {"spec": {"unschedulable": True if unschedulable else None}})
    return True


@click.command()
@click.argument("node")
@inventory_option
def cordon(node: str, inventory: str | None) -> None:
    """Mark NODE unschedulable: no new pods are placed there."""
    with find_masters(inventory).client() as client:
        changed = _set_unschedulable(client, node, True)
    click.echo(f"node/{node} {'cordoned' if changed else 'already cordoned'}")


@click.command()
@click.argument("node")
@inventory_option
def uncordon(node: str, inventory: str | None) -> None:
    """Mark NODE schedulable again."""
    with find_masters(inventory).client() as client:
        changed = _set_unschedulable(client, node, False)
    click.echo(f"node/{node} {'uncordoned' if changed else 'already uncordoned'}")


@click.command()
@click.argument("node")
@click.option("--force", is_flag=True, help="Also delete pods no controller would replace.")
@click.option("--grace-period", type=int, default=-1, show_default=True,
              help="Seconds each pod gets to stop (-1: the pod's own terminationGracePeriodSeconds).")
@click.option("--timeout", "timeout_text", default="5m", show_default=True,
              help="Give up waiting for the pods to go after this long (0: wait forever).")
@inventory_option
def drain(node: str, force: bool, grace_period: int, timeout_text: str, inventory: str | None) -> None:
    """Cordon NODE, then delete its pods gracefully and wait until they are gone.

    Pods of a replication controller are recreated on other nodes; pods that declare
    no controller are refused unless --force (they would be lost).
    """
    timeout = parse_duration(timeout_text)
    with find_masters(inventory).client() as client:
        if _set_unschedulable(client, node, True):
            click.echo(f"node/{node} cordoned")
        pods = client.get(object_path(POD, None))["items"]
        plan = draining.plan_drain(pods, node, force)
        if plan.refused:
            raise UserError(draining.refusal_message(plan) + f" (node/{node} stays cordoned)")
        for pod in plan.delete:
            if draining.controller_of(pod) is None and pod.get("status", {}).get("phase") not in draining.FINISHED:
                click.echo(f"warning: deleting Pod {draining.pod_ref(pod)}: it declares no controller", err=True)
            click.echo(f"evicting pod {draining.pod_ref(pod)}")
            _delete_pod(client, pod, grace_period)
        _wait_gone(client, plan.delete, timeout)
    click.echo(f"node/{node} drained")


def _delete_pod(client: ApiClient, pod: dict, grace_period: int) -> None:
    meta = pod["metadata"]
    options: dict = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": meta.get("uid")}}
    if grace_period >= 0:
        options["gracePeriodSeconds"] = grace_period
    try:
        client.delete(object_path(POD, meta["namespace"], meta["name"]), options)
    except ApiError as exc:
        if exc.reason not in ("NotFound", "Conflict"):  # gone already, or a new pod of that name
            raise


def _wait_gone(client: ApiClient, pods: list[dict], timeout: float) -> None:
    """Until every pod (that uid) is gone; one line per pod as it goes."""
    give_up = time.monotonic() + timeout if timeout > 0 else None
    waiting = {pod["metadata"]["uid"]: pod for pod in pods}
    while waiting:
        current = {pod["metadata"].get("uid") for pod in client.get(object_path(POD, None))["items"]}
        for uid in [uid for uid in waiting if uid not in current]:
            click.echo(f"pod/{waiting.pop(uid)['metadata']['name']} evicted")
        if not waiting:
            return
        if give_up is not None and time.monotonic() >= give_up:
            left = ", ".join(draining.pod_ref(pod) for pod in waiting.values())
            raise UserError(f"drain did not complete within {timeout:g}s; still there: {left}")
        time.sleep(0.5)
