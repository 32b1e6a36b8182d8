"""The lab, for real: namespaces, sshd, dockerd, and what `lab down` leaves behind."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import pytest

from raftkube.lab import Lab, network
from raftkube.lab.lab import LAB_ROOT
from raftkube.lab.network import default_routes
from raftkube.lab.sandbox import CGROUP_ROOT, RUN_DIR

pytestmark = pytest.mark.lab


def ssh(lab: Lab, address: str, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-i", str(lab.key_path), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=error", "-o", "ConnectTimeout=3",
         f"root@{address}", *argv],
        capture_output=True, text=True, timeout=timeout,
    )


def engine(lab: Lab, host: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=lab.docker_host(host), version="1.41", timeout=20)


def inventory_addresses(lab: Lab) -> dict[str, str]:
    addresses = {}
    for line in lab.inventory_path.read_text().splitlines():
        fields = line.split()
        if fields and "ansible_host=" in line:
            addresses[fields[0]] = next(f for f in fields if f.startswith("ansible_host=")).split("=", 1)[1]
    return addresses


@pytest.fixture(scope="module")
def lab(make_lab) -> Lab:
    return make_lab(nodes=2, masters=1, setup=False)


def test_every_host_answers_ssh_with_the_lab_key_at_its_inventory_address(lab):
    addresses = inventory_addresses(lab)
    assert sorted(addresses) == ["master1", "node1", "node2"]
    for name, address in addresses.items():
        result = ssh(lab, address, "hostname")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == name


def test_ssh_commands_run_the_labs_python_without_the_machines_shell_startup(lab):
    """A lab host is a separate machine: root's ~/.bashrc here (pyenv init, whose rehash
    lock stalls every later session when a host is killed mid-command) stays out, and
    python3 is the one running the lab, with raftkube's dependencies."""
    result = ssh(lab, lab.host("node1").address, "echo $PATH; command -v python3; cat ~/.bashrc 2>/dev/null")
    assert result.returncode == 0, result.stderr
    path, python, *bashrc = result.stdout.splitlines()
    assert path.split(":")[0] == str(Path(sys.executable).parent)
    assert python == str(Path(sys.executable).parent / "python3")
    if Path("/root/.bashrc").is_file():  # the machine has one to keep out
        assert bashrc == ["# node1's own /root/.bashrc, written by `raftkube lab up`: the machine's stays out."]
        assert Path("/root/.bashrc").read_text() != "\n".join(bashrc) + "\n"  # the machine's is untouched


def test_ssh_refuses_a_key_that_is_not_the_labs(lab, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    result = subprocess.run(
        ["ssh", "-i", str(other), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"root@{lab.host('node1').address}", "true"],
        capture_output=True, text=True, timeout=10,
    )
    assert result.returncode != 0


def test_each_node_has_its_own_engine(lab):
    one, two = engine(lab, "node1"), engine(lab, "node2")
    assert one.info()["ID"] != two.info()["ID"]
    container = one.containers.run("busybox", ["sleep", "300"], detach=True, name="only-on-node1")
    try:
        assert [c.name for c in one.containers.list()] == ["only-on-node1"]
        assert two.containers.list(all=True) == []
    finally:
        container.remove(force=True)


def test_a_busybox_container_runs_on_a_node(lab):
    output = engine(lab, "node2").containers.run("busybox", ["echo", "hello from busybox"], remove=True)
    assert output.decode().strip() == "hello from busybox"


def test_no_host_has_a_default_route(lab):
    for host in lab.hosts():
        assert default_routes(str(lab.sandbox(host.name).netns_path)) == [], host.name
        result = lab.exec(host.name, ["ip", "route", "show", "default"], capture_output=True, text=True)
        assert result.stdout.strip() == ""


def test_each_host_has_its_own_var_lib_raftkube(lab):
    lab.exec("node1", ["sh", "-c", "echo one > /var/lib/raftkube/marker"], check=True)
    assert not Path("/var/lib/raftkube/marker").exists()
    result = lab.exec("node2", ["cat", "/var/lib/raftkube/marker"], capture_output=True)
    assert result.returncode != 0
    assert ssh(lab, lab.host("node1").address, "cat", "/var/lib/raftkube/marker").stdout == "one\n"


def test_exec_returns_the_commands_exit_code_and_names_the_nodes_engine(lab):
    assert lab.exec("node1", ["sh", "-c", "exit 7"]).returncode == 7
    result = lab.exec("node1", ["sh", "-c", "echo $DOCKER_HOST"], capture_output=True, text=True)
    assert result.stdout.strip() == lab.docker_host("node1")
    cli = subprocess.run([sys.executable, "-m", "raftkube", "lab", "exec", "--name", lab.name, "node2", "--",
                          "sh", "-c", "exit 3"])
    assert cli.returncode == 3


def test_stop_kills_sshd_dockerd_and_containers_and_start_brings_them_back(lab):
    address = lab.host("node2").address
    engine(lab, "node2").containers.run("busybox", ["sleep", "600"], detach=True, name="survivor")
    lab.exec("node2", ["sh", "-c", "echo kept > /var/lib/raftkube/disk"], check=True)
    lab.stop("node2")
    assert lab.sandbox("node2").pids() == []
    assert ssh(lab, address, "true", timeout=15).returncode != 0
    lab.start("node2")
    assert ssh(lab, address, "cat", "/var/lib/raftkube/disk").stdout == "kept\n"
    client = engine(lab, "node2")
    survivor = client.containers.get("survivor")
    assert survivor.status == "exited"  # pulled plug: the container died with the host
    survivor.remove(force=True)
    assert client.containers.run("busybox", ["echo", "back"], remove=True).decode().strip() == "back"


def test_partition_cuts_the_host_off_and_heal_restores_it(lab):
    address = lab.host("node1").address
    lab.partition("node1")
    try:
        assert ssh(lab, address, "true", timeout=15).returncode != 0
    finally:
        lab.heal("node1")
    assert ssh(lab, address, "true").returncode == 0


def test_labs_with_different_names_coexist(lab, make_lab):
    other = make_lab(nodes=1)
    assert other.host("node1").address != lab.host("node1").address
    assert ssh(other, other.host("node1").address, "hostname").returncode == 0
    assert ssh(lab, lab.host("node1").address, "hostname").returncode == 0


def leftovers(name: str) -> list[str]:
    found = []
    found += [f"netns {p.name}" for p in Path("/run/netns").glob(f"rk-{name}-*")]
    found += [f"link {line}" for line in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True)
              .stdout.splitlines() if f"rk-{name}" in line]
    found += [f"mount {line}" for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if f"/{name}/" in line and "raftkube-lab" in line]
    found += [f"process {pid}" for pid in _pids_mentioning(f"raftkube-lab/{name}/")]
    found += [f"dir {p}" for p in (LAB_ROOT / name, RUN_DIR / name) if p.exists()]
    found += [f"cgroup {p}" for p in CGROUP_ROOT.glob(f"*/raftkube-lab/{name}")]
    return found


def _pids_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_down_leaves_nothing_behind():
    lab = Lab(f"d{uuid.uuid4().hex[:6]}")
    lab.up(nodes=2, masters=1, setup=False, echo=lambda line: None)
    engine(lab, "node1").containers.run("busybox", ["sleep", "600"], detach=True)
    assert leftovers(lab.name)
    lab.down(quiet=True)
    assert leftovers(lab.name) == []


def test_the_next_up_cleans_the_leftovers_of_a_killed_lab():
    name = f"k{uuid.uuid4().hex[:6]}"
    for delay in (0.3, 0.6):
        creator = subprocess.Popen([sys.executable, "-m", "raftkube", "lab", "up", "--name", name,
                                    "--nodes", "2", "--masters", "0"], start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.killpg(creator.pid, signal.SIGKILL)
        creator.wait()
    lab = Lab(name)
    try:
        lab.up(nodes=1, masters=0, echo=lambda line: None)
        assert [h.name for h in lab.hosts()] == ["node1"]
        assert ssh(lab, lab.host("node1").address, "true").returncode == 0
    finally:
        lab.down(quiet=True)
    assert leftovers(name) == []


def test_down_also_kills_what_lab_exec_left_running():
    lab = Lab(f"e{uuid.uuid4().hex[:6]}")
    lab.up(nodes=1, masters=0, echo=lambda line: None)
    runner = subprocess.Popen([sys.executable, "-m", "raftkube", "lab", "exec", "--name", lab.name, "node1",
                               "--", "sleep", "600"])
    deadline = time.monotonic() + 10
    while not _pids_mentioning("sleep\x00600") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pids_mentioning("sleep\x00600")
    lab.down(quiet=True)
    assert runner.wait(timeout=10) != 0
    assert leftovers(lab.name) == [] and _pids_mentioning("sleep\x00600") == []


def test_deleting_a_link_the_kernel_freed_after_the_lookup_is_not_an_error(monkeypatch):
    """lab down deletes its veth ends while the kernel frees them with their namespaces:
    a CI run's teardown failed with ENODEV between `link_lookup` and `link del`."""
    from pyroute2 import IPRoute

    name = f"rkrace{uuid.uuid4().hex[:6]}"
    with IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        stale = ipr.link_lookup(ifname=name)
        ipr.link("del", index=stale[0])  # gone now, as a freed veth is

    class StaleLookup(IPRoute):
        def link_lookup(self, **query):
            return list(stale)

    monkeypatch.setattr(network, "IPRoute", StaleLookup)
    network.delete_link(name)
