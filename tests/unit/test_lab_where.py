"""Which lab an inventory belongs to, so `lab` subcommands follow RAFTKUBE_INVENTORY."""

from raftkube.lab.where import LAB_ROOT, default_lab_name, lab_of_inventory


def test_an_inventory_inside_a_lab_names_it():
    assert lab_of_inventory(LAB_ROOT / "hl0" / "inventory.ini") == "hl0"
    assert lab_of_inventory(f"{LAB_ROOT}/x1/../hl0/inventory.ini") == "hl0"


def test_other_inventories_name_no_lab():
    assert lab_of_inventory("/etc/raftkube/inventory.ini") is None
    assert lab_of_inventory(LAB_ROOT) is None
    assert lab_of_inventory("") is None
    assert lab_of_inventory(None) is None


def test_the_default_follows_the_environment(monkeypatch):
    monkeypatch.setenv("RAFTKUBE_INVENTORY", str(LAB_ROOT / "hl0" / "inventory.ini"))
    assert default_lab_name() == "hl0"
    monkeypatch.setenv("RAFTKUBE_INVENTORY", "/tmp/inventory.ini")
    assert default_lab_name() == "lab"
    monkeypatch.delenv("RAFTKUBE_INVENTORY")
    assert default_lab_name() == "lab"
