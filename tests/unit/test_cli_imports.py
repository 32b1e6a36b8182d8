"""Client commands import only what they use: no docker, SSH, netlink, Raft or aiohttp.

Each command runs for real in a fresh interpreter against a small https server standing
in for a master (its certificate from the same CA code setup uses) (this is about imports, not about the API), then reports which of the
heavy modules ended up loaded.
"""

import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from raftkube.pki import ensure_cluster_pki
from raftkube.remote.inventory import load_inventory

FORBIDDEN = ["docker", "paramiko", "fabric", "pyroute2", "pysyncobj", "aiohttp"]

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "default", "resourceVersion": "5", "uid": "u1",
                    "labels": {"app": "web"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
       "spec": {"containers": [{"name": "main", "image": "busybox"}], "nodeName": "node1"},
       "status": {"phase": "Running"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "resourceVersion": "3"},
        "spec": {}, "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "10"}}}
RC = {"apiVersion": "v1", "kind": "ReplicationController",
      "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
      "spec": {"replicas": 1, "selector": {"app": "web"},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}
CLUSTER = {"self": "127.0.0.1:1", "name": "m1", "state": "leader", "leader": "127.0.0.1:1", "term": 1,
           "commitIndex": 1, "lastApplied": 1, "hasQuorum": True, "ready": True, "revision": 1,
           "members": [{"address": "127.0.0.1:1", "connected": True, "matchIndex": 1}]}


class _FakeMaster(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _object(self) -> dict:
        path = self.path.partition("?")[0]
        if path.startswith("/raftkube/v1/cluster"):
            return CLUSTER
        if "/nodes" in path:
            return NODE
        if "/replicationcontrollers" in path:
            return RC
        return POD

    def do_GET(self):
        path = self.path.partition("?")[0]
        last = path.rstrip("/").split("/")[-1]
        if last in ("pods", "nodes", "replicationcontrollers", "events", "services", "namespaces", "endpoints"):
            items = [self._object()] if last in ("pods", "nodes") else []
            self._answer(200, {"kind": "List", "metadata": {"resourceVersion": "9"}, "items": items})
        else:
            self._answer(200, self._object())

    def _echo(self, code: int) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        self._answer(code, {**self._object(), **({"kind": body["kind"]} if "kind" in body else {})})

    def do_POST(self):
        self._echo(201)

    def do_PUT(self):
        self._echo(200)

    def do_PATCH(self):
        self._echo(200)

    def do_DELETE(self):
        self._echo(200)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeMaster)
    root = tmp_path_factory.mktemp("fake")
    path = root / "inventory.ini"
    path.write_text(f"[masters]\nm1 ansible_host=127.0.0.1 raftkube_api_port={server.server_port}\n")
    ensure_cluster_pki(load_inventory(path))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*load_inventory(path).master_cert_paths("m1"))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (root / "inventory.ini.token").write_text("t\n")
    (root / "pod.yaml").write_text(json.dumps(POD))
    yield path
    server.shutdown()


PROBE = """
import sys
from raftkube.cli import main
sys.argv = ["raftkube", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
print("EXIT", code)
print("LOADED " + " ".join(m for m in {forbidden!r} if m in sys.modules))
"""


COMMANDS = [
    ["--help"],
    ["get", "pods"],
    ["get", "pods", "-o", "yaml"],
    ["get", "nodes", "-o", "wide"],
    ["describe", "pod", "web"],
    ["delete", "pod", "web"],
    ["delete", "-f", "{dir}/pod.yaml"],
    ["label", "pod", "web", "a=b"],
    ["annotate", "pod", "web", "a=b"],
    ["scale", "rc/web", "--replicas", "2"],
    ["cluster", "status"],
    ["apply", "-f", "{dir}/pod.yaml"],
    ["apply", "-f", "{dir}/pod.yaml", "--prune", "-l", "app=web"],
    ["diff", "-f", "{dir}/pod.yaml"],
    ["kubeconfig"],
    ["cordon", "node1"],
    ["uncordon", "node1"],
    ["drain", "node2", "--timeout", "1m"],
    ["logs", "web", "--tail", "5"],
    ["exec", "web", "--", "true"],  # the stand-in cannot upgrade: exit 1 after every import
    ["rolling-update", "web", "--rollback"],  # nothing in progress: exit 1 after every import
]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_client_command_imports_no_heavy_module(inventory, argv):
    argv = [arg.replace("{dir}", str(inventory.parent)) for arg in argv]
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(inventory)}
    result = subprocess.run([sys.executable, "-c", PROBE.format(forbidden=FORBIDDEN), *argv],
                            capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    loaded = result.stdout.rpartition("LOADED")[2].split()
    # Run through to the end, so every import the command makes at run time happened.
    ok = ("EXIT 0\n", "EXIT 1\n") if argv[0] in ("diff", "exec", "rolling-update") else ("EXIT 0\n",)  # diff: 1 = differences
    assert any(code in result.stdout for code in ok), result.stdout + result.stderr
    assert loaded == [], f"raftkube {' '.join(argv)} imported {loaded}; stderr: {result.stderr}"


def test_the_probe_would_see_a_heavy_import(inventory):
    """The check itself works: the lab command group does load docker."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(forbidden=FORBIDDEN), "lab", "down", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert "docker" in result.stdout.rpartition("LOADED")[2].split()
