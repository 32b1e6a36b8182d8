"""Rolling update planning: availability and surge bounds hold at every step, and it ends."""

import pytest

from raftkube.client.rolling import (
    DEPLOYMENT_KEY,
    RENAME_PENDING,
    RollingUpdateError,
    Counts,
    check_disjoint,
    done,
    finish_rename,
    new_controller_for_image,
    next_step,
    renamed,
    template_hash,
    with_deployment_label,
)


def rc(name="web", image="busybox:1", replicas=4, labels=None):
    labels = labels or {"app": "web"}
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "namespace": "default", "uid": "u-" + name},
            "spec": {"replicas": replicas, "selector": dict(labels),
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def simulate(desired, old, new=0, surge=1, unavailable=0, lag=1, flaky=()):
    """Run the planner against a cluster where a new pod gets Ready `lag` ticks after it
    is asked for; returns the (ready, existing) seen at every tick."""
    new_born = []  # tick each new pod was asked for
    old_ready, tick, seen = old, 0, []
    old_replicas, new_replicas = old, new
    while tick < 200:
        new_ready = sum(1 for born in new_born[:new_replicas] if tick - born >= lag and tick not in flaky)
        old_ready = min(old_ready, old_replicas)
        seen.append((old_ready + new_ready, old_replicas + new_replicas))
        counts = Counts(desired, old_replicas, new_replicas, old_ready, new_ready)
        if done(counts):
            return seen
        old_target, new_target = next_step(counts, surge, unavailable)
        new_born += [tick] * (new_target - len(new_born))
        old_replicas, new_replicas = old_target, new_target
        tick += 1
    raise AssertionError("the update never finished")


@pytest.mark.parametrize("desired, old", [(4, 4), (1, 1), (3, 5), (5, 2), (0, 3), (2, 0)])
def test_never_below_desired_ready_nor_above_one_extra_pod(desired, old):
    seen = simulate(desired, old)
    floor = min(desired, old)
    # Once as many pods are ready as the update started with, it never drops below that floor.
    assert all(ready >= floor for ready, _ in seen)
    assert all(existing <= max(desired, old) + 1 for _, existing in seen)


def test_a_new_pod_that_never_gets_ready_stops_the_update():
    counts = Counts(4, old_replicas=4, new_replicas=1, old_ready=4, new_ready=0)
    assert next_step(counts) == (4, 1)  # wait: nothing safe to do
    assert not done(counts)


def test_with_max_unavailable_old_pods_may_go_first():
    counts = Counts(4, old_replicas=4, new_replicas=0, old_ready=4, new_ready=0)
    assert next_step(counts, max_surge=0, max_unavailable=1) == (3, 0)
    assert next_step(Counts(4, 3, 0, 3, 0), max_surge=0, max_unavailable=1) == (3, 1)


def test_a_resumed_update_continues_from_the_counts():
    assert next_step(Counts(4, old_replicas=2, new_replicas=2, old_ready=2, new_ready=2)) == (2, 3)
    assert next_step(Counts(4, old_replicas=2, new_replicas=3, old_ready=2, new_ready=3)) == (1, 3)
    assert done(Counts(4, 0, 4, 0, 4)) and not done(Counts(4, 0, 4, 0, 3))


def test_the_new_controller_for_an_image():
    old = with_deployment_label(rc(), template_hash(rc()["spec"]["template"]))
    new = new_controller_for_image(old, "busybox:2")
    digest = new["spec"]["selector"][DEPLOYMENT_KEY]
    assert new["metadata"]["name"] == f"web-{digest}" and new["spec"]["replicas"] == 0
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:2"
    assert new["spec"]["template"]["metadata"]["labels"] == {"app": "web", DEPLOYMENT_KEY: digest}
    assert digest != old["spec"]["selector"][DEPLOYMENT_KEY]
    # The same update asked again names the same controller (so it is found and resumed).
    assert new_controller_for_image(old, "busybox:2")["metadata"]["name"] == new["metadata"]["name"]
    check_disjoint(old, new)
    with pytest.raises(RollingUpdateError, match="already runs"):
        new_controller_for_image(old, "busybox:1")


def test_several_containers_need_to_be_named():
    two = rc()
    two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "x"})
    with pytest.raises(RollingUpdateError, match="--container"):
        new_controller_for_image(two, "busybox:2")
    new = new_controller_for_image(two, "y", container="side")
    assert [c["image"] for c in new["spec"]["template"]["spec"]["containers"]] == ["busybox:1", "y"]


def test_overlapping_selectors_are_refused():
    with pytest.raises(RollingUpdateError, match="selector must differ"):
        check_disjoint(rc(), rc(name="web-v2", image="busybox:2"))
    with pytest.raises(RollingUpdateError):  # the old one would still claim web-v2's pods
        check_disjoint(rc(), rc(name="web-v2", labels={"app": "web", "version": "2"}))
    check_disjoint(with_deployment_label(rc(), "a"), rc(name="web-v2", labels={"app": "web", "version": "2"}))


def test_the_rename_selects_nothing_until_it_takes_over():
    new = new_controller_for_image(with_deployment_label(rc(), "a"), "busybox:2")
    new["spec"]["replicas"] = 4
    interim = renamed(new, "web")
    assert interim["metadata"]["name"] == "web" and interim["spec"]["replicas"] == 0
    assert interim["spec"]["selector"][RENAME_PENDING] == "true"
    final = finish_rename(interim, 4)
    assert final["spec"]["replicas"] == 4 and final["spec"]["selector"] == new["spec"]["selector"]
    assert final["spec"]["template"]["metadata"]["labels"] == new["spec"]["template"]["metadata"]["labels"]
