"""The loops' framework without masters: lease timing, work queues, the cache."""

import asyncio
import threading

from raftkube.loops.cache import Cache
from raftkube.loops.lease import LEASE_TIMEOUT, RENEW_EVERY, Lease, Sightings
from raftkube.loops.workqueue import WorkQueue, backoff_delay
from raftkube.state.commands import ClusterState


def lease_result(holder="m1", term=3):
    return {"ok": True, "object": {"holder": holder, "term": term, "renewed": 0}}


def test_lease_held_only_until_timeout_after_the_renewal_was_sent():
    lease = Lease(term=3, holder="m1")
    assert not lease.holds(100.0, 3, True)
    assert lease.renewed(100.0, lease_result(), current_term=3)
    assert lease.holds(100.0 + LEASE_TIMEOUT - 0.01, 3, True)
    assert not lease.holds(100.0 + LEASE_TIMEOUT, 3, True)


def test_lease_lost_when_term_changes_or_not_leader():
    lease = Lease(term=3, holder="m1")
    lease.renewed(100.0, lease_result(), current_term=3)
    assert not lease.holds(100.1, 4, True)
    assert not lease.holds(100.1, 3, False)


def test_renewal_of_another_term_or_holder_or_failed_does_not_count():
    lease = Lease(term=3, holder="m1")
    assert not lease.renewed(100.0, lease_result(term=4), current_term=3)
    assert not lease.renewed(100.0, lease_result(holder="m2"), current_term=3)
    assert not lease.renewed(100.0, {"ok": False, "reason": "Conflict", "message": "later term"}, current_term=3)
    assert not lease.renewed(100.0, None, current_term=3)
    assert not lease.renewed(100.0, lease_result(), current_term=4)  # elected again meanwhile
    assert not lease.holds(100.1, 3, True)


def test_new_leader_waits_out_the_previous_holders_lease():
    lease = Lease(term=4, holder="m2")
    lease.previous_holder_seen(50.0)
    assert not lease.may_start(50.0 + LEASE_TIMEOUT - 0.01)
    assert lease.may_start(50.0 + LEASE_TIMEOUT)
    assert Lease(term=1, holder="m1").may_start(0.0)


def test_new_leader_counts_the_previous_holders_last_renewal_not_its_own():
    seen = Sightings()
    seen.applied("m1", 3, 10.0)
    seen.applied("m1", 3, 10.2)
    seen.applied("m2", 4, 11.0)  # m2's own first renewal, applied after m1's last
    assert seen.others_last("m2", 4) == 10.2
    assert seen.others_last("m1", 3) == 11.0
    assert Sightings().others_last("m2", 4) == float("-inf")
    seen.applied("m2", 3, 5.0)  # an older term of the same holder is another lease
    assert seen.others_last("m2", 4) == 10.2


def test_sightings_keep_only_the_newest_leases():
    seen = Sightings(keep=2)
    seen.applied("m1", 1, 1.0)
    seen.applied("m2", 2, 2.0)
    seen.applied("m1", 1, 3.0)  # renewed: the newest again
    seen.applied("m3", 3, 4.0)
    assert seen.others_last("m3", 3) == 3.0
    assert seen.others_last("m1", 1) == 4.0


def test_pipelined_renewals_outlast_a_commit_slower_than_the_renewal_period():
    """Renewals go out every RENEW_EVERY whatever the ones before them do: with commits
    taking LEASE_TIMEOUT - 2 * RENEW_EVERY, the lease never lapses."""
    latency = LEASE_TIMEOUT - 2 * RENEW_EVERY
    lease = Lease(term=3, holder="m1")
    commits = sorted((n * RENEW_EVERY + latency, n * RENEW_EVERY) for n in range(40))
    lease.renewed(commits[0][1], lease_result(), current_term=3)
    for committed, sent in commits[1:]:
        assert lease.holds(committed, 3, True)  # still held from the renewal before
        lease.renewed(sent, lease_result(), current_term=3)
    assert lease.holds(commits[-1][0], 3, True)


def test_backoff_doubles_to_a_maximum():
    assert backoff_delay(1) == 0.05
    assert backoff_delay(2) == 0.1
    assert backoff_delay(30) == 30.0


def test_queue_deduplicates_and_never_hands_out_a_key_twice_at_once():
    async def scenario():
        queue = WorkQueue()
        queue.add("a")
        queue.add("a")
        queue.add("b")
        assert len(queue) == 2
        first = await queue.get()
        queue.add(first)  # changed while being processed
        second = await queue.get()
        assert {first, second} == {"a", "b"}
        assert queue.get_nowait() is None  # "a" waits for done
        queue.done(first)
        assert queue.get_nowait() == first
        queue.done(first)
        queue.done(second)
        assert queue.get_nowait() is None
    asyncio.run(scenario())


def test_retry_backs_off_per_key_and_forget_resets():
    async def scenario():
        queue = WorkQueue(base_delay=0.01)
        assert queue.retry("k") == 0.01
        assert queue.retry("k") == 0.02
        queue.forget("k")
        assert queue.retry("k") == 0.01
        assert await asyncio.wait_for(queue.get(), 1) == "k"
    asyncio.run(scenario())


class StateStore:
    """The two Store methods the cache uses, over a real ClusterState."""

    def __init__(self):
        self.state = ClusterState()
        self.listeners = []
        self.lock = threading.RLock()

    def read(self, fn):
        with self.lock:
            return fn(self.state)

    def add_listener(self, fn):
        self.listeners.append(fn)

    def remove_listener(self, fn):
        self.listeners.remove(fn)

    def apply(self, command):
        result = self.state.apply(command)
        for fn in self.listeners:
            fn(self.state.revision)
        return result


def pod(name, node=None, owner=None):
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    if node:
        obj["spec"]["nodeName"] = node
    if owner:
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ReplicationController",
                                               "name": "rc", "uid": owner, "controller": True}]
    return obj


def test_cache_follows_the_store_with_indexes_and_handlers():
    async def scenario():
        store = StateStore()
        store.apply({"op": "create", "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
                     "uid": "ns", "now": "2026-01-01T00:00:00Z"})
        store.apply({"op": "create", "object": pod("a", node="n1", owner="rc1"), "uid": "ua", "now": "2026-01-01T00:00:00Z"})
        cache = Cache(store, asyncio.get_running_loop())
        seen = []
        cache.on("Pod", lambda event, old, new: seen.append((event, (new or old)["metadata"]["name"])))
        cache.start()
        assert [p["metadata"]["name"] for p in cache.pods_on_node("n1")] == ["a"]
        store.apply({"op": "create", "object": pod("b", owner="rc1"), "uid": "ub", "now": "2026-01-01T00:00:00Z"})
        moved = store.read(lambda s: s.get("Pod", "default", "a"))
        store.apply({"op": "update", "object": {**moved, "spec": {**moved["spec"], "nodeName": "n2"}},
                     "now": "2026-01-01T00:00:00Z"})
        store.apply({"op": "delete", "kind": "Pod", "namespace": "default", "name": "b", "now": "2026-01-01T00:00:00Z"})
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert seen == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
        assert cache.pods_on_node("n1") == [] and len(cache.pods_on_node("n2")) == 1
        assert [p["metadata"]["name"] for p in cache.dependents("rc1")] == ["a"]
        assert cache.by_uid("ua")["spec"]["nodeName"] == "n2" and cache.by_uid("ub") is None
        assert cache.revision == store.state.revision
        cache.close()
    asyncio.run(scenario())
