"""The helper zipapp: what it carries, that its name is its content, that it runs alone."""

import subprocess
import zipfile

from raftkube.remote import zipapp as zipapp_module
from raftkube.remote.zipapp import DEPENDENCIES, helper_zipapp


def test_it_carries_the_helper_and_its_dependencies_as_python_only(tmp_path):
    built = helper_zipapp(tmp_path)
    names = zipfile.ZipFile(built.path).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"__main__.py", "raftkube", *DEPENDENCIES}
    assert "raftkube/remote/helper/runtime.py" in names and "raftkube/remote/protocol.py" in names
    shipped_as_is = ("raftkube/remote/protocol.py", "raftkube/state/names.py", "raftkube/state/quantity.py",
                     "raftkube/errors.py")
    empty_inits = ("raftkube/__init__.py", "raftkube/remote/__init__.py", "raftkube/state/__init__.py")
    assert not [n for n in names if n.startswith("raftkube/") and not n.startswith(("raftkube/remote/helper/", "raftkube/netproxy/"))
                and n not in shipped_as_is + empty_inits]
    assert not [n for n in names if n.endswith((".so", ".pyc"))]
    assert built.name == f"{built.digest}.pyz" and built.path.name == built.name


def test_its_imports_come_from_the_zip_not_the_machine(tmp_path):
    built = helper_zipapp(tmp_path)
    # -I -S: no site-packages, no user site, no PYTHONPATH: only the zip and the stdlib.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import docker, pyroute2, requests, raftkube.remote.helper.runtime as r; "
        "print(docker.__file__); print(pyroute2.__file__); print(r.__file__)"
    )
    out = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", script, str(built.path)], capture_output=True, text=True, check=True)
    assert all(line.startswith(str(built.path)) for line in out.stdout.splitlines())


def test_the_digest_follows_the_content():
    files = {"a.py": b"x = 1\n", "b.py": b""}
    same = dict(reversed(list(files.items())))
    changed = {**files, "a.py": b"x = 2\n"}
    assert zipapp_module._digest(files) == zipapp_module._digest(same) != zipapp_module._digest(changed)
    assert zipapp_module._zip(files) == zipapp_module._zip(same)
