"""Ansible INI inventory parsing: ranges, groups, precedence, and located errors."""

from pathlib import Path

import pytest

from raftkube.remote.inventory import InventoryError, expand_host_range, load_inventory, render_inventory


def write(tmp_path: Path, text: str, name: str = "hosts.ini") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("node1", ["node1"]),
        ("node[01:03]", ["node01", "node02", "node03"]),
        ("node[1:3]", ["node1", "node2", "node3"]),
        ("node[8:10]", ["node8", "node9", "node10"]),
        ("10.0.0.[1:3]", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
        ("www[01:07:2]", ["www01", "www03", "www05", "www07"]),
        ("db-[a:c]", ["db-a", "db-b", "db-c"]),
        ("db-[a:e:2]", ["db-a", "db-c", "db-e"]),
        ("r[1:2]n[a:b]", ["r1na", "r1nb", "r2na", "r2nb"]),
        ("h[:2]", ["h0", "h1", "h2"]),
    ],
)
def test_host_ranges(pattern, expected):
    assert expand_host_range(pattern) == expected


@pytest.mark.parametrize(
    "pattern", ["node[1:]", "node[1]", "node[3:1]", "node[01:100]", "node[a:3]", "node[1:3", "node1:3]", "n[1:4:0]"]
)
def test_bad_host_ranges(pattern):
    with pytest.raises(ValueError):
        expand_host_range(pattern)


def test_defaults_and_ansible_variables(tmp_path):
    path = write(
        tmp_path,
        """
# a comment
; another comment
[masters]
master1 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=admin ansible_ssh_private_key_file=keys/id
[nodes]
node1
""",
    )
    inv = load_inventory(path)
    m, n = inv.host("master1"), inv.host("node1")
    assert (m.address, m.port, m.user, m.key_file) == ("10.0.0.1", 2222, "admin", str(tmp_path / "keys/id"))
    assert (n.address, n.port, n.user, n.key_file, n.python) == ("node1", 22, "root", None, "python3")
    assert (n.api_port, n.raft_port, n.docker_host) == (6443, 2380, "unix:///var/run/docker.sock")
    assert [h.name for h in inv.masters] == ["master1"]
    assert [h.name for h in inv.nodes] == ["node1"]
    assert inv.token_path == Path(f"{path}.token")
    assert inv.known_hosts_path == Path(f"{path}.known_hosts")


def test_ranges_children_and_kubespray_aliases(tmp_path):
    path = write(
        tmp_path,
        """
[kube_control_plane]
cp[1:3] ansible_host=10.1.0.1

[workers_a]
node[01:02]

[workers_b]
node[03:04]:2200

[kube_node:children]
workers_a
workers_b

[etcd:children]
kube_control_plane
""",
    )
    inv = load_inventory(path)
    assert [h.name for h in inv.masters] == ["cp1", "cp2", "cp3"]
    assert [h.name for h in inv.nodes] == ["node01", "node02", "node03", "node04"]
    assert inv.host("node03").port == 2200
    assert {"nodes", "kube_node", "workers_b"} <= inv.host("node04").groups
    assert "etcd" in inv.host("cp2").groups and inv.host("cp2").is_master


def test_variable_precedence(tmp_path):
    path = write(
        tmp_path,
        """
[all:vars]
level=all
only_all=yes
raftkube_token_file=secret/token

[cluster:children]
nodes

[cluster:vars]
level=parent
only_parent=1

[nodes]
node1 level=host
node2

[nodes:vars]
level=child
ansible_port=2022
""",
    )
    inv = load_inventory(path)
    one, two = inv.host("node1"), inv.host("node2")
    assert one.vars["level"] == "host"
    assert two.vars["level"] == "child"
    assert two.vars["only_parent"] == "1"  # [group:vars] values stay strings
    assert two.vars["only_all"] == "yes"
    assert two.port == 2022
    assert inv.token_path == tmp_path / "secret/token"


def test_inline_values_are_python_literals(tmp_path):
    path = write(
        tmp_path,
        """
[nodes]
node1 raftkube_cpu=4 flag=True items="[1, 2]" name='quoted value' word=plain raftkube_memory=8Gi
[nodes:vars]
quoted="a b"
number=7
""",
    )
    v = load_inventory(path).host("node1").vars
    assert v["raftkube_cpu"] == 4 and v["flag"] is True and v["items"] == [1, 2]
    assert v["name"] == "quoted value" and v["word"] == "plain" and v["raftkube_memory"] == "8Gi"
    assert v["quoted"] == "a b" and v["number"] == "7"


def test_ungrouped_and_all(tmp_path):
    path = write(
        tmp_path,
        """
loner
twice
[nodes]
twice
""",
    )
    inv = load_inventory(path)
    assert inv.host("loner").groups == frozenset({"ungrouped"})
    assert inv.host("twice").groups == frozenset({"nodes"})
    assert list(inv.hosts) == ["loner", "twice"]


def test_group_defined_after_its_vars_is_fine(tmp_path):
    path = write(tmp_path, "[nodes:vars]\nraftkube_max_pods=50\n[nodes]\nnode1\n")
    assert load_inventory(path).host("node1").vars["raftkube_max_pods"] == "50"


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("[nodes]\nnode1\n\n\n\n\nnode[1:]\n", 7, 'bad host range "node[1:]"'),
        ("[nodes]\nnode1 badvar\n", 2, "expected key=value"),
        ("[nodes:hostz]\n", 1, "bad section [nodes:hostz]"),
        ("[nodes\n", 1, "bad section header"),
        ("[nodes]\nn1\n[nodes:vars]\njustakey\n", 4, "expected key=value"),
        ("[mastrs:vars]\nx=1\n[nodes]\nn1\n", 1, "never defined"),
        ("[nodes]\nn1\n[all:children]\nnodes\nmissing\n", 5, "'missing', which is never defined"),
        ("[a:children]\nb\n[b:children]\na\n", 1, "cycle"),
        ("[nodes]\nn1 ansible_port=abc\n", 2, "ansible_port must be a port number"),
        ("[nodes]\nn1 'unclosed\n", 2, "cannot split"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value).startswith(f"hosts.ini:{line}: ")
    assert message in str(info.value)


def test_missing_file_and_unknown_host(tmp_path):
    with pytest.raises(InventoryError, match="cannot read inventory"):
        load_inventory(tmp_path / "nope.ini")
    inv = load_inventory(write(tmp_path, "[nodes]\nnode1\n"))
    with pytest.raises(InventoryError, match="no host named 'node9'"):
        inv.host("node9")


def test_example_inventory_parses():
    example = Path(__file__).resolve().parents[2] / "inventory.example.ini"
    inv = load_inventory(example)
    assert len(inv.masters) == 3
    assert len(inv.nodes) >= 3


def test_render_round_trips_hosts(tmp_path):
    source = write(
        tmp_path,
        """
[masters]
m1 ansible_host=10.0.0.1 raftkube_api_port=8443 note="it's a \\"quoted\\" $value"
[nodes]
n[1:2] raftkube_cpu=4 flag=True word="'True'" empty= items="[1, 'x #y']"
[nodes:vars]
raftkube_memory=8Gi
[all:vars]
ansible_ssh_private_key_file=keys/id
raftkube_token_file=elsewhere/token
""",
    )
    inv = load_inventory(source)
    copy = write(tmp_path, render_inventory(list(inv.hosts.values()), {str(tmp_path / "keys/id"): "/k/id"}), "copy.ini")
    again = load_inventory(copy)
    assert list(again.hosts) == ["m1", "n1", "n2"]
    for name, host in inv.hosts.items():
        other = again.host(name)
        assert (other.address, other.port, other.api_port, other.groups) == (host.address, host.port, host.api_port, host.groups)
        assert other.key_file == "/k/id"
    assert again.host("m1").vars["note"] == "it's a \"quoted\" $value"
    n2 = again.host("n2").vars
    assert n2["raftkube_cpu"] == 4 and n2["raftkube_memory"] == "8Gi" and n2["flag"] is True
    assert n2["word"] == "True" and n2["empty"] == "" and n2["items"] == [1, "x #y"]
    assert again.token_path == tmp_path / "copy.ini.token"
