from __future__ import annotations

import json

import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream


def test_hub_routes(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream, dead_url: str
) -> None:
    clean_env.setenv(
        "SERVICE_HUB_TARGETS", json.dumps({"fake": fake_upstream.url, "dead": dead_url})
    )
    with TestClient(main.app) as c:
        assert c.get("/ready").status_code == 200
        assert [s["name"] for s in c.get("/services").json()["services"]] == ["dead", "fake"]
        echo = c.post("/call/fake/echo?q=1", json={"x": 2}).json()
        assert echo == {"method": "POST", "body": {"x": 2}, "query": "q=1"}
        assert c.get("/call/nope/x").status_code == 404
        assert c.get("/call/dead/health").status_code == 502
        assert c.get("/health/fake").json()["status"] == "up"
        assert c.get("/health/dead").json()["status"] == "down"
        results = c.post("/broadcast", json={"path": "/health"}).json()["results"]
        assert results["fake"]["ok"] is True and results["dead"]["ok"] is False
        assert "http_requests_total" in c.get("/metrics").text


def test_malformed_targets_fail_startup(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SERVICE_HUB_TARGETS", "[1, 2]")
    with pytest.raises(ValueError, match="SERVICE_HUB_TARGETS"), TestClient(main.app):
        pass
