"""The leader's control loops: scheduler, replication, garbage collection, node health,
events and the remote kubelet, run inside the Raft leader's master process.

`runner.Loops` starts them when this master leads and holds a committed lease, and
stops them at once when it does not (see `lease.py`); `registry.CONTROLLERS` lists
what runs; each controller reads the `cache.Cache` and writes through the Committer.
"""
