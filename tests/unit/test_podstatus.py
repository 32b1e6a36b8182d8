"""Pod status from a pod and its host report, and restart decisions: Kubernetes' rules."""

import copy

import pytest

from raftkube.loops.podstatus import pod_status, restart_plan, timestamp

NOW = 1_800_000_000.0
HOST = "10.0.0.11"


def make_pod(*names, policy="Always", status=None, **container_extra):
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "nodeName": "node1",
            "restartPolicy": policy,
            "containers": [{"name": n, "image": "busybox", **container_extra} for n in names],
        },
        "status": status or {},
    }


def seen(name, state="running", exit_code=0, restarts=0, since=NOW - 100, until=None, **extra):
    return {
        "name": name, "id": f"id-{name}", "image_id": "sha256:abc", "state": state, "exit_code": exit_code,
        "restart_count": restarts, "started_at": since, "finished_at": until, "ready": None,
        "started": state == "running", "last_termination": None, "oom_killed": False, "error": "", **extra,
    }  # fmt: skip


def report(*containers, pause_started=NOW - 101):
    return {"uid": "u1", "name": "web", "namespace": "default", "ensured": True,
            "pause": {"name": "POD", "state": "running", "started_at": pause_started}, "containers": list(containers)}


def condition(status, kind):
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_not_on_the_host_yet_is_pending_with_containers_being_created():
    status = pod_status(make_pod("app"), None, HOST, NOW)
    assert status["phase"] == "Pending"
    assert status["hostIP"] == HOST and "startTime" not in status
    [app] = status["containerStatuses"]
    assert app["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert app["ready"] is False and app["restartCount"] == 0
    assert condition(status, "Ready")["status"] == "False"
    assert condition(status, "PodScheduled")["status"] == "True"


def test_running_pod_is_ready_with_docker_ids_and_rfc3339_times():
    status = pod_status(make_pod("app"), report(seen("app")), HOST, NOW)
    assert status["phase"] == "Running"
    assert status["startTime"] == timestamp(NOW - 101)
    [app] = status["containerStatuses"]
    assert app["containerID"] == "docker://id-app" and app["imageID"] == "docker://sha256:abc"
    assert app["state"] == {"running": {"startedAt": timestamp(NOW - 100)}}
    assert app["ready"] is True and app["started"] is True and app["lastState"] == {}
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Initialized": "True", "Ready": "True", "ContainersReady": "True", "PodScheduled": "True"}
    assert timestamp(0) == "1970-01-01T00:00:00Z"


def test_same_inputs_give_an_equal_status_and_transition_times_stay():
    pod, observed = make_pod("app"), report(seen("app"))
    first = pod_status(pod, observed, HOST, NOW)
    assert pod_status(pod, observed, HOST, NOW) == first
    pod["status"] = copy.deepcopy(first)
    later = pod_status(pod, observed, HOST, NOW + 500)
    assert later == first  # nothing changed: the loops need not write


def test_ready_transition_time_moves_only_when_ready_changes():
    pod = make_pod("app", readinessProbe={"exec": {"command": ["true"]}})
    pod["status"] = pod_status(pod, report(seen("app", ready=False)), HOST, NOW)
    assert condition(pod["status"], "Ready")["status"] == "False"
    assert condition(pod["status"], "Ready")["message"] == "containers with unready status: [app]"
    became = pod_status(pod, report(seen("app", ready=True)), HOST, NOW + 30)
    assert condition(became, "Ready") == {"type": "Ready", "status": "True", "lastTransitionTime": timestamp(NOW + 30)}
    assert condition(became, "Initialized")["lastTransitionTime"] == timestamp(NOW)


def test_readiness_probe_without_a_result_is_not_ready():
    pod = make_pod("app", readinessProbe={"tcpSocket": {"port": 80}})
    status = pod_status(pod, report(seen("app", ready=None, ensured=False)), HOST, NOW)
    assert status["containerStatuses"][0]["ready"] is False
    assert status["phase"] == "Running"


def test_startup_probe_gates_started_and_ready():
    pod = make_pod("app", startupProbe={"exec": {"command": ["true"]}})
    status = pod_status(pod, report(seen("app", started=False)), HOST, NOW)
    assert status["containerStatuses"][0]["started"] is False
    assert status["containerStatuses"][0]["ready"] is False
    status = pod_status(pod, report(seen("app", started=True)), HOST, NOW)
    assert status["containerStatuses"][0]["ready"] is True


def test_fields_not_ours_are_kept():
    status = {"podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}], "qosClass": "BestEffort",
              "startTime": "2026-01-01T00:00:00Z",
              "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                             {"type": "DisruptionTarget", "status": "True"}]}
    result = pod_status(make_pod("app", status=status), report(seen("app")), HOST, NOW)
    assert result["podIP"] == "10.244.1.5" and result["podIPs"] == [{"ip": "10.244.1.5"}]
    assert result["qosClass"] == "BestEffort" and result["startTime"] == "2026-01-01T00:00:00Z"
    assert condition(result, "PodScheduled")["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert condition(result, "DisruptionTarget")["status"] == "True"


@pytest.mark.parametrize(
    "policy, codes, phase",
    [
        ("Never", [0], "Succeeded"),
        ("Never", [1], "Failed"),
        ("Never", [0, 1], "Failed"),
        ("OnFailure", [0, 0], "Succeeded"),
        ("OnFailure", [0, 2], "Running"),  # the failed one is restarted
        ("Always", [0], "Running"),  # crash loop: restarted even after success
    ],
)
def test_phase_follows_restart_policy_once_every_container_exited(policy, codes, phase):
    names = [f"c{i}" for i in range(len(codes))]
    observed = report(*(seen(n, "exited", exit_code=code, until=NOW - 5) for n, code in zip(names, codes)))
    status = pod_status(make_pod(*names, policy=policy), observed, HOST, NOW)
    assert status["phase"] == phase
    if phase in ("Succeeded", "Failed"):
        assert condition(status, "Ready")["reason"] == ("PodCompleted" if phase == "Succeeded" else "PodFailed")


def test_never_keeps_running_while_one_container_still_runs():
    observed = report(seen("a", "exited", exit_code=1, until=NOW - 5), seen("b"))
    assert pod_status(make_pod("a", "b", policy="Never"), observed, HOST, NOW)["phase"] == "Running"


def test_one_container_not_created_yet_keeps_the_pod_pending():
    assert pod_status(make_pod("a", "b"), report(seen("a")), HOST, NOW)["phase"] == "Pending"


def test_terminal_phase_never_changes():
    observed = report(seen("app"))
    pod = make_pod("app", policy="Never", status={"phase": "Failed"})
    assert pod_status(pod, observed, HOST, NOW)["phase"] == "Failed"
    assert pod_status(pod, None, HOST, NOW)["phase"] == "Failed"


def test_terminated_state_says_why():
    observed = report(seen("app", "exited", exit_code=0, since=NOW - 20, until=NOW - 5))
    [app] = pod_status(make_pod("app", policy="Never"), observed, HOST, NOW)["containerStatuses"]
    assert app["state"] == {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": timestamp(NOW - 20),
                                           "finishedAt": timestamp(NOW - 5), "containerID": "docker://id-app"}}
    assert app["ready"] is False and app["started"] is False
    oom = report(seen("app", "exited", exit_code=137, until=NOW - 5, oom_killed=True))
    [app] = pod_status(make_pod("app", policy="Never"), oom, HOST, NOW)["containerStatuses"]
    assert app["state"]["terminated"]["reason"] == "OOMKilled"


def test_crash_loop_waits_with_the_run_that_ended_as_last_state():
    observed = report(seen("app", "exited", exit_code=1, restarts=2, since=NOW - 8, until=NOW - 5))
    status = pod_status(make_pod("app"), observed, HOST, NOW)
    [app] = status["containerStatuses"]
    assert app["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "back-off 20s" in app["state"]["waiting"]["message"]
    assert app["lastState"]["terminated"]["exitCode"] == 1
    assert app["lastState"]["terminated"]["finishedAt"] == timestamp(NOW - 5)
    assert app["restartCount"] == 2 and app["ready"] is False
    assert status["phase"] == "Running"
    later = make_pod("app", status=copy.deepcopy(status))
    assert pod_status(later, observed, HOST, NOW + 20) == status  # the back-off's passing is no change


def test_a_first_crash_shows_the_run_that_ended_and_no_back_off():
    observed = report(seen("app", "exited", exit_code=1, since=NOW - 8, until=NOW - 5))
    status = pod_status(make_pod("app"), observed, HOST, NOW)
    [app] = status["containerStatuses"]
    assert app["state"]["terminated"]["exitCode"] == 1 and app["restartCount"] == 0
    assert status["phase"] == "Running"  # restartPolicy Always: it is restarted at once
    assert restart_plan(make_pod("app"), observed, NOW) == [("app", NOW)]


def test_restarted_container_shows_the_previous_termination():
    last = {"exit_code": 137, "started_at": NOW - 60, "finished_at": NOW - 30, "reason": "Error"}
    observed = report(seen("app", restarts=1, since=NOW - 20, last_termination=last))
    [app] = pod_status(make_pod("app"), observed, HOST, NOW)["containerStatuses"]
    assert "running" in app["state"] and app["restartCount"] == 1
    assert app["lastState"]["terminated"]["exitCode"] == 137
    assert app["lastState"]["terminated"]["finishedAt"] == timestamp(NOW - 30)


def test_restart_count_never_goes_back():
    old = {"containerStatuses": [{"name": "app", "restartCount": 4, "lastState": {"terminated": {"exitCode": 2}}}]}
    [app] = pod_status(make_pod("app", status=old), report(seen("app", restarts=0)), HOST, NOW)["containerStatuses"]
    assert app["restartCount"] == 4 and app["lastState"] == {"terminated": {"exitCode": 2}}


def test_a_deleted_pod_shows_its_stopped_containers_terminated():
    pod = make_pod("app")
    pod["metadata"]["deletionTimestamp"] = timestamp(NOW - 10)
    observed = report(seen("app", "exited", exit_code=143, until=NOW - 5))
    [app] = pod_status(pod, observed, HOST, NOW)["containerStatuses"]
    assert app["state"]["terminated"]["exitCode"] == 143
    assert restart_plan(pod, observed, NOW) == []


@pytest.mark.parametrize(
    "policy, code, restarted",
    [("Always", 0, True), ("Always", 1, True), ("OnFailure", 1, True), ("OnFailure", 0, False),
     ("Never", 1, False), ("Never", 0, False)],
)
def test_restart_plan_follows_restart_policy(policy, code, restarted):
    observed = report(seen("app", "exited", exit_code=code, until=NOW - 100))
    plan = restart_plan(make_pod("app", policy=policy), observed, NOW)
    assert plan == ([("app", NOW)] if restarted else [])


@pytest.mark.parametrize("restarts, delay", [(1, 10), (2, 20), (3, 40), (6, 300)])
def test_restart_plan_backs_off_from_the_finish_time(restarts, delay):
    observed = report(seen("app", "exited", exit_code=1, restarts=restarts, since=NOW - 3, until=NOW - 2))
    [(name, at)] = restart_plan(make_pod("app"), observed, NOW)
    assert name == "app" and at == pytest.approx(NOW - 2 + delay, abs=1e-3)  # approx's default: 1e-6 of NOW


def test_restart_plan_leaves_running_and_missing_containers_alone():
    observed = report(seen("a"), seen("b", "exited", exit_code=1, until=NOW - 50))
    assert restart_plan(make_pod("a", "b", "c"), observed, NOW) == [("b", NOW)]
    assert restart_plan(make_pod("a"), None, NOW) == []
    assert restart_plan(make_pod("a", status={"phase": "Succeeded"}), observed, NOW) == []


@pytest.mark.parametrize(
    "resources, qos",
    [
        ([{}, {}], "BestEffort"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}], "Burstable"),
        ([{"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
        ([{"requests": {"memory": "64Mi"}}, {}], "Burstable"),
    ],
)
def test_qos_class_is_set_from_the_spec_unless_present(resources, qos):
    pod = make_pod(*(f"c{i}" for i in range(len(resources))))
    for container, r in zip(pod["spec"]["containers"], resources):
        container["resources"] = r
    assert pod_status(pod, None, HOST, NOW)["qosClass"] == qos
    pod["status"] = {"qosClass": "Guaranteed"}
    assert pod_status(pod, None, HOST, NOW)["qosClass"] == "Guaranteed"
