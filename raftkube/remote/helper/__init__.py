"""The host-side helper: a small JSON-lines server the leader runs on each host over SSH.

It is shipped as a zipapp with its dependencies (pyroute2, the docker SDK), so a host
needs only python3. Nothing here may import fabric, aiohttp, pysyncobj, click or any
part of raftkube outside this package and `raftkube.remote.protocol`. Its modules (and
the protocol) use `from __future__ import annotations` and nothing newer than Python 3.9
at run time, because a host's python3 may be older than the leader's.
"""
