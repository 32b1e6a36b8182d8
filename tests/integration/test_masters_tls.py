"""The API over TLS: https only, the token on every request, the cluster CA and no other."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys

import pytest

from conftest import running_masters
from raftkube.pki import ensure_cluster_pki
from raftkube.remote.inventory import load_inventory


@pytest.fixture(scope="module")
def one_master(tmp_path_factory):
    with running_masters(tmp_path_factory.mktemp("tls"), ["m1"]) as cluster:
        yield cluster


def test_plain_http_is_refused(one_master):
    connection = http.client.HTTPConnection("127.0.0.1", one_master.ports["m1"][0], timeout=5)
    try:
        connection.request("GET", "/api/v1/namespaces", headers={"Authorization": f"Bearer {one_master.token}"})
        response = connection.getresponse()
        code, body = response.status, response.read()
    except (ConnectionError, http.client.HTTPException, OSError):
        return  # the TLS server drops a plain-HTTP client: refused
    finally:
        connection.close()
    assert code >= 400 and b"NamespaceList" not in body


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/raftkube/v1/cluster", "/healthz", "/version", "/api"])
def test_no_request_succeeds_without_the_token(one_master, path):
    code, body = one_master.request("m1", "GET", path, token=None)
    assert code == 401 and body["reason"] == "Unauthorized"
    code, _ = one_master.request("m1", "GET", path, token="wrong")
    assert code == 401


def test_https_with_the_token_answers(one_master):
    code, body = one_master.request("m1", "GET", "/api/v1/namespaces")
    assert code == 200 and body["kind"] == "NamespaceList"
    code, body = one_master.request("m1", "GET", "/raftkube/v1/cluster")
    assert code == 200 and body["certificateExpires"].endswith("Z")


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "raftkube", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_cli_verifies_against_the_cluster_ca(one_master, tmp_path):
    code, _ = one_master.request("m1", "POST", "/api/v1/namespaces",
                                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tls-check"}})
    assert code == 201
    done = cli("get", "namespaces", "-i", str(one_master.inventory))
    assert done.returncode == 0 and "tls-check" in done.stdout
    status = cli("cluster", "status", "-i", str(one_master.inventory))
    assert status.returncode == 0 and "CERT EXPIRES" in status.stdout
    # The same masters, but an inventory whose CA is another cluster's.
    other = tmp_path / "other.ini"
    other.write_text(one_master.inventory.read_text())
    (tmp_path / "other.ini.token").write_text(one_master.token + "\n")
    ensure_cluster_pki(load_inventory(other))
    refused = cli("get", "namespaces", "-i", str(other))
    assert refused.returncode == 1, refused.stdout
    assert "does not verify against the cluster CA" in refused.stderr and "Traceback" not in refused.stderr
    assert "tls-check" not in refused.stdout
