from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class _StubIssuer(BaseHTTPRequestHandler):
    """The dev issuer's /login: a token for any plain user name."""

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = self.path == "/login" and body.get("username", "").isalnum()
        payload = {"access_token": f"token-of-{body.get('username')}", "expires_in": 900}
        data = json.dumps(payload if ok else {"detail": "bad"}).encode()
        self.send_response(200 if ok else 422)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stub_issuer() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubIssuer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/login"
    server.shutdown()


def test_dev_sign_in_only_where_the_stack_sets_it_up(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream, stub_issuer: str
) -> None:
    clean_env.setenv("BACKEND_URL", fake_upstream.url)
    clean_env.delenv("DEV_LOGIN_URL", raising=False)
    with TestClient(main.app) as c:
        # Not a Docker stack: no sign-in page, and a planted cookie is not a token.
        assert c.get("/dev-login").status_code == 404
        assert c.post("/dev-login", data={"username": "alice"}).status_code == 404
        c.cookies.set(main.DEV_TOKEN_COOKIE, "planted")
        c.post("/api/echo", json={})
        assert "authorization" not in fake_upstream.headers[-1]
    clean_env.setenv("DEV_LOGIN_URL", stub_issuer)
    with TestClient(main.app) as c:
        assert "<form" in c.get("/dev-login").text
        assert c.post("/dev-login", data={"username": "al ice"}).status_code == 422
        r = c.post("/dev-login", data={"username": "alice"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api" in cookie
        c.post("/api/echo", json={})
        assert fake_upstream.headers[-1]["authorization"] == "Bearer token-of-alice"
        # The ALB's token, where there is one, still wins.
        c.post("/api/echo", json={}, headers={"x-amzn-oidc-accesstoken": "alb-token"})
        assert fake_upstream.headers[-1]["authorization"] == "Bearer alb-token"
