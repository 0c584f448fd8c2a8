from __future__ import annotations

import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream


def test_page_and_contract_without_backend(clean_env: pytest.MonkeyPatch) -> None:
    with TestClient(main.app) as c:
        page = c.get("/")
        assert page.status_code == 200 and '<form id="chat">' in page.text
        assert "textContent" in c.get("/static/app.js").text
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200
        assert "http_requests_total" in c.get("/metrics").text
        assert c.get("/api/v1/agents").status_code == 503


def test_proxy_and_readiness_follow_backend(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream
) -> None:
    clean_env.setenv("BACKEND_URL", fake_upstream.url)
    with TestClient(main.app) as c:
        assert c.get("/ready").status_code == 200
        # /api/echo on the fake answers with what it received.
        r = c.post("/api/echo?x=1", json={"a": 1})
        assert r.status_code == 404  # the fake only knows /echo at its root...
        assert fake_upstream.calls[-1][:2] == ("POST", "/api/echo")
        assert fake_upstream.calls[-1][2] == {"a": 1}
        # Behind ALB auth: the ALB's access token becomes the backend's bearer token,
        # replacing whatever Authorization the browser sent.
        c.post(
            "/api/echo",
            json={},
            headers={"x-amzn-oidc-accesstoken": "alb-token", "Authorization": "Bearer forged"},
        )
        assert fake_upstream.headers[-1]["authorization"] == "Bearer alb-token"
        c.post("/api/echo", json={}, headers={"Authorization": "Bearer api-client"})
        assert fake_upstream.headers[-1]["authorization"] == "Bearer api-client"
        fake_upstream.healthy = False
        ready = c.get("/ready")
        assert ready.status_code == 503 and ready.json()["down"] == ["backend"]


def test_proxy_reports_unreachable_backend(clean_env: pytest.MonkeyPatch, dead_url: str) -> None:
    clean_env.setenv("BACKEND_URL", dead_url)
    with TestClient(main.app) as c:
        assert c.get("/api/v1/agents").status_code == 502
        assert c.get("/ready").json()["down"] == ["backend"]
