"""`raftkube setup` and `raftkube image load` against a bare lab: real sshd, dockerd, masters."""

import copy
import hashlib
import os
import subprocess
import time

import docker
import pytest
from click.testing import CliRunner

from raftkube.cli import main
from raftkube.client.api import ApiClient, tls_context
from raftkube.client.discovery import endpoint
from raftkube.remote import ssh
from raftkube.remote.hostprep import gather_facts
from raftkube.remote.inventory import load_inventory
from raftkube.remote.setup_master import LOG_FILE, Wheelhouse, master_log_tail
from raftkube.setup import SetupFailed, setup_cluster

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(nodes=2, masters=3, setup=False, prefix="stp")


@pytest.fixture(scope="module")
def wheelhouse():
    """One raftkube build for the whole module: others may be editing the working tree meanwhile."""
    return Wheelhouse()


@pytest.fixture(scope="module")
def first_run(lab, wheelhouse):
    lines: list[str] = []
    setup_cluster(lab.inventory_path, lines.append, wheelhouse=wheelhouse)
    return lines


def api(lab, method: str, *args):
    inventory = load_inventory(lab.inventory_path)
    endpoints = [endpoint(m) for m in inventory.masters]
    token = inventory.token_path.read_text().strip()

    with ApiClient(endpoints, token, ssl_context=tls_context(inventory.ca_cert_path)) as client:
        return getattr(client, method)(*args)


def test_first_run_prepares_everything(lab, first_run):
    text = "\n".join(first_run)
    for host in ("master1", "master2", "master3", "node1", "node2"):
        assert f"{host}: connected to " in text and "host key recorded" in text
    assert "node1: docker " in text and "answers at unix://" in text
    for master in ("master1", "master2", "master3"):
        assert f"{master}: raftkube 0.1.0 " in text  # installed, or already (a shared cache)
        assert f"{master}: master started" in text
    assert "cluster: leader " in text
    assert "node1: Node registered" in text and "node2: Node registered" in text
    inventory = load_inventory(lab.inventory_path)
    assert inventory.token_path.stat().st_mode & 0o777 == 0o600
    assert f"local: created cluster CA {inventory.ca_cert_path}" in text
    assert inventory.ca_key_path.stat().st_mode & 0o777 == 0o600
    assert "master1: serving certificate issued, expires " in text
    assert f"local: wrote {inventory.kubeconfig_path}" in text
    assert inventory.kubeconfig_path.stat().st_mode & 0o777 == 0o600
    key_mode = lab.exec("master1", ["stat", "-c", "%a", "/var/lib/raftkube/inventory.ini.pki/master1.key"],
                        capture_output=True, text=True, check=True).stdout.strip()
    assert key_mode == "600"
    master2_key = lab.exec("master1", ["test", "-e", "/var/lib/raftkube/inventory.ini.pki/master2.key"])
    assert master2_key.returncode != 0  # a master holds only its own key


def test_master_answers_and_nodes_are_registered(lab, first_run):
    node = api(lab, "get", "/api/v1/nodes/node1")
    host = load_inventory(lab.inventory_path).host("node1")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node1"
    assert {"type": "InternalIP", "address": host.address} in node["status"]["addresses"]
    assert int(node["status"]["capacity"]["pods"]) == 110 and int(node["status"]["capacity"]["cpu"]) >= 1
    assert node["status"]["capacity"]["memory"].endswith("Ki")


def test_second_run_changes_nothing(lab, first_run, wheelhouse):
    lines: list[str] = []
    setup_cluster(lab.inventory_path, lines.append, wheelhouse=wheelhouse)
    text = "\n".join(lines)
    assert "host key recorded" not in text and "created token" not in text
    assert "serving certificate" not in text and "cluster CA" not in text and "kubeconfig" not in text
    for master in ("master1", "master2", "master3"):
        assert f"{master}: raftkube 0.1.0 already installed" in text
        assert f"{master}: master already running" in text
    assert "node1: Node already registered" in text and "node2: Node already registered" in text


def test_master_log_tail_shows_the_masters_last_lines(lab, first_run):
    # What setup prints when no leader is elected: it must work without one.
    inventory = load_inventory(lab.inventory_path)
    master = inventory.host("master1")
    conn = ssh.connect(master, inventory.known_hosts_path)
    try:
        tail = master_log_tail(conn, master, gather_facts(conn, master), lines=2)
    finally:
        conn.close()
    expected = lab.exec("master1", ["tail", "-n", "2", LOG_FILE], capture_output=True, text=True, check=True)
    assert tail == expected.stdout.strip()


def test_changed_host_key_is_refused(lab, first_run, wheelhouse):
    inventory = load_inventory(lab.inventory_path)
    saved = inventory.known_hosts_path.read_text()
    node2 = inventory.host("node2")
    # Give node2's address the key of node1: as if node2 had been replaced by another machine.
    node1_key = next(line for line in saved.splitlines() if line.startswith(inventory.host("node1").address + " "))
    forged = [line for line in saved.splitlines() if not line.startswith(node2.address + " ")]
    forged.append(node2.address + " " + node1_key.split(" ", 1)[1])
    inventory.known_hosts_path.write_text("\n".join(forged) + "\n")
    lines: list[str] = []
    try:
        with pytest.raises(SetupFailed, match=r"setup failed on node2 \(the other hosts are ready\): .*presented a different ssh-ed25519 key"):
            setup_cluster(lab.inventory_path, lines.append, wheelhouse=wheelhouse)
    finally:
        inventory.known_hosts_path.write_text(saved)
    assert any(line.startswith("node2: FAILED: host node2 (") and "remove its line" in line for line in lines)
    assert "node1: Node already registered" in lines


def test_master_comes_back_after_a_host_restart(lab, first_run):
    lab.stop("master1")
    lab.start("master1")
    inventory = load_inventory(lab.inventory_path)
    master1 = inventory.host("master1")

    def status():
        url = endpoint(master1)
        with ApiClient([url], inventory.token_path.read_text().strip(),
                       ssl_context=tls_context(inventory.ca_cert_path)) as client:
            return client.status_of(url)

    deadline = time.monotonic() + 20
    while (answer := status()) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert answer is not None and answer["name"] == "master1"


def test_image_load_copies_to_nodes_that_lack_it(lab, first_run):
    source = lab.docker_host("node1")
    client = docker.DockerClient(base_url=source, version="1.41")
    try:
        client.images.get("busybox:latest").tag("setup-test/copy", "v1")
    finally:
        client.close()
    runner = CliRunner()
    argv = ["image", "load", "setup-test/copy:v1", "-i", str(lab.inventory_path), "--from-docker-host", source]
    first = runner.invoke(main, argv)
    assert first.exit_code == 0, first.output
    assert "node1: setup-test/copy:v1 (" in first.output and "already present" in first.output
    assert "node2: setup-test/copy:v1 loaded in" in first.output
    second = runner.invoke(main, argv)
    assert second.exit_code == 0 and "loaded" not in second.output
    missing = runner.invoke(main, ["image", "load", "no-such/image:v9", "-i", str(lab.inventory_path), "--from-docker-host", source])
    assert missing.exit_code == 1 and "is not in the local engine" in missing.output


def test_upgrade_restarts_masters_one_at_a_time(lab, first_run, wheelhouse):
    upgrade = copy.copy(wheelhouse)
    upgrade.digest = hashlib.sha256(b"a later build " + wheelhouse.digest.encode()).hexdigest()
    lines: list[str] = []
    setup_cluster(lab.inventory_path, lines.append, wheelhouse=upgrade)
    restarts = [line for line in lines if "restarted" in line or "rejoined" in line]
    assert restarts == [
        "master1: master restarted with the new configuration", restarts[1],
        "master2: master restarted with the new configuration", restarts[3],
        "master3: master restarted with the new configuration",
    ]
    assert restarts[1].startswith("master1: rejoined, leader ") and restarts[3].startswith("master2: rejoined")
    venvs = lab.exec("master1", ["ls", "/var/lib/raftkube/venvs"], capture_output=True, text=True).stdout.split()
    assert venvs == [upgrade.digest[:16]]
    assert api(lab, "get", "/api/v1/nodes/node1")["metadata"]["name"] == "node1"


def test_a_stopped_master_starts_first_and_the_running_ones_restart_one_at_a_time(lab, first_run, wheelhouse):
    """A master that is down holds no vote to keep: setup starts it at once, then restarts
    the running ones one at a time, each once the one before has rejoined."""
    stopped = lab.exec("master3", ["sh", "-c", "kill $(cat /var/lib/raftkube/master/master.pid)"])
    assert stopped.returncode == 0
    upgrade = copy.copy(wheelhouse)
    upgrade.digest = hashlib.sha256(b"a build after that " + wheelhouse.digest.encode()).hexdigest()
    lines: list[str] = []
    setup_cluster(lab.inventory_path, lines.append, wheelhouse=upgrade)
    starts = [line for line in lines if "master started" in line or "restarted" in line or "rejoined" in line]
    assert starts == [
        "master3: master started",
        "master1: master restarted with the new configuration", starts[2],
        "master2: master restarted with the new configuration",
    ], lines
    assert starts[2].startswith("master1: rejoined, leader ")
    for master in ("master1", "master2", "master3"):
        venvs = lab.exec(master, ["ls", "/var/lib/raftkube/venvs"], capture_output=True, text=True).stdout.split()
        assert venvs == [upgrade.digest[:16]], master
    assert api(lab, "get", "/api/v1/nodes/node1")["metadata"]["name"] == "node1"


SYSTEM_PYTHON = "/usr/bin/python3"


def _lacks_dependencies(python: str) -> bool:
    return os.access(python, os.X_OK) and subprocess.run([python, "-c", "import pysyncobj"], capture_output=True).returncode != 0


@pytest.mark.skipif(not _lacks_dependencies(SYSTEM_PYTHON), reason=f"needs a {SYSTEM_PYTHON} without raftkube's dependencies")
def test_master_on_a_python_without_dependencies_gets_them_as_wheels(make_lab, wheelhouse, tmp_path):
    """A host with only python3 and no internet: dependency wheels built here are shipped."""
    bare = make_lab(nodes=0, masters=1, setup=False, prefix="stpy")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(bare.inventory_path.read_text() + f"\n[masters:vars]\nansible_python_interpreter={SYSTEM_PYTHON}\n")
    lines: list[str] = []
    setup_cluster(inventory, lines.append, wheelhouse=wheelhouse)
    assert any(line.startswith("master1: raftkube 0.1.0 installed with ") for line in lines), lines
    assert "master1: master started" in lines
    assert any(line.startswith("cluster: leader ") for line in lines)
