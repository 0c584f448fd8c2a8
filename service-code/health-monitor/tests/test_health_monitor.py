from __future__ import annotations

import json
import time

import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream


def wait_rounds(c: TestClient, rounds: int) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = c.get("/status").json()
        if body["rounds"] >= rounds:
            return body
        time.sleep(0.05)
    raise AssertionError("monitor did not poll")


def test_polls_targets_and_exports_gauges(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream, dead_url: str
) -> None:
    clean_env.setenv(
        "HEALTH_TARGETS",
        json.dumps({"good": fake_upstream.url + "/health", "bad": dead_url + "/health"}),
    )
    clean_env.setenv("HEALTH_INTERVAL_SECONDS", "0.1")
    with TestClient(main.app) as c:
        body = wait_rounds(c, 1)
        assert body["down"] == ["bad"]
        assert c.get("/ready").status_code == 200
        metrics = c.get("/metrics").text
        assert 'sutazai_target_up{target="good"} 1.0' in metrics
        assert 'sutazai_target_up{target="bad"} 0.0' in metrics
        fake_upstream.healthy = False
        rounds = int(str(body["rounds"]))
        body = wait_rounds(c, rounds + 2)
        assert body["down"] == ["bad", "good"]
        assert c.get("/status/good").json()["status_code"] == 503
        assert c.get("/status/nope").status_code == 404


def test_not_ready_before_first_round(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream
) -> None:
    clean_env.setenv("HEALTH_TARGETS", json.dumps({"good": fake_upstream.url + "/health"}))
    clean_env.setenv("HEALTH_INTERVAL_SECONDS", "3600")
    with TestClient(main.app) as c:
        wait_rounds(c, 1)  # then pretend it never polled: the next round is an hour away
        c.app.state.monitor.rounds = 0  # pyright: ignore[reportAttributeAccessIssue]
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["down"] == ["first_poll"]
