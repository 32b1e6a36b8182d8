"""kubectl and the Python client on a lab made by `lab up`: logs and exec on a running pod.

One lab for the module (2 masters, 1 node); the kubeconfig is the one `lab up` wrote,
each kubectl run has its own empty HOME. Requests sent to the follower reach the node
through the leader (forwarded over https).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from raftkube.client.discovery import find_masters
from terminal import Terminal

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

POD = """
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.5; done"]
  - name: side
    image: busybox
    command: ["sh", "-c", "echo side says hi; echo side two; exec sleep 3600"]
"""


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(nodes=1, masters=2, prefix="kcl")


@pytest.fixture(scope="module")
def kubeconfig(lab):
    path = lab.inventory_path.parent / (lab.inventory_path.name + ".kubeconfig")
    assert path.stat().st_mode & 0o777 == 0o600
    return path


def env_for(kubeconfig) -> dict:
    return {"PATH": os.environ["PATH"], "HOME": tempfile.mkdtemp(prefix="kubectl-home-"),
            "KUBECONFIG": str(kubeconfig)}


def kubectl(kubeconfig, *args, stdin: str | None = None, check: bool = True, timeout: float = 60):
    env = env_for(kubeconfig)
    try:
        done = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, env=env,
                              timeout=timeout)
    finally:
        shutil.rmtree(env["HOME"], ignore_errors=True)
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done


@pytest.fixture(scope="module")
def talker(kubeconfig, tmp_path_factory):
    manifest = tmp_path_factory.mktemp("pod") / "pod.yaml"
    manifest.write_text(POD)
    kubectl(kubeconfig, "create", "-f", str(manifest))
    deadline = time.monotonic() + 90
    while "2/2" not in kubectl(kubeconfig, "get", "pod", "talker").stdout:
        assert time.monotonic() < deadline, kubectl(kubeconfig, "describe", "pod", "talker").stdout
        time.sleep(1)
    time.sleep(3)  # a few lines of output
    return "talker"


@pytest.fixture(scope="module")
def follower_server(lab, kubeconfig):
    """`--server` of the master that does not lead (so requests are forwarded)."""
    masters = find_masters(str(lab.inventory_path))
    with masters.client() as client:
        status = client.status_of(masters.endpoints[0])
    for host, endpoint in zip(masters.inventory.masters, masters.endpoints):
        if f"{host.address}:{host.raft_port}" != status["leader"]:
            return endpoint
    raise AssertionError("no follower")


def test_kubeconfig_from_lab_up_reaches_the_cluster(kubeconfig):
    nodes = kubectl(kubeconfig, "get", "nodes").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] and nodes[1].split()[0] == "node1"
    describe = kubectl(kubeconfig, "describe", "node", "node1").stdout
    assert "Name:               node1" in describe


def test_logs_container_tail_and_follow(kubeconfig, talker):
    tail = kubectl(kubeconfig, "logs", talker, "--tail", "2").stdout.splitlines()
    assert len(tail) == 2 and all(line.startswith("line ") for line in tail)
    assert kubectl(kubeconfig, "logs", talker, "-c", "side").stdout == "side says hi\nside two\n"
    assert kubectl(kubeconfig, "logs", talker, "-c", "side", "--tail=1").stdout == "side two\n"
    everything = kubectl(kubeconfig, "logs", talker).stdout.splitlines()
    recent = kubectl(kubeconfig, "logs", talker, "--since=1s").stdout.splitlines()
    assert 0 < len(recent) < len(everything) and recent[-1].startswith("line ")
    previous = kubectl(kubeconfig, "logs", talker, "-c", "side", "--previous", check=False)
    assert previous.returncode == 1 and 'previous terminated container "side"' in previous.stderr
    stamped = kubectl(kubeconfig, "logs", talker, "-c", "side", "--timestamps").stdout.splitlines()
    assert stamped[0].endswith(" side says hi") and stamped[0][:4].isdigit()
    env = env_for(kubeconfig)
    follow = subprocess.Popen(["kubectl", "logs", "-f", talker, "--tail", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = [follow.stdout.readline() for _ in range(4)]
    finally:
        follow.kill()
        follow.wait()
        shutil.rmtree(env["HOME"], ignore_errors=True)
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + 4))  # new lines as they are written, no repeats


def test_exec_exit_code_and_stdin(kubeconfig, talker):
    done = kubectl(kubeconfig, "exec", talker, "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                   check=False)
    assert done.returncode == 3 and done.stdout == "out\n" and "err\n" in done.stderr
    assert kubectl(kubeconfig, "exec", talker, "-c", "main", "--", "true").returncode == 0
    piped = kubectl(kubeconfig, "exec", "-i", talker, "-c", "main", "--", "sh", "-c", "tr a-z A-Z; echo done",
                    stdin="hello\nworld\n")
    assert piped.stdout == "HELLO\nWORLD\ndone\n"


def test_exec_interactive_under_a_terminal(kubeconfig, talker):
    env = env_for(kubeconfig)
    try:
        with Terminal(["kubectl", "exec", "-it", talker, "-c", "main", "--", "sh"], env) as term:
            term.read_until(b"# ", 20)
            term.type(b"tty; echo $((6*7))\r")
            term.read_until(b"42", 20)
            term.type(b"exit 5\r")
            term.read_until(b"exit code 5", 20)
            code = term.wait()
    finally:
        shutil.rmtree(env["HOME"], ignore_errors=True)
    assert b"/dev/pts/" in term.output and b"42" in term.output, term.output
    assert code == 5


def test_logs_and_exec_through_a_follower(kubeconfig, talker, follower_server):
    logs = kubectl(kubeconfig, "--server", follower_server, "logs", talker, "-c", "side")
    assert logs.stdout == "side says hi\nside two\n"
    done = kubectl(kubeconfig, "--server", follower_server, "exec", "-i", talker, "-c", "main", "--",
                   "sh", "-c", "cat; exit 7", stdin="via follower\n", check=False)
    assert done.returncode == 7 and done.stdout == "via follower\n"


def test_python_client_exec_and_logs(kubeconfig, talker):
    # A test dependency (pyproject's `test` extra): missing, the test fails instead of skipping.
    from kubernetes import client, config
    from kubernetes.stream import stream

    v1 = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    out = stream(v1.connect_get_namespaced_pod_exec, talker, "default", container="main",
                 command=["sh", "-c", "echo from-python"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "from-python\n"
    failing = stream(v1.connect_get_namespaced_pod_exec, talker, "default", container="main",
                     command=["sh", "-c", "exit 4"], stderr=True, stdin=False, stdout=True, tty=False,
                     _preload_content=False)
    failing.run_forever(timeout=20)
    assert failing.returncode == 4
    assert v1.read_namespaced_pod_log(talker, "default", container="side") == "side says hi\nside two\n"
