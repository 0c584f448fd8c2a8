"""The real program for the real stack files, each in a fresh process (the mock runtime is
process-global), with the plan JSON written to this session's tmp dir.

dev runs twice: as committed, before the Vault bootstrap (vaultBootstrapped: false: secrets
go straight to the containers, whether VAULT_TOKEN is set or not), and after it
(vaultBootstrapped: true with a VAULT_TOKEN: Vault resources registered too). Bootstrapped
without a token, the program stops: the environment never changes the resource set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.managed_data import provisioned_by_job
from components.vault.layout import VaultLayout
from stacks.catalog import load_catalog
from stacks.composition import effective_catalog
from tests.conftest import OFFLINE_VAULT_TOKEN, run_plan_subprocess
from tests.docker_stacks import write_stack_file
from tests.secrets import fakes
from tests.secrets.scan import (
    assert_no_plaintext_secrets,
    generated_values,
    is_secret_envelope,
)
from tests.secrets.vault_policy import parse_policy, path_matches

NO_TOKEN: dict[str, str | None] = {"VAULT_TOKEN": None, "HOME": "/nonexistent-home-for-tests"}
TOKEN: dict[str, str | None] = {"VAULT_TOKEN": "dev-root-token-from-env"}
# label -> (stack, environment, vaultBootstrapped override or None for the committed file)
RUNS: dict[str, tuple[str, dict[str, str | None], bool | None]] = {
    "prod": ("prod", NO_TOKEN, None),
    "dev": ("dev", NO_TOKEN, None),
    "dev-with-token": ("dev", TOKEN, None),
    "dev-bootstrapped": ("dev", TOKEN, True),
}
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")


@pytest.fixture(scope="session")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out_dir = tmp_path_factory.mktemp("secrets-plans")
    result: dict[str, dict[str, Any]] = {}
    for label, (stack, env, bootstrapped) in RUNS.items():
        out = out_dir / f"plan-{label}.json"
        stack_file = None
        if bootstrapped is not None:
            stack_file = write_stack_file(
                out_dir / f"Pulumi.{label}.yaml", vaultBootstrapped=bootstrapped
            )
        done = run_plan_subprocess(stack, out, stack_file, env=env)
        if done.returncode != 0:
            pytest.fail(
                f"offline plan {label} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
            )
        result[label] = json.loads(Path(out).read_text())
    return result


def layout_for(stack: str) -> VaultLayout:
    config = fakes.stack_config(stack)
    return VaultLayout(config, effective_catalog(load_catalog(), config), stack)


def of_type(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


@pytest.mark.parametrize("label", list(RUNS))
def test_no_secret_in_plain_text_anywhere(plans: dict[str, dict[str, Any]], label: str) -> None:
    plan = plans[label]
    assert generated_values(plan), "the stack generates secrets"
    assert_no_plaintext_secrets(
        plan, extra_needles=["dev-root-token-from-env", OFFLINE_VAULT_TOKEN]
    )


@pytest.mark.parametrize("label", ["prod", "dev-bootstrapped"])
def test_each_service_with_secrets_has_a_policy_over_exactly_its_paths(
    plans: dict[str, dict[str, Any]], label: str
) -> None:
    stack = RUNS[label][0]
    layout = layout_for(stack)
    policies = {
        r["inputs"]["name"]: r["inputs"]["policy"]
        for r in of_type(plans[label], "vault:index/policy:Policy")
    }
    wanted = {
        layout.policy_name(s.name): set(layout.policy_paths(s))
        for s in layout.services_with_secrets()
    }
    assert set(policies) == set(wanted)
    # Another service's own key a service presents to it (Qdrant's API key): read on purpose.
    shared = {
        layout.policy_name(s.name): {
            layout.kv_api_path(x.kv_name) for x in layout.shared_secrets(s)
        }
        for s in layout.services_with_secrets()
    }
    every_path = {p: name for name, paths in wanted.items() for p in paths if p not in shared[name]}
    for name, document in policies.items():
        grants = parse_policy(document)
        assert set(grants) == wanted[name]
        for pattern in grants:
            for path, owner in every_path.items():
                if owner != name and path not in shared[name]:
                    assert not path_matches(pattern, path), f"{name} grants {owner}'s {path}"
    stored = {
        f"{layout.kv_mount}/data/{r['inputs']['name']}"
        for r in of_type(plans[label], "vault:kv/secretV2:SecretV2")
    }
    # Alert receivers' secrets are written by an operator: read, never stored by the program.
    operator = {
        layout.kv_api_path(o.kv_name) for s in layout.catalog for o in layout.operator_secrets(s)
    }
    assert not operator & stored
    kv_paths = {p for p in every_path if "/data/" in p} - operator
    assert kv_paths <= stored, sorted(kv_paths - stored)


def test_prod_roles_match_the_rendered_workloads(plans: dict[str, dict[str, Any]]) -> None:
    """Each injected pod logs in as a role bound to that pod's own ServiceAccount+namespace."""
    plan = plans["prod"]
    layout = layout_for("prod")
    roles = {
        r["inputs"]["roleName"]: r["inputs"]
        for r in of_type(plan, "vault:kubernetes/authBackendRole:AuthBackendRole")
    }
    # A managed service with no pods in the cluster (ElastiCache) gets no role: it would
    # bind a ServiceAccount that does not exist. RDS keeps one for its provisioning Job.
    in_cluster = {
        s.name
        for s in layout.services_with_secrets()
        if s.managed_in_prod is None or provisioned_by_job(s)
    }
    assert set(roles) == in_cluster
    assert "redis" not in roles and "postgres" in roles
    injected = 0
    for workload in (r for t in WORKLOADS for r in of_type(plan, t)):
        template = workload["inputs"]["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        role = annotations.get("vault.hashicorp.com/role")
        if role is None:
            continue
        injected += 1
        bound = roles[role]
        assert bound["boundServiceAccountNames"] == [template["spec"]["serviceAccountName"]]
        assert bound["boundServiceAccountNamespaces"] == [
            workload["inputs"]["metadata"]["namespace"]
        ]
        assert bound["tokenPolicies"] == [layout.policy_name(role)]
        for key, value in annotations.items():
            if key.startswith("vault.hashicorp.com/agent-inject-secret-"):
                assert value in layout.policy_paths(layout.catalog[role])
        env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0].get("env", [])}
        for key, path in layout.file_env(layout.catalog[role]).items():
            assert env.get(key) == path, (role, key)
    # Services whose only Vault file is a provisioning file for a managed issuer (RDS,
    # ElastiCache) have no workload in prod.
    assert injected >= len(roles) - sum(
        1 for s in layout.services_with_secrets() if s.managed_in_prod is not None
    )


def test_prod_has_the_injector_and_no_vault_container(plans: dict[str, dict[str, Any]]) -> None:
    plan = plans["prod"]
    assert not of_type(plan, "docker:index/container:Container")
    (webhook,) = [
        w
        for w in of_type(
            plan, "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"
        )
        if "vault-injector" in w["name"]
    ]
    assert webhook["inputs"]["webhooks"][0]["failurePolicy"] == "Fail"
    (provider,) = of_type(plan, "pulumi:providers:vault")
    assert "token" not in provider["inputs"] and "authLoginAws" in provider["inputs"]
    (mount,) = [m for m in of_type(plan, "vault:index/mount:Mount") if m["inputs"]["type"] == "kv"]
    assert mount["inputs"]["path"] == "sutazai-prod" and mount["protect"]


def test_prod_dynamic_postgres_credentials_are_served(plans: dict[str, dict[str, Any]]) -> None:
    layout = layout_for("prod")
    assert layout.dynamic_credentials, "in-house clients get short-lived users in prod"
    roles = {
        r["inputs"]["name"]
        for r in of_type(plans["prod"], "vault:database/secretBackendRole:SecretBackendRole")
    }
    assert roles == {c.client for c in layout.dynamic_credentials}


def test_dev_delivers_files_to_containers_as_secrets(plans: dict[str, dict[str, Any]]) -> None:
    for label in ("dev", "dev-with-token", "dev-bootstrapped"):
        plan = plans[label]
        layout = layout_for("dev")
        containers = {
            r["inputs"]["name"]: r["inputs"]
            for r in of_type(plan, "docker:index/container:Container")
        }
        vault = containers.pop("sutazai-dev-vault")
        assert vault["command"] == ["server"] and vault["readOnly"] is True
        for spec in layout.services_with_secrets():
            container = containers[f"sutazai-dev-{spec.name}"]
            envs = [e for e in container.get("envs", []) if isinstance(e, str)]
            env = dict(e.split("=", 1) for e in envs)
            for key, value in layout.file_env(spec).items():
                assert env.get(key) == value, (spec.name, key)
            uploads = container.get("uploads", [])
            if is_secret_envelope(uploads):
                uploads = uploads["value"]
            files = {u["file"]: u for u in uploads}
            for file in layout.files(spec):
                assert is_secret_envelope(files[file.path]["content"]), file.path


def _registrations(plan: dict[str, Any]) -> dict[str, str]:
    """URN -> the registration, dependency order aside (registration order is async)."""
    return {
        r["urn"]: json.dumps({**r, "dependencies": sorted(r["dependencies"])}, sort_keys=True)
        for r in plan["resources"]
    }


def test_dev_registers_vault_only_after_bootstrap(plans: dict[str, dict[str, Any]]) -> None:
    for label in ("dev", "dev-with-token"):
        assert not [r for r in plans[label]["resources"] if r["type"].startswith("vault:")]
    assert _registrations(plans["dev"]) == _registrations(plans["dev-with-token"])
    stored = of_type(plans["dev-bootstrapped"], "vault:kv/secretV2:SecretV2")
    assert stored and all(is_secret_envelope(r["inputs"]["dataJson"]) for r in stored)


def test_a_bootstrapped_stack_without_a_token_stops_with_the_fix(tmp_path: Path) -> None:
    """One `up` without VAULT_TOKEN must not plan to delete the KV mount and every secret."""
    stack_file = write_stack_file(tmp_path / "Pulumi.dev.yaml", vaultBootstrapped=True)
    done = run_plan_subprocess("dev", tmp_path / "plan.json", stack_file, env=NO_TOKEN)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "sutazai:vaultBootstrapped: true" in output
    assert "VAULT_TOKEN is unset" in output and "export VAULT_TOKEN" in output
    assert not (tmp_path / "plan.json").exists()
