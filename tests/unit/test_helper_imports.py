"""The helper runs on hosts from its zipapp: it may import only what the zipapp carries."""

import ast
import sys
from pathlib import Path

import pytest

import raftkube.errors
import raftkube.netproxy
import raftkube.remote.protocol
import raftkube.state.names
import raftkube.state.quantity
from raftkube.remote.zipapp import DEPENDENCIES

HELPER_DIR = Path(raftkube.remote.protocol.__file__).parent / "helper"
SHIPPED_OWN = [Path(raftkube.remote.protocol.__file__), Path(raftkube.state.names.__file__),
               Path(raftkube.state.quantity.__file__), Path(raftkube.errors.__file__)]
NETPROXY_DIR = Path(raftkube.netproxy.__file__).parent
HOST_SIDE = [*sorted(HELPER_DIR.glob("*.py")), *sorted(NETPROXY_DIR.glob("*.py")), *SHIPPED_OWN]
ALLOWED_OWN = ("raftkube.remote.helper", "raftkube.remote.protocol", "raftkube.state.names",
               "raftkube.state.quantity", "raftkube.errors", "raftkube.netproxy")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            # `from raftkube.remote import protocol` imports raftkube.remote.protocol.
            names |= {f"{node.module}.{alias.name}" for alias in node.names} if node.module == "raftkube.remote" else {node.module}
    return names


@pytest.mark.parametrize("path", HOST_SIDE, ids=lambda p: p.name)
def test_host_side_imports_only_the_stdlib_its_package_and_the_zipapp_dependencies(path):
    for name in imported_modules(path):
        top = name.split(".")[0]
        if top == "raftkube":
            assert name.startswith(ALLOWED_OWN), f"{path.name} imports {name}, which is not shipped to hosts"
        elif top != "__future__":
            assert top in sys.stdlib_module_names or top in DEPENDENCIES, f"{path.name} imports {name}"


def test_protocol_imports_only_the_stdlib():
    top = {name.split(".")[0] for name in imported_modules(Path(raftkube.remote.protocol.__file__))}
    assert top <= set(sys.stdlib_module_names) | {"__future__"}
