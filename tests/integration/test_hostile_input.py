"""Hostile request bodies and headers get a 4xx, fast, and never a 500 (issue 11, point 5)."""

from __future__ import annotations

import http.client
import json
import statistics
import time

import pytest

from tests.integration.conftest import TOKEN, pod

BOMB = b"""apiVersion: v1
kind: Pod
metadata:
  name: bomb
  namespace: default
  annotations:
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
spec: {containers: [{name: main, image: busybox}]}
"""


@pytest.fixture
def cluster(module_masters):
    return module_masters


def _send(cluster, method: str, path: str, body: bytes = b"", content_type: str = "application/json",
          authorization: bytes | None = None) -> tuple[int, dict, float]:
    """One raw request (headers as bytes, so they can be anything); status, body, seconds."""
    conn = http.client.HTTPSConnection("127.0.0.1", cluster.ports[cluster.leader()][0], timeout=60, context=cluster.tls)
    try:
        conn.putrequest(method, path)
        conn.putheader("Authorization", authorization or f"Bearer {TOKEN}".encode())
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        started = time.monotonic()
        conn.send(body)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    try:
        answer = json.loads(data or b"{}")
    except ValueError:
        answer = {"raw": data[:200]}
    return response.status, answer, elapsed


PODS = "/api/v1/namespaces/default/pods"


def test_yaml_alias_bomb_is_refused_at_once(cluster):
    baseline = statistics.median(_send(cluster, "GET", PODS)[2] for _ in range(5))
    code, answer, elapsed = _send(cluster, "POST", PODS, BOMB, "application/yaml")
    assert code == 400 and "alias" in answer["message"]
    # As fast as an ordinary read (generously): the bomb was never expanded.
    assert elapsed < max(0.1, 5 * baseline), (elapsed, baseline)


def test_a_2_mib_object_is_too_large(cluster):
    big = pod("big")
    big["spec"]["containers"][0]["args"] = ["x" * 1024] * 2048  # 2 MiB, no field limit on the way
    code, answer, _ = _send(cluster, "POST", PODS, json.dumps(big).encode())
    assert code == 413 and answer["reason"] == "RequestEntityTooLarge", answer
    code, answer, _ = _send(cluster, "POST", PODS, b" " * (4 * 2**20))
    assert code == 413, answer
    assert cluster.request(cluster.leader(), "GET", PODS + "/big")[0] == 404


def test_deeply_nested_json_is_a_400(cluster):
    for depth in (1000, 100_000):
        code, answer, _ = _send(cluster, "POST", PODS, b"[" * depth + b"]" * depth)
        assert code == 400 and "nested" in answer["message"], answer
        nested = b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deep"}, "spec": ' \
                 + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
        code, answer, _ = _send(cluster, "POST", PODS, nested)
        assert code == 400, answer


def test_non_ascii_authorization_is_a_401(cluster):
    for header in ("Bearer tökén".encode(), b"Bearer \xff\xfe", "Bärer x".encode()):
        code, answer, _ = _send(cluster, "GET", PODS, authorization=header)
        assert code == 401, (header, code, answer)


def test_the_raft_secret_is_not_an_api_token(cluster):
    from tests.integration.conftest import RAFT_SECRET

    code, answer, _ = _send(cluster, "GET", PODS, authorization=f"Bearer {RAFT_SECRET}".encode())
    assert code == 401, answer
    code, status, _ = _send(cluster, "GET", "/raftkube/v1/cluster")
    assert code == 200 and RAFT_SECRET not in json.dumps(status)


@pytest.mark.parametrize("path_suffix, content_type, body", [
    ("", "application/json-patch+json", [{"op": "replace", "path": "", "value": 5}]),
    ("", "application/json-patch+json", [{"op": "add", "path": "", "value": ["a"]}]),
    ("/status", "application/json-patch+json", [{"op": "add", "path": "", "value": "x"}]),
    ("", "application/apply-patch+yaml", {"apiVersion": "v1", "kind": "Pod", "metadata": "oops"}),
])
def test_a_patch_that_leaves_no_object_is_a_4xx(cluster, path_suffix, content_type, body):
    leader = cluster.leader()
    cluster.request(leader, "POST", "/api/v1/namespaces/default/pods", pod("patched"))
    query = "?fieldManager=t" if "apply" in content_type else ""
    code, answer, _ = _send(cluster, "PATCH", f"/api/v1/namespaces/default/pods/patched{path_suffix}{query}",
                            json.dumps(body).encode(), content_type)
    assert 400 <= code < 500 and answer.get("kind") == "Status", (code, answer)
    assert answer["message"] and "Traceback" not in answer["message"]


@pytest.mark.parametrize("method, content_type, body", [
    ("PUT", "application/json", {"metadata": "oops", "spec": {"replicas": 2}}),
    ("PUT", "application/json", {"spec": "two"}),
    ("PATCH", "application/merge-patch+json", {"spec": 2}),
])
def test_a_malformed_scale_is_a_4xx(cluster, method, content_type, body):
    leader = cluster.leader()
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "scaled"},
          "spec": {"replicas": 0, "selector": {"app": "scaled"}, "template": {
              "metadata": {"labels": {"app": "scaled"}},
              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    cluster.request(leader, "POST", "/api/v1/namespaces/default/replicationcontrollers", rc)
    code, answer, _ = _send(cluster, method, "/api/v1/namespaces/default/replicationcontrollers/scaled/scale",
                            json.dumps(body).encode(), content_type)
    assert 400 <= code < 500 and answer.get("kind") == "Status", (code, answer)
