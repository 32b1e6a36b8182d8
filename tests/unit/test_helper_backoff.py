"""Restart decisions: restartPolicy and Kubernetes' crash back-off."""

import pytest

from raftkube.remote.helper.backoff import next_restart


@pytest.mark.parametrize(
    "policy, exit_code, restarts",
    [("Never", 1, True), ("Never", 0, True), ("OnFailure", 0, True), ("OnFailure", 2, False), ("Always", 0, False)],
)
def test_policy_decides_whether_to_restart_at_all(policy, exit_code, restarts):
    delay = next_restart(policy, exit_code, 0, finished_at=1000.0, now=2000.0)
    assert (delay is None) is restarts


@pytest.mark.parametrize("count, delay",
                         [(0, 0), (1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (7, 300), (100, 300)])
def test_a_first_crash_restarts_at_once_then_back_off_doubles_from_10s_up_to_5min(count, delay):
    assert next_restart("Always", 1, count, finished_at=1000.0, now=1000.0, started_at=999.0) == delay


def test_time_already_waited_counts():
    assert next_restart("Always", 1, 2, finished_at=1000.0, now=1015.0) == 5.0
    assert next_restart("Always", 1, 2, finished_at=1000.0, now=1100.0) == 0.0


def test_back_off_resets_after_ten_minutes_of_running():
    assert next_restart("Always", 1, 7, finished_at=2000.0, now=2000.0, started_at=1400.0) == 0.0
    assert next_restart("Always", 1, 7, finished_at=2000.0, now=2000.0, started_at=1401.0) == 300.0


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown restartPolicy 'Sometimes'"):
        next_restart("Sometimes", 1, 0, 0.0, 0.0)
