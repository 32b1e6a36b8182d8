"""The helper's pure parts of the pod runtime (what Docker reports, read back)."""

from raftkube.remote.helper.dockertime import unix_time as _timestamp


def test_docker_times_with_and_without_a_fraction():
    assert _timestamp("2024-01-02T03:04:05.250000000Z") == 1704164645.25
    # RFC 3339 with nanoseconds drops a zero fraction entirely.
    assert _timestamp("2024-01-02T03:04:05Z") == 1704164645.0
    assert _timestamp("0001-01-01T00:00:00Z") is None and _timestamp(None) is None
