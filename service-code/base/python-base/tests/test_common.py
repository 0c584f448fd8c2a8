"""sutazai_common: configuration, secrets and credential rotation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sutazai_common import (
    PostgresSettings,
    RedisSettings,
    build_app,
    env_json_map,
    read_secret,
    register_check,
)
from sutazai_common.clients import postgres_pool, redis_client
from sutazai_common.config import ConfigError, http_dependencies
from sutazai_testing import FakeUpstream, PostgresServer, RedisServer


def test_secret_file_wins_over_env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    clean_env.setenv("X_PASSWORD", "from-env")
    assert read_secret("X_PASSWORD") == "from-env"
    clean_env.setenv("X_PASSWORD_FILE", str(f))
    assert read_secret("X_PASSWORD") == "from-file"
    f.write_text("rotated")
    assert read_secret("X_PASSWORD") == "rotated"  # re-read, never cached
    assert read_secret("NOT_SET", "dflt") == "dflt"


def test_unreadable_secret_file_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("X_PASSWORD_FILE", "/nonexistent/pw")
    with pytest.raises(ConfigError, match="X_PASSWORD_FILE"):
        read_secret("X_PASSWORD")


def test_env_parsing(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HEALTH_TARGETS", '{"a": "http://a:8080/health"}')
    assert env_json_map("HEALTH_TARGETS") == {"a": "http://a:8080/health"}
    clean_env.setenv("HEALTH_TARGETS", '{"a": 1}')
    with pytest.raises(ConfigError):
        env_json_map("HEALTH_TARGETS")
    clean_env.setenv("REDIS_URL", "redis://user:pw@cache:6379/0")
    settings = RedisSettings.from_env()
    assert settings is not None and settings.describe() == "redis://cache:6379/0"
    clean_env.setenv("QDRANT_URL", "http://qdrant:6333/")
    assert http_dependencies()["qdrant"].probe_url == "http://qdrant:6333/readyz"
    assert PostgresSettings.from_env() is None  # not configured -> not checked


def test_contract_endpoints_and_ready_ignore(clean_env: pytest.MonkeyPatch) -> None:
    app = build_app("unit")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("x")

    async def failing() -> None:
        raise ConnectionRefusedError("nope")

    with TestClient(app, raise_server_exceptions=False) as c:
        register_check(app, "dep", failing)
        r = c.get("/ready")
        assert r.status_code == 503
        assert (
            r.json()["down"] == ["dep"]
            and "ConnectionRefusedError" in r.json()["checks"]["dep"]["error"]
        )
        clean_env.setenv("READY_IGNORE", "dep")
        assert c.get("/ready").status_code == 200
        assert c.get("/boom").status_code == 500
        text = c.get("/metrics").text
        assert 'http_requests_total{method="GET",route="/boom",status="500"} 1.0' in text
        assert 'sutazai_dependency_up{dependency="dep"} 0.0' in text


API_DOCS = ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


@pytest.mark.parametrize("environment", [None, "prod", "PROD", "Dev", " dev-x", "staging"])
def test_api_docs_are_hidden_outside_dev(
    clean_env: pytest.MonkeyPatch, environment: str | None
) -> None:
    if environment is not None:
        clean_env.setenv("SUTAZAI_ENVIRONMENT", environment)
    app = build_app("unit")
    with TestClient(app) as c:
        for path in API_DOCS:
            assert c.get(path).status_code == 404, path
        # Other spellings of the same paths reach nothing either.
        for path in ("/openapi.json?x=1", "/docs/", "/%6Fpenapi.json", "//openapi.json"):
            r = c.get(path, follow_redirects=True)
            assert r.status_code == 404 and "openapi" not in r.text, path
        assert c.get("/health").status_code == 200


def test_api_docs_are_served_in_dev(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SUTAZAI_ENVIRONMENT", "dev")
    with TestClient(build_app("unit")) as c:
        assert c.get("/openapi.json").json()["info"]["title"] == "SutazAI unit"
        assert c.get("/docs").status_code == 200


@pytest.mark.postgres
def test_postgres_credentials_rotate_without_restart(
    clean_env: pytest.MonkeyPatch, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    user = tmp_path / "user"
    pw.write_text(postgres_server.password)
    user.write_text(postgres_server.user)
    for k, v in {
        **postgres_server.env(),
        "POSTGRES_PASSWORD_FILE": str(pw),
        "POSTGRES_USER_FILE": str(user),
    }.items():
        clean_env.setenv(k, v)

    async def scenario() -> None:
        settings = PostgresSettings.from_env()
        assert settings is not None
        pool = postgres_pool(settings, min_size=0, max_size=2)
        await pool.open()
        try:
            async with pool.connection() as conn:
                await conn.execute("CREATE ROLE rotated LOGIN PASSWORD 'second'")
                await conn.execute("GRANT pg_read_all_data TO rotated")
            # Vault renders a new user/password pair; the next connection uses it.
            user.write_text("rotated")
            pw.write_text("second\n")
            await pool.check()  # drops idle connections that fail the check
            async with pool.connection() as conn:
                await conn.close()  # force the pool to open a fresh one
            async with pool.connection() as conn:
                row = await (await conn.execute("SELECT current_user")).fetchone()
                assert row == ("rotated",)
        finally:
            await pool.close()

    asyncio.run(scenario())


@pytest.mark.redis
def test_redis_acl_user_and_password_from_files(
    clean_env: pytest.MonkeyPatch, redis_server: RedisServer, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text(redis_server.password_file.read_text())
    for k, v in {**redis_server.env(), "REDIS_PASSWORD_FILE": str(pw)}.items():
        clean_env.setenv(k, v)

    async def scenario() -> None:
        settings = RedisSettings.from_env()
        assert settings is not None
        admin = redis_client(settings)
        await admin.execute_command("ACL", "SETUSER", "backend", "on", ">acl-pw", "~*", "+@all")
        await admin.aclose()
        user = tmp_path / "user"
        user.write_text("backend\n")
        pw.write_text("acl-pw\n")
        clean_env.setenv("REDIS_USERNAME_FILE", str(user))
        client = redis_client(settings)
        try:
            assert await client.execute_command("ACL", "WHOAMI") == "backend"
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_tracing_exports_spans_and_propagates_context(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream
) -> None:
    import httpx

    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", fake_upstream.url)
    clean_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    app = build_app("traced")

    @app.get("/hop")
    async def hop() -> dict[str, int]:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{fake_upstream.url}/health")
        return {"status": r.status_code}

    with TestClient(app) as c:
        assert c.get("/hop").json() == {"status": 200}
    # The downstream call carried the W3C trace context; spans reached the collector.
    assert "traceparent" in fake_upstream.headers[0]
    assert fake_upstream.count("POST", "/v1/traces") >= 1


def test_qdrant_api_key_file_preferred_reread_and_only_for_qdrant(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("QDRANT_URL", "http://qdrant:6333")
    clean_env.setenv("OLLAMA_BASE_URL", "http://ollama:11434")
    assert http_dependencies()["qdrant"].auth_headers() == {}  # no key: no header
    clean_env.setenv("QDRANT_API_KEY", "from-env")
    assert http_dependencies()["qdrant"].auth_headers() == {"api-key": "from-env"}
    key = tmp_path / "key"
    key.write_text("from-file\n")
    clean_env.setenv("QDRANT_API_KEY_FILE", str(key))
    qdrant = http_dependencies()["qdrant"]
    assert qdrant.auth_headers() == {"api-key": "from-file"}
    key.write_text("rotated\n")
    assert qdrant.auth_headers() == {"api-key": "rotated"}  # re-read on each use
    assert "rotated" not in repr(qdrant)  # the key is never held, so never logged
    assert http_dependencies()["ollama"].auth_headers() == {}  # goes to Qdrant only
    key.unlink()
    with pytest.raises(ConfigError, match="QDRANT_API_KEY_FILE") as err:
        qdrant.auth_headers()
    assert "rotated" not in str(err.value)


def test_qdrant_api_key_header_reaches_qdrant_and_probe_needs_none(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    import httpx
    from sutazai_common.checks import http_check

    fake_upstream.api_key = "qk-1"
    key = tmp_path / "key"
    key.write_text("qk-1\n")
    clean_env.setenv("QDRANT_URL", fake_upstream.url)
    clean_env.setenv("QDRANT_API_KEY_FILE", str(key))
    qdrant = http_dependencies("QDRANT_URL")["qdrant"]

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            assert (await client.get(qdrant.url("/collections/c"))).status_code == 401
            with_key = await client.get(qdrant.url("/collections/c"), headers=qdrant.auth_headers())
            assert with_key.status_code == 404  # past the key check: no such collection
            await http_check(client, qdrant)()  # /readyz: open, no key sent
            fake_upstream.api_key = "qk-2"  # Vault rotates the key
            key.write_text("qk-2\n")
            rotated = await client.put(qdrant.url("/collections/c"), headers=qdrant.auth_headers())
            assert rotated.status_code == 200

    asyncio.run(scenario())
    assert fake_upstream.rejected == 1
    probe = fake_upstream.headers_to("/readyz")
    assert probe and all("api-key" not in h for h in probe)


def test_llm_metrics_read_ollama_timings_and_refuse_nonsense() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from sutazai_common.ai import LlmMetrics

    registry = CollectorRegistry()
    metrics = LlmMetrics(registry)
    ns = 1_000_000_000
    metrics.observe(
        "m",
        "ok",
        2.0,
        {"load_duration": ns // 2, "prompt_eval_duration": ns // 4, "eval_count": 50,
         "eval_duration": 2 * ns},
    )  # fmt: skip
    # Wrong types, negatives, booleans and missing fields never count as timings.
    for bad in (
        {"eval_count": "50", "eval_duration": 2 * ns},
        {"eval_count": -5, "eval_duration": 2 * ns},
        {"eval_count": True, "eval_duration": 2 * ns},
        {"eval_count": 5, "eval_duration": 0},
        {},
    ):
        metrics.observe("m", "ok", 1.0, bad)
    metrics.observe("not-installed", "error", 0.1)
    text = generate_latest(registry).decode()
    assert 'sutazai_llm_time_to_first_token_seconds_sum{model="m"} 0.75' in text
    assert 'sutazai_llm_time_to_first_token_seconds_count{model="m"} 1.0' in text
    assert 'sutazai_llm_generated_tokens_total{model="m"} 50.0' in text
    assert 'sutazai_llm_generation_seconds_total{model="m"} 2.0' in text
    assert 'sutazai_llm_request_duration_seconds_count{model="m",outcome="ok"} 6.0' in text
    assert "not-installed" not in text
    assert 'sutazai_llm_request_duration_seconds_count{model="other",outcome="error"} 1.0' in text
