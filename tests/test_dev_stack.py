"""The dev stack on local Docker: the real program, offline, with the real stack files.

Three plans run once per session, each in its own process (the mock runtime is global):
- `dev`: Pulumi.dev.yaml as committed (the core path only);
- `all`: the same file with every tier and service switched on and a GPU host;
- `toggles`: an ephemeral `dev-bob` stack that switches single services on and off against
  their tiers, to show that `services.<name>.enabled` wins and that edges to a disabled
  service simply disappear.
Every assertion derives what it expects from the catalog and the stack file, not from the
renderer's own helper functions.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from components.configs.observability import GELF_PORT
from components.docker.health import PROBE_TOOLS, Tool
from components.docker.issuer import CALLER_IDENTITY_DIR
from stacks.catalog import Catalog, Segment, ServiceSpec
from tests.docker_stacks import (
    BUILD,
    CONTAINER,
    EXPIRES,
    NETWORK,
    REMOTE_IMAGE,
    ROLE,
    SECRET_SIG,
    VOLUME,
    Stack,
    labels_of,
)

# ── the plans (tests/conftest.py runs each once per session) ────────────────────────────


@pytest.fixture(scope="session")
def dev(docker_dev: Stack) -> Stack:
    return docker_dev


@pytest.fixture(scope="session")
def everything(docker_everything: Stack) -> Stack:
    return docker_everything


@pytest.fixture(scope="session")
def toggles(docker_toggles: Stack) -> Stack:
    return docker_toggles


ALL_STACKS = ["dev", "everything", "toggles"]


@pytest.fixture(params=ALL_STACKS)
def stack(request: pytest.FixtureRequest) -> Stack:
    return request.getfixturevalue(request.param)


# ── which services run ──────────────────────────────────────────────────────────────────


def test_dev_runs_the_core_path_only(dev: Stack) -> None:
    assert set(dev.services) == {"postgres", "redis", "backend", "frontend", "ollama", "qdrant"}


def test_a_container_for_every_enabled_service_and_none_for_the_rest(stack: Stack) -> None:
    assert set(stack.services) == set(stack.catalog.services)


def test_everything_means_every_catalog_service(everything: Stack, catalog: Catalog) -> None:
    assert set(everything.services) == set(catalog.services)


def test_service_switches_win_over_tier_switches(toggles: Stack) -> None:
    assert "letta" in toggles.services and "prometheus" in toggles.services
    assert "qdrant" not in toggles.services
    assert not {"autogpt", "grafana", "mcp-server"} & set(toggles.services)


def test_edges_to_disabled_services_are_dropped(toggles: Stack, catalog: Catalog) -> None:
    assert "qdrant" in catalog["backend"].talks_to
    assert "qdrant" not in toggles.catalog["backend"].talks_to
    assert "qdrant" not in toggles.catalog.peers_of("backend")
    for name, inputs in toggles.services.items():
        assert "qdrant" not in str(inputs.get("envs", [])), name
    # letta is on although its tier is off; its peers (backend, ollama, postgres, redis) run.
    assert set(toggles.catalog.peers_of("letta")) <= set(toggles.services)


# ── hardening ───────────────────────────────────────────────────────────────────────────


def test_every_service_container_is_hardened(stack: Stack) -> None:
    for name, inputs in stack.services.items():
        spec = stack.catalog[name]
        user = inputs["user"]
        assert re.fullmatch(r"[0-9]+:[0-9]+", user), f"{name}: user {user!r} is not numeric"
        uid, gid = (int(x) for x in user.split(":"))
        assert uid > 0 and gid > 0, f"{name} runs as root"
        assert (uid, gid) == (spec.uid, spec.gid)
        assert inputs["readOnly"] is True, name
        assert inputs["capabilities"] == {"drops": ["ALL"]}, name
        assert "no-new-privileges:true" in inputs["securityOpts"], name
        assert not inputs.get("privileged"), name
        assert inputs["restart"] == "unless-stopped", name
        assert inputs["memory"] > 0 and inputs["memorySwap"] == inputs["memory"], name
        assert float(inputs["cpus"]) > 0 and inputs["cpuShares"] >= 2, name
        assert inputs.get("networkMode") in (None, "bridge"), name
        assert "/var/run/docker.sock" not in str(inputs), name


def test_memory_limits_come_from_the_catalog(dev: Stack) -> None:
    # Pulumi.dev.yaml sizes postgres down (memoryLimit 512Mi) and ollama (6Gi).
    assert dev.services["postgres"]["memory"] == 512
    assert dev.services["ollama"]["memory"] == 6 * 1024
    assert dev.services["backend"]["memory"] == 1024
    assert dev.services["backend"]["cpus"] == "1"
    assert dev.services["frontend"]["cpus"] == "0.5"
    assert dev.services["backend"]["cpuShares"] == 256  # 250m


def test_tmpfs_is_exactly_the_writable_paths_and_owned_by_the_user(stack: Stack) -> None:
    for name, inputs in stack.services.items():
        spec = stack.catalog[name]
        tmpfs = inputs.get("tmpfs", {})
        assert set(tmpfs) == set(spec.writable_paths), name
        for path, options in tmpfs.items():
            opts = options.split(",")
            assert f"uid={spec.uid}" in opts and f"gid={spec.gid}" in opts, (name, path)
            assert "noexec" in opts and "nosuid" in opts, (name, path)


def test_every_service_has_a_healthcheck_unless_its_image_has_nothing_to_run(
    stack: Stack,
) -> None:
    toolless = {r for r, t in PROBE_TOOLS.items() if t.tool is Tool.NONE}
    for name, inputs in stack.services.items():
        spec = stack.catalog[name]
        if spec.image is not None and spec.image.repository in toolless:
            assert "healthcheck" not in inputs and inputs["wait"] is False, name
            continue
        check = inputs.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["tests"][0] in ("CMD", "CMD-SHELL"), name
        assert check["retries"] > 0 and inputs["wait"] is True, name
        assert check["startPeriod"] == f"{max(spec.health.startup_seconds, 10)}s", name


def test_in_house_images_are_probed_with_python(stack: Stack) -> None:
    for name, inputs in stack.services.items():
        if stack.catalog[name].in_house:
            assert inputs["healthcheck"]["tests"][:3] == ["CMD", "python3", "-c"], name


# ── networks ────────────────────────────────────────────────────────────────────────────


def expected_segments(spec: ServiceSpec, catalog: Catalog) -> set[Segment]:
    """Own segment + the segment of every network-edge target (+ scrape targets)."""
    expected = {spec.segment}
    expected |= {catalog[e.target].segment for e in catalog.network_edges if e.source == spec.name}
    if spec.name == "prometheus":
        expected |= {s.segment for s in catalog.scrape_targets}
    return expected


def test_one_network_per_segment_named_for_the_stack(stack: Stack) -> None:
    names = stack.network_names()
    assert set(names) == set(Segment)
    for segment, name in names.items():
        assert name == f"{stack.prefix}-{segment.value}"


def test_only_the_data_network_is_internal(stack: Stack) -> None:
    internal = {
        labels_of(r)["ai.sutazai.segment"]: r["inputs"].get("internal", False)
        for r in stack.of_type(NETWORK)
    }
    assert internal == {"data": True, "application": False, "management": False}


def test_containers_join_exactly_their_own_and_their_peers_networks(stack: Stack) -> None:
    by_name = {v: k for k, v in stack.network_names().items()}
    for name, inputs in stack.services.items():
        joined = {by_name[n["name"]] for n in inputs["networksAdvanced"]}
        assert joined == expected_segments(stack.catalog[name], stack.catalog), name


def test_every_network_edge_shares_a_network(stack: Stack) -> None:
    networks = {
        name: {n["name"] for n in inputs["networksAdvanced"]}
        for name, inputs in stack.services.items()
    }
    for edge in stack.catalog.network_edges:
        assert networks[edge.source] & networks[edge.target], (edge.source, edge.target)


def test_the_frontend_cannot_reach_the_data_network(dev: Stack) -> None:
    names = {n["name"] for n in dev.services["frontend"]["networksAdvanced"]}
    assert names == {"sutazai-dev-application"}
    backend = {n["name"] for n in dev.services["backend"]["networksAdvanced"]}
    assert "sutazai-dev-data" in backend


# ── ports, env, secrets, files ──────────────────────────────────────────────────────────


def test_only_ingress_services_publish_ports_and_only_on_loopback(stack: Stack) -> None:
    """Ingress services publish their ports; the log receiver (Alloy) its gelf UDP port, for
    the engine's log driver; nothing else publishes anything, and only on 127.0.0.1."""
    for name, inputs in stack.services.items():
        ports = inputs.get("ports", [])
        assert all(p["ip"] == "127.0.0.1" and p["external"] >= 1024 for p in ports), name
        tcp = [p for p in ports if p["protocol"] == "tcp"]
        udp = [p for p in ports if p["protocol"] == "udp"]
        if stack.catalog[name].ingress:
            assert tcp, name
        else:
            assert not tcp, f"{name} publishes {tcp}"
        if name == "alloy" and "loki" in stack.catalog.services:
            assert [(p["internal"], p["external"]) for p in udp] == [
                (GELF_PORT, stack.log_receiver_port)
            ]
        else:
            assert not udp, f"{name} publishes {udp}"


def test_dev_urls_are_exported_and_nothing_secret(dev: Stack) -> None:
    outputs = dev.plan["outputs"]
    assert outputs["urls"] == {
        "backend": "http://127.0.0.1:18000",
        "frontend": "http://127.0.0.1:18001",
    }
    assert SECRET_SIG not in str(outputs)


def test_ephemeral_stacks_get_other_host_ports_and_names(dev: Stack, toggles: Stack) -> None:
    assert set(toggles.plan["outputs"]["urls"].values()).isdisjoint(
        dev.plan["outputs"]["urls"].values()
    )
    for inputs in toggles.of_type(CONTAINER) + toggles.of_type(VOLUME):
        assert inputs["inputs"]["name"].startswith("sutazai-dev-bob-"), inputs["name"]
    labels = labels_of(toggles.of_type(NETWORK)[0])
    assert labels["ai.sutazai.ephemeral-owner"] == "bob"
    assert labels["ai.sutazai.expires-at"] == EXPIRES


def test_secrets_are_files_whose_content_is_secret_in_state(stack: Stack) -> None:
    for name, inputs in stack.services.items():
        spec = stack.catalog[name]
        envs = dict(e.split("=", 1) for e in inputs.get("envs", []))
        uploads = {u["file"]: u for u in inputs.get("uploads", [])}
        for secret in spec.secrets:
            assert secret.env not in envs, f"{name}: {secret.env} as a plain env var"
            if secret.env_from_file:
                # Exported from the env file the container sources (tests/test_integration.py).
                path = f"/vault/secrets/{name}-env"
                assert f"{secret.env}_FILE" not in envs
            else:
                path = envs[secret.file_env or f"{secret.env}_FILE"]
            assert path.startswith("/vault/secrets/"), (name, path)
            upload = uploads[path]
            assert SECRET_SIG in upload["content"], f"{name}: {path} is not a secret"
            assert upload["permissions"] == "0440" and upload["owner"] == "0"
        for env in inputs.get("envs", []):
            assert "mock-random" not in env, f"{name}: a secret value in env"


def test_uploaded_files_land_on_a_volume_because_the_root_is_read_only(stack: Stack) -> None:
    for name, inputs in stack.services.items():
        mounts = [v["containerPath"] for v in inputs.get("volumes", [])]
        for upload in inputs.get("uploads", []):
            assert any(upload["file"].startswith(m.rstrip("/") + "/") for m in mounts), (
                name,
                upload["file"],
            )


def test_secret_files_get_a_volume_per_set_of_files(stack: Stack) -> None:
    """Secrets on Docker sit on a named volume (the host's disk): its name carries a digest
    of the file paths, so a removed secret's file does not outlive the set it belonged to."""
    for name, inputs in stack.services.items():
        files = sorted(
            u["file"] for u in inputs.get("uploads", []) if "/vault/secrets/" in u["file"]
        )
        mounts = [v for v in inputs.get("volumes", []) if v["containerPath"] == "/vault/secrets"]
        if not files:
            assert not mounts, name
            continue
        digest = hashlib.sha256("\n".join(files).encode()).hexdigest()[:8]
        assert mounts == [
            {
                "volumeName": f"{stack.prefix}-{name}-secrets-{digest}",
                "containerPath": "/vault/secrets",
            }
        ], name


def test_storage_is_a_named_volume_of_the_stack(stack: Stack) -> None:
    volumes = {r["inputs"]["name"] for r in stack.of_type(VOLUME)}
    for name, inputs in stack.services.items():
        spec = stack.catalog[name]
        data = [
            v
            for v in inputs.get("volumes", [])
            if v["containerPath"] not in {"/vault/secrets", CALLER_IDENTITY_DIR}
            and "-config-" not in v["volumeName"]
        ]
        if spec.storage is None:
            assert not data, name
            continue
        assert data == [
            {"volumeName": f"{stack.prefix}-{name}-data", "containerPath": spec.storage.path}
        ]
        assert f"{stack.prefix}-{name}-data" in volumes
    for r in stack.of_type(VOLUME):
        assert not r["retain_on_delete"] and not r["protect"], "dev volumes are disposable"


def test_images_are_pinned_upstream_or_local_in_house(stack: Stack) -> None:
    for name in stack.services:
        spec = stack.catalog[name]
        image = next(
            r for r in stack.of_type(REMOTE_IMAGE) if r["name"] == f"{stack.prefix}-{name}-image"
        )
        reference = image["inputs"]["name"]
        assert image["inputs"]["keepLocally"] is True
        if spec.image is not None:
            assert reference == spec.image.reference
        else:
            assert in_house_reference(stack, name).fullmatch(reference), reference
    builds = [r for r in stack.plan["resources"] if r["type"] == BUILD]
    assert builds and all(b["inputs"]["push"] is False for b in builds)


def in_house_reference(stack: Stack, name: str) -> re.Pattern[str]:
    """localhost/sutazai/<stack>/<image>:<imageTag>-<12 hex digits of content>."""
    tag = re.escape(stack.config.image_tag)
    return re.compile(rf"localhost/sutazai/{re.escape(stack.stack)}/{name}:{tag}-[0-9a-f]{{12}}")


def test_in_house_images_build_from_relative_contexts_on_their_parents_tag(
    stack: Stack,
) -> None:
    builds = {
        r["name"].removeprefix(f"{stack.prefix}-images-"): r
        for r in stack.of_type(BUILD)
        if r["name"].startswith(f"{stack.prefix}-images-")
    }
    assert {b["inputs"]["context"]["location"] for b in stack.of_type(BUILD)} <= {
        *(f"service-code/{s.build.path}" for s in stack.catalog if s.build),
        *(f"service-code/{b.path}" for b in stack.catalog.base_images),
        "components/docker/owner-context",
    }, "every build context is relative to the project"
    tags = {name: b["inputs"]["tags"][0] for name, b in builds.items()}
    for name, build in builds.items():
        inputs = build["inputs"]
        spec = stack.catalog.services.get(name)
        path = spec.build.path if spec is not None and spec.build else f"base/{name}"
        assert inputs["context"]["location"] == f"service-code/{path}", name
        assert inputs["dockerfile"]["location"] == f"service-code/{path}/Dockerfile", name
        assert in_house_reference(stack, name).fullmatch(tags[name]), tags[name]
        parent = spec.build.base if spec is not None and spec.build else None
        if spec is None:
            parent = next(b.parent for b in stack.catalog.base_images if b.name == name)
        if parent in (None, "root"):
            assert inputs["buildArgs"]["BASE_IMAGE"] == stack.catalog.root_base_image.reference
        else:
            # Locally by its content tag: a changed base is a new tag, so children rebuild.
            assert inputs["buildArgs"]["BASE_IMAGE"] == tags[parent], name


def test_containers_run_the_image_they_resolve(stack: Stack) -> None:
    # The offline plan's mock imageId is the sha256 of the image reference.
    by_id = {
        f"sha256:{hashlib.sha256(r['inputs']['name'].encode()).hexdigest()}": r["inputs"]["name"]
        for r in stack.of_type(REMOTE_IMAGE)
    }
    for name, inputs in stack.services.items():
        spec = stack.catalog[name]
        if spec.image:
            assert by_id[inputs["image"]] == spec.image.reference, name
        else:
            assert in_house_reference(stack, name).fullmatch(by_id[inputs["image"]]), name


# ── helpers: volume ownership and model preload ─────────────────────────────────────────


def test_no_container_of_the_stack_runs_as_root(stack: Stack) -> None:
    for r in stack.of_type(CONTAINER):
        uid = int(r["inputs"]["user"].split(":")[0])
        assert uid > 0, r["name"]
        assert r["inputs"]["capabilities"] == {"drops": ["ALL"]}, r["name"]
        assert r["inputs"]["readOnly"] is True, r["name"]
        assert "no-new-privileges:true" in r["inputs"]["securityOpts"], r["name"]
        assert r["inputs"]["memory"] > 0, r["name"]


def test_data_volumes_are_handed_to_the_service_user_before_it_starts(stack: Stack) -> None:
    inits = {
        labels_of(r)["ai.sutazai.service"]: r
        for r in stack.of_type(CONTAINER)
        if labels_of(r).get(ROLE) == "volume-init"
    }
    assert set(inits) == {s.name for s in stack.catalog if s.storage is not None}
    builds = {r["name"]: r for r in stack.plan["resources"] if r["type"] == BUILD}
    owner_build = builds[f"{stack.prefix}-volume-owner"]
    dockerfile = owner_build["inputs"]["dockerfile"]["inline"]
    assert owner_build["inputs"]["push"] is False and owner_build["inputs"]["load"] is True
    for name, init in inits.items():
        spec = stack.catalog[name]
        inputs = init["inputs"]
        owner_dir = f"/owners/{spec.uid}-{spec.gid}"
        assert f"install -d -o {spec.uid} -g {spec.gid} -m 0750 {owner_dir}" in dockerfile
        assert inputs["user"] == f"{spec.uid}:{spec.gid}"
        assert inputs["networkMode"] == "none" and inputs["entrypoints"] == ["true"]
        assert inputs["volumes"] == [
            {"volumeName": f"{stack.prefix}-{name}-data", "containerPath": owner_dir}
        ]
        assert inputs["mustRun"] is False and inputs["attach"] is True
        service = next(r for r in stack.of_type(CONTAINER) if r["name"] == f"{stack.prefix}-{name}")
        assert init["urn"] in service["dependencies"], name


def test_ollama_runs_on_cpu_in_dev_and_preloads_the_small_model(dev: Stack) -> None:
    assert "gpus" not in dev.services["ollama"]
    pulls = dev.containers("model-preload")
    assert set(pulls) == {"tinyllama"}
    pull = pulls["tinyllama"]
    assert pull["command"] == ["pull", "tinyllama"]
    assert "OLLAMA_HOST=http://sutazai-dev-ollama:11434" in pull["envs"]
    assert pull["user"] == "10001:10001" and pull["readOnly"] is True
    assert pull["capabilities"] == {"drops": ["ALL"]}
    assert pull["mustRun"] is False and pull["attach"] is True


def test_ollama_gets_the_gpu_when_the_host_has_one(everything: Stack) -> None:
    assert everything.services["ollama"]["gpus"] == "all"
    assert set(everything.containers("model-preload")) == {"tinyllama", "llama3.1:8b"}


def test_preload_waits_for_a_healthy_server(dev: Stack) -> None:
    pull = next(r for r in dev.of_type(CONTAINER) if labels_of(r).get(ROLE) == "model-preload")
    server = next(r for r in dev.of_type(CONTAINER) if r["name"] == "sutazai-dev-ollama")
    assert server["urn"] in pull["dependencies"]
    assert server["inputs"]["wait"] is True
