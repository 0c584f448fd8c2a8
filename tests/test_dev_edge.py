"""The edge on Docker stacks, in the offline dev plans: the stack's dev issuer is wired, the
backend trusts exactly it, and every caller of the API gets a token volume of its own, the
way pods get projected tokens (the issuer's code itself is tested against the real backend
in service-code/backend/tests/test_dev_issuer.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.docker.issuer import CALLER_IDENTITY_DIR, ISSUER_HOST_PORT_BASE, ISSUER_PORT
from components.platform import workload_token_apis
from tests.conftest import load_plan
from tests.docker_stacks import CONTAINER, VOLUME, Stack, env_of, labels_of, write_stack_file

ISSUER_ROLE = "dev-issuer"


def issuer_of(stack: Stack) -> dict[str, Any]:
    [found] = [
        r["inputs"]
        for r in stack.of_type(CONTAINER)
        if labels_of(r).get("ai.sutazai.role") == ISSUER_ROLE
    ]
    return found


def backend_issuers(stack: Stack) -> dict[str, dict[str, Any]]:
    env = env_of(stack.services["backend"])
    entries = json.loads(env["AUTH_ISSUERS"])
    by_kind = {e["kind"]: e for e in entries}
    assert len(by_kind) == len(entries), "one entry per kind"
    return by_kind


def test_dev_authenticates_against_its_own_issuer(docker_dev: Stack) -> None:
    env = env_of(docker_dev.services["backend"])
    assert "AUTH_DISABLED" not in env and env["SUTAZAI_ENVIRONMENT"] == "dev"
    issuer = issuer_of(docker_dev)
    issuer_env = env_of(issuer)
    url = issuer_env["DEV_ISSUER_URL"]
    assert url == f"http://{docker_dev.prefix}-dev-issuer:{ISSUER_PORT}"
    entries = backend_issuers(docker_dev)
    assert set(entries) == {"oidc", "kubernetes"}  # users, and workloads
    users, workloads = entries["oidc"], entries["kubernetes"]
    assert users["issuer"] == url and users["jwks_url"] == f"{url}/jwks"
    assert users["audiences"] == [issuer_env["DEV_USER_AUDIENCE"]]
    assert workloads["issuer"] == f"{url}/workloads"
    assert workloads["jwks_url"] == f"{url}/workloads/jwks"
    # Users' and workloads' audiences never overlap; both are this stack's.
    assert not set(users["audiences"]) & set(workloads["audiences"])
    assert all(a.startswith(docker_dev.prefix) for a in users["audiences"] + workloads["audiences"])
    # Where a developer signs in (the stack output), on the published loopback port.
    assert (
        docker_dev.plan["outputs"]["devIssuer"] == f"http://127.0.0.1:{ISSUER_HOST_PORT_BASE}/login"
    )
    # The browser UI signs developers in there (its /dev-login); nothing else gets the URL.
    logins = {n: env_of(i).get("DEV_LOGIN_URL") for n, i in docker_dev.services.items()}
    assert {n: u for n, u in logins.items() if u} == {"frontend": f"{url}/login"}
    # It runs the backend's own image (it ships app.dev_issuer).
    assert issuer["command"][:4] == ["python", "-m", "uvicorn", "app.dev_issuer:app"]


def test_the_issuer_is_hardened_and_private(docker_dev: Stack) -> None:
    issuer = issuer_of(docker_dev)
    assert issuer["user"] == "10001:10001" and issuer["readOnly"] is True
    assert issuer["capabilities"] == {"drops": ["ALL"]}
    assert issuer["securityOpts"] == ["no-new-privileges:true"]
    assert issuer["memory"] and issuer["memorySwap"] == issuer["memory"] and issuer["init"]
    assert set(issuer["tmpfs"]) == {"/tmp"} and issuer["healthcheck"]["tests"]
    # Published on the host's loopback alone, at dev's port plus the stack's offset.
    assert issuer["ports"] == [
        {
            "internal": ISSUER_PORT,
            "external": ISSUER_HOST_PORT_BASE,
            "ip": "127.0.0.1",
            "protocol": "tcp",
        }
    ]
    # Only on the API's own network: the backend reads the JWKS, nobody else needs it.
    backend_segment = docker_dev.catalog["backend"].segment
    assert [n["name"] for n in issuer["networksAdvanced"]] == [
        docker_dev.network_names()[backend_segment]
    ]


def test_every_api_caller_gets_its_own_token_volume(docker_everything: Stack) -> None:
    stack = docker_everything
    issuer = issuer_of(stack)
    workloads = json.loads(env_of(issuer)["DEV_WORKLOADS"])
    [audience] = backend_issuers(stack)["kubernetes"]["audiences"]
    callers = {
        s.name
        for s in stack.catalog
        if any(a.name == "backend" for a in workload_token_apis(stack.catalog, s))
    }
    assert {"autogpt", "crewai", "mcp-server"} <= callers
    assert set(workloads) == callers
    volumes = {r["inputs"]["name"]: r["inputs"] for r in stack.of_type(VOLUME)}
    issuer_mounts = {v["containerPath"]: v for v in issuer["volumes"]}
    for name in callers:
        assert workloads[name] == {
            "namespace": stack.prefix,
            "audiences": {"backend-token": audience},
        }
        inputs = stack.services[name]
        own = f"{stack.prefix}-{name}-identity"
        [mount] = [v for v in inputs["volumes"] if v["containerPath"] == CALLER_IDENTITY_DIR]
        assert mount == {"volumeName": own, "containerPath": CALLER_IDENTITY_DIR, "readOnly": True}
        assert env_of(inputs)["BACKEND_TOKEN_FILE"] == f"{CALLER_IDENTITY_DIR}/backend-token"
        # In memory, writable by the issuer's user only.
        options = volumes[own]["driverOpts"]
        assert options["type"] == "tmpfs" and "uid=10001" in options["o"]
        assert "mode=0755" in options["o"] and "noexec" in options["o"]
        assert issuer_mounts[f"/var/run/sutazai-identity/{name}"]["volumeName"] == own
    # Nobody else mounts a token volume: not the UI (it forwards users' tokens), not the API.
    for name, inputs in stack.services.items():
        mounted = {v["volumeName"] for v in inputs.get("volumes", [])}
        tokens = {v for v in mounted if v.endswith("-identity")}
        assert tokens == ({f"{stack.prefix}-{name}-identity"} if name in callers else set()), name
        if name not in callers:
            assert "BACKEND_TOKEN_FILE" not in env_of(inputs), name


@pytest.fixture(scope="module")
def auth_off(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    folder: Path = tmp_path_factory.mktemp("plan-auth-off")
    stack_file = write_stack_file(folder / "Pulumi.dev.yaml", edge={"authentication": "off"})
    return Stack(load_plan("dev", folder, stack_file), "dev", stack_file)


def test_switching_authentication_off_removes_the_issuer(auth_off: Stack) -> None:
    env = env_of(auth_off.services["backend"])
    assert env["AUTH_DISABLED"] == "true" and json.loads(env["AUTH_ISSUERS"]) == []
    assert "DEV_LOGIN_URL" not in env_of(auth_off.services["frontend"])
    assert not [
        r for r in auth_off.of_type(CONTAINER) if labels_of(r).get("ai.sutazai.role") == ISSUER_ROLE
    ]
    assert not [r for r in auth_off.of_type(VOLUME) if r["inputs"]["name"].endswith("-identity")]
