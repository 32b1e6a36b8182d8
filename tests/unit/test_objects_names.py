"""Name rules used outside schemas (URL names) and generated names."""

import re

from raftkube.state import names
from raftkube.state.objects import validate


def test_generate_name_is_a_valid_name_with_kubernetes_suffix():
    generated = {names.generate_name("web-") for _ in range(50)}
    assert len(generated) > 45
    for name in generated:
        assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
        assert names.dns1123_subdomain(name) == []


def test_generate_name_cuts_a_long_prefix_to_fit_a_label():
    name = names.generate_name("a" * 100)
    assert len(name) == 63 and name.startswith("a" * 58)


def test_generated_name_validates():
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-"},
        "spec": {"containers": [{"name": "a", "image": "b"}]},
    }
    obj["metadata"]["name"] = names.generate_name(obj["metadata"]["generateName"])
    assert validate(obj)["metadata"]["name"].startswith("web-")


def test_rules_return_every_problem():
    assert names.dns1123_label("Bad_" + "x" * 70) == [
        "must be no more than 63 characters",
        names.dns1123_label("A")[0],
    ]
    assert names.dns1123_label("ok-1") == []
    assert names.dns1035_label("1ok") != [] and names.dns1035_label("ok1") == []
    assert names.qualified_name("example.com/app") == []
    assert names.label_value("") == []
    assert names.port_name("http") == [] and names.port_name("http-8080") == []
    assert names.env_var_name("_X.y-1") == [] and names.env_var_name("1X") != []
