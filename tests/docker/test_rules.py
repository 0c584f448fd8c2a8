"""The Docker renderer's rules, one at a time, and its healthcheck commands run for real."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest

from components.docker import rules
from components.docker.health import (
    IN_HOUSE,
    PROBE_TOOLS,
    Tool,
    healthcheck_for,
    probe_command,
)
from stacks.catalog import Catalog, Probe, Segment, ServiceSpec

# ── quantities ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("quantity", "mb"),
    [
        ("512Mi", 512),
        ("1Gi", 1024),
        ("1536Mi", 1536),
        ("64Mi", 64),
        ("1536Ki", 2),
        ("1Ti", 1 << 20),
    ],
)
def test_memory_in_docker_megabytes(quantity: str, mb: int) -> None:
    assert rules.memory_mb(quantity) == mb


def test_memory_rejects_what_is_not_a_quantity() -> None:
    with pytest.raises(ValueError, match="512Mi"):
        rules.memory_mb("512MB")


@pytest.mark.parametrize(
    ("quantity", "cpus", "shares"),
    [("250m", "0.25", 256), ("1", "1", 1024), ("2", "2", 2048), ("500m", "0.5", 512),
     ("1.5", "1.5", 1536), ("1m", "0.001", 2)],
)  # fmt: skip
def test_cpu_as_nano_cpus_and_shares(quantity: str, cpus: str, shares: int) -> None:
    assert rules.docker_cpus(quantity) == cpus
    assert rules.cpu_shares(quantity) == shares


# ── tmpfs, networks, ports, file mounts ─────────────────────────────────────────────────


def test_tmpfs_is_owned_by_the_service_user(catalog: Catalog) -> None:
    neo4j = catalog["neo4j"]
    tmpfs = rules.tmpfs_for(neo4j)
    assert set(tmpfs) == set(neo4j.writable_paths)
    assert all("uid=7474" in o and "gid=7474" in o and "noexec" in o for o in tmpfs.values())


def test_network_segments_follow_the_edges(catalog: Catalog) -> None:
    assert rules.network_segments(catalog["frontend"], catalog) == [Segment.APPLICATION]
    assert rules.network_segments(catalog["backend"], catalog) == list(Segment)
    assert rules.network_segments(catalog["postgres"], catalog) == [Segment.DATA]
    # A server never joins its clients' segments: grafana reaches prometheus, not vice versa.
    assert rules.network_segments(catalog["alertmanager"], catalog) == [Segment.MANAGEMENT]


def test_the_scraper_reaches_every_scrape_target(catalog: Catalog) -> None:
    segments = set(rules.network_segments(catalog["prometheus"], catalog))
    assert {s.segment for s in catalog.scrape_targets} <= segments


def test_pooled_clients_join_the_poolers_segment(catalog: Catalog) -> None:
    # agentgpt talks to postgres, which pgbouncer pools: the edge goes to pgbouncer.
    assert "pgbouncer" in catalog.peers_of("agentgpt")
    assert "postgres" not in catalog.peers_of("agentgpt")


def test_host_ports_are_stable_per_stack_and_differ_between_stacks(catalog: Catalog) -> None:
    dev = rules.ingress_host_ports(catalog, "dev")
    assert dev == {("backend", "http"): 18000, ("frontend", "http"): 18001}
    bob = rules.ingress_host_ports(catalog, "dev-bob")
    assert bob == rules.ingress_host_ports(catalog, "dev-bob")
    assert set(bob.values()).isdisjoint(dev.values())
    assert all(1024 < p < 65536 for p in bob.values())


def test_secret_and_config_files_get_writable_mounts(catalog: Catalog) -> None:
    spec = catalog["prometheus"].model_copy(
        update={
            "config_files": {
                "/etc/prometheus/prometheus.yml": "x",
                "/etc/prometheus/rules/a.yml": "y",
                "/prometheus/extra.yml": "z",  # on the data volume already
            }
        }
    )
    mounts = rules.file_mounts(spec, ["/vault/secrets/prometheus-token"])
    assert [(m.path, m.purpose) for m in mounts] == [
        ("/vault/secrets", "secrets"),
        ("/etc/prometheus", "config"),
    ]
    assert [m.volume_suffix for m in mounts] == ["secrets", "config-etc-prometheus"]


def test_a_config_file_under_a_tmpfs_is_refused(catalog: Catalog) -> None:
    spec = catalog["backend"].model_copy(update={"config_files": {"/tmp/app.conf": "x"}})
    with pytest.raises(ValueError, match="tmpfs"):
        rules.file_mounts(spec, [])


def test_no_mounts_without_files(catalog: Catalog) -> None:
    assert rules.file_mounts(catalog["frontend"], []) == []


# ── healthchecks ────────────────────────────────────────────────────────────────────────


def test_every_upstream_image_of_the_catalog_has_a_recorded_probe_tool(catalog: Catalog) -> None:
    upstream = {s.image.repository for s in catalog if s.image is not None}
    assert upstream <= set(PROBE_TOOLS), upstream - set(PROBE_TOOLS)


def test_every_catalog_service_gets_a_healthcheck_or_a_reason(catalog: Catalog) -> None:
    for spec in catalog:
        check = healthcheck_for(spec)
        if check is None:
            assert spec.image is not None
            tool = PROBE_TOOLS[spec.image.repository]
            assert tool.tool is Tool.NONE and len(tool.why) > 20
        else:
            assert check.tests[0] == "CMD"


def test_exec_probes_run_as_written(catalog: Catalog) -> None:
    check = healthcheck_for(catalog["postgres"])
    assert check is not None
    assert check.tests == ["CMD", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"]


def test_an_unknown_upstream_image_is_an_error(catalog: Catalog) -> None:
    spec = catalog["grafana"].model_copy(
        update={"image": catalog["grafana"].image.model_copy(update={"repository": "acme/x"})}  # type: ignore[union-attr]
    )
    with pytest.raises(ValueError, match="PROBE_TOOLS"):
        healthcheck_for(spec)


def test_a_tcp_probe_in_a_wget_image_is_refused(catalog: Catalog) -> None:
    spec = catalog["grafana"]
    with pytest.raises(ValueError, match="tcp probe"):
        probe_command(spec, Probe(tcp=True, port="http"))


def test_in_house_images_use_python(catalog: Catalog) -> None:
    assert IN_HOUSE.tool is Tool.PYTHON
    check = healthcheck_for(catalog["backend"])
    assert check is not None and check.tests[:3] == ["CMD", "python3", "-c"]


# The commands themselves, run here against a real HTTP server: a typo in a generated shell
# or Python one-liner would otherwise only show up as an unhealthy container.


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ready" else 503)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _spec_on(catalog: Catalog, repository: str | None, port: int) -> ServiceSpec:
    base = catalog["backend"] if repository is None else catalog["grafana"]
    update: dict[str, object] = {"ports": [{"name": "http", "port": port}]}
    if repository is not None:
        update["image"] = base.image.model_copy(update={"repository": repository})  # type: ignore[union-attr]
    return ServiceSpec.model_validate({**base.model_dump(), **update})


def _run(test: list[str]) -> int:
    if test[0] == "CMD-SHELL":
        command = ["sh", "-c", test[1]]
    else:
        assert test[0] == "CMD"
        command = test[1:]
    return subprocess.run(command, capture_output=True, timeout=10, check=False).returncode


@pytest.mark.parametrize(
    ("repository", "binary"),
    [(None, "python3"), ("grafana/grafana", "wget"), ("chromadb/chroma", "curl"),
     ("qdrant/qdrant", "bash")],
)  # fmt: skip
def test_http_probe_commands_work(
    catalog: Catalog, http_port: int, repository: str | None, binary: str
) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed here")
    spec = _spec_on(catalog, repository, http_port)
    good = probe_command(spec, Probe(http="/ready", port="http"))
    bad = probe_command(spec, Probe(http="/missing", port="http"))
    assert good is not None and bad is not None
    assert good[1] == binary
    assert _run(good) == 0
    assert _run(bad) != 0


@pytest.mark.parametrize("repository", [None, "qdrant/qdrant"])
def test_tcp_probe_commands_work(catalog: Catalog, http_port: int, repository: str | None) -> None:
    spec = _spec_on(catalog, repository, http_port)
    command = probe_command(spec, Probe(tcp=True, port="http"))
    assert command is not None and _run(command) == 0
    closed = _spec_on(catalog, repository, 1)
    command = probe_command(closed, Probe(tcp=True, port="http"))
    assert command is not None and _run(command) != 0


# ── published ports: one offset per stack ───────────────────────────────────────────────


def test_every_published_port_of_a_stack_moves_by_the_same_offset(catalog: Catalog) -> None:
    assert rules.stack_port_offset("dev") == 0
    for stack in ("dev-bob", "dev-alice", "dev-x1"):
        offset = rules.stack_port_offset(stack)
        assert offset == rules.stack_port_offset(stack)  # stable
        assert offset % rules.HOST_PORT_SLOTS == 0 and 0 < offset < 1000
        ingress = rules.ingress_host_ports(catalog, stack)
        assert min(ingress.values()) == rules.HOST_PORT_BASE + offset
        assert rules.stack_host_port(8200, stack) == 8200 + offset
        assert rules.log_receiver_host_port(stack) == rules.LOG_RECEIVER_PORT_BASE + offset
    assert rules.log_receiver_host_port("dev") == rules.LOG_RECEIVER_PORT_BASE
    # The kinds of ports never collide, whatever the offset.
    worst = rules.HOST_PORT_SLOTS * rules.HOST_PORT_STACKS
    assert 8200 + worst < rules.LOG_RECEIVER_PORT_BASE
    assert rules.LOG_RECEIVER_PORT_BASE + worst < rules.HOST_PORT_BASE


def test_a_port_outside_the_unprivileged_range_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        rules.stack_host_port(65500, "dev-bob")
    with pytest.raises(ValueError, match="outside"):
        rules.stack_host_port(80, "dev")


def test_generated_config_files_get_their_directories_mounted(catalog: Catalog) -> None:
    mounts = rules.file_mounts(
        catalog["pgbouncer"],
        ["/vault/secrets/pgbouncer-userlist.txt"],
        ["/etc/pgbouncer/pgbouncer.ini"],
    )
    assert [(m.path, m.purpose) for m in mounts] == [
        ("/vault/secrets", "secrets"),
        ("/etc/pgbouncer", "config"),
    ]
    # Default: the catalog's own config_files.
    assert [m.path for m in rules.file_mounts(catalog["neo4j"], [])] == ["/config"]


# ── one hardening path, one scraper ─────────────────────────────────────────────────────


def test_the_scraper_is_the_observability_configs_scraper(catalog: Catalog) -> None:
    from components.configs import observability

    assert not hasattr(rules, "METRICS_SCRAPER")
    scraper = catalog[observability.SCRAPER]
    joined = set(rules.network_segments(scraper, catalog))
    assert {s.segment for s in catalog.scrape_targets} <= joined


def test_a_container_that_is_no_service_takes_the_same_hardening(catalog: Catalog) -> None:
    from components.docker.platform import hardened

    profile = rules.ContainerProfile(
        uid=100, gid=1000, resources=catalog["jaeger"].resources, writable_paths=("/tmp",)
    )
    ours, service = hardened(profile), hardened(catalog["jaeger"])
    assert set(ours) == set(service)
    assert ours["user"] == "100:1000" and ours["tmpfs"] == {"/tmp": rules.tmpfs_options(profile)}
    for key in ("read_only", "capabilities", "security_opts", "memory", "memory_swap", "init"):
        assert ours[key] == service[key], key


def test_a_new_set_of_secret_files_is_a_new_volume() -> None:
    from components.docker.platform import secrets_volume_suffix

    one = secrets_volume_suffix("secrets", {"/vault/secrets/a-x": "1", "/vault/secrets/a-y": "2"})
    assert one == secrets_volume_suffix(
        "secrets", {"/vault/secrets/a-y": "changed", "/vault/secrets/a-x": ""}
    )
    assert one != secrets_volume_suffix("secrets", {"/vault/secrets/a-x": "1"})
    assert one.startswith("secrets-") and len(one) == len("secrets-") + 8


def test_helpers_run_as_their_service_with_their_own_resources(catalog: Catalog) -> None:
    from components.docker.platform import PROVISIONING_RESOURCES, hardened

    postgres = catalog["postgres"]
    helper = hardened(rules.helper_profile(postgres, PROVISIONING_RESOURCES, ["/tmp"]))
    assert helper["user"] == "70:70" and set(helper["tmpfs"]) == {"/tmp"}
    assert helper["memory"] == helper["memory_swap"] == 512 and helper["cpus"] == "0.5"
    assert hardened(rules.helper_profile(postgres, PROVISIONING_RESOURCES))["tmpfs"] == {}
