"""Drive the CrossGuard pack over gRPC exactly as the Pulumi CLI does, without the CLI.

The CLI starts a Python pack as `python -u -m pulumi.policy <engine-address> .` inside
the pack folder; the pack prints its port on stdout and serves `pulumirpc.Analyzer`.
The engine address is parsed but never dialled by pulumi.policy or pulumi_policy
(logging falls back to stderr without an engine), so no fake engine is needed; we pass an
address nothing listens on. Call order mirrors the engine: Handshake (Python packs
answer UNIMPLEMENTED; the CLI falls back), ConfigureStack, GetAnalyzerInfo, Configure
(with the config file reconciled like `ReconcilePolicyPackConfig`: schema defaults,
then "all", then per-policy entries, validated against each policy's schema), Analyze per
resource, AnalyzeStack once.

Resource dicts: {"urn", "type", "name", "inputs", "protect", "parent", "provider"} with
engine-shaped inputs (camelCase, floats, secret envelopes); optional "dependencies"
(list of URNs) and "propertyDependencies" ({prop: [URNs]}) are passed on when present.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from stacks.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
POLICIES_DIR = REPO_ROOT / "policies"
CONFIG_DIR = POLICIES_DIR / "config"
UNUSED_ENGINE_ADDRESS = "127.0.0.1:1"  # parsed by pulumi.policy, never dialled

LEVELS: dict[str, analyzer_pb2.EnforcementLevel.ValueType] = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "disabled": analyzer_pb2.DISABLED,
    "remediate": analyzer_pb2.REMEDIATE,
}
LEVEL_NAMES: dict[int, str] = {int(v): k for k, v in LEVELS.items()}


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # advisory | mandatory | disabled | remediate
    message: str
    urn: str  # the analyzed resource (Analyze) or the reported one (AnalyzeStack, may be "")
    stack_policy: bool = False

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy}: {self.message.splitlines()[-1]}"


class PolicyConfigError(ValueError):
    """The config would be rejected before Configure (the CLI's own validation)."""


SETTINGS_POLICY = "pack-settings"


class EnvironmentMismatch(ValueError):
    """The stack's declared environment and the policy config's disagree."""


ENFORCEMENT_OF = {"prod": "mandatory", "dev": "advisory"}


def _declared(stack: str, key: str, root: Path) -> Any:
    """`sutazai:<key>` of Pulumi.<stack>.yaml, else the project default (Pulumi.yaml)."""
    import yaml

    from stacks.stack_file import read_stack_file

    # The strict loader the plan uses: a missing or malformed file is refused the same way.
    config = read_stack_file(root / f"Pulumi.{stack}.yaml", root)
    if f"sutazai:{key}" in config:
        return config[f"sutazai:{key}"]
    project = yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}
    return ((project.get("config") or {}).get(key) or {}).get("default")


def declared_environment(stack: str, root: Path = REPO_ROOT) -> str:
    """The stack's declared environment; refused when its policy enforcement disagrees
    (prod is checked mandatory, dev advisory)."""
    environment = _declared(stack, "environment", root)
    enforcement = _declared(stack, "policyEnforcement", root)
    if environment not in ENFORCEMENT_OF:
        raise EnvironmentMismatch(
            f"Pulumi.{stack}.yaml: sutazai:environment is {environment!r}; expected prod or dev"
        )
    if enforcement != ENFORCEMENT_OF[environment]:
        raise EnvironmentMismatch(
            f"Pulumi.{stack}.yaml declares sutazai:environment {environment!r} but "
            f"sutazai:policyEnforcement {enforcement!r}; {environment} is checked "
            f"{ENFORCEMENT_OF[environment]} (policies/config/{environment}.json)"
        )
    return str(environment)


def config_path(environment: str, config_dir: Path = CONFIG_DIR) -> Path:
    """The policy config CI passes for an environment: policies/config/<environment>.json.

    `config_dir`: another tree's config folder (the plan diff judges with the base's).
    """
    return config_dir / f"{environment}.json"


def load_config(environment: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    return json.loads(config_path(environment, config_dir).read_text())


def config_environment(config: Mapping[str, Any]) -> str | None:
    settings = config.get(SETTINGS_POLICY)
    return settings.get("environment") if isinstance(settings, Mapping) else None


def config_for_stack(
    stack: str, path: Path | None = None, root: Path = REPO_ROOT
) -> tuple[Path, dict[str, Any]]:
    """The policy config for a stack's declared environment; refuses one whose enforcement
    says another environment (a copy of prod is checked with prod's rules, never dev's)."""
    environment = declared_environment(stack, root)
    path = path or config_path(environment)
    config = json.loads(path.read_text())
    enforced = config_environment(config)
    if enforced != environment:
        raise EnvironmentMismatch(
            f"stack {stack!r} declares sutazai:environment {environment!r} but "
            f"{path.name} enforces {enforced!r}; use policies/config/{environment}.json"
        )
    return path, config


# ---------------------------------------------------------------- config reconciliation


def resolve_config(
    info: analyzer_pb2.AnalyzerInfo, config: Mapping[str, Any]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """What the CLI sends to Configure for this config file (level, properties) per policy."""
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for p in info.policies:
        props_schema = json_format.MessageToDict(p.configSchema.properties)
        schemas[p.name] = {"type": "object", "properties": props_schema}
        if p.configSchema.required:
            schemas[p.name]["required"] = list(p.configSchema.required)
        defaults = {
            k: v["default"]
            for k, v in props_schema.items()
            if isinstance(v, dict) and "default" in v
        }
        result[p.name] = (LEVEL_NAMES[p.enforcementLevel], defaults)

    parsed: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for key, value in config.items():
        if isinstance(value, str):
            parsed[key] = (_level(key, value), {})
        elif isinstance(value, Mapping):
            rest = {k: v for k, v in value.items() if k != "enforcementLevel"}
            level = value.get("enforcementLevel")
            parsed[key] = (_level(key, level) if level is not None else None, rest)
        else:
            raise PolicyConfigError(
                f"parsing {key!r}: {value!r} is not a valid value; must be a string or object"
            )

    all_level = parsed.get("all", (None, {}))[0]
    if all_level is not None:
        result = {k: (all_level, v[1]) for k, v in result.items()}
    for key, (level, props) in parsed.items():
        old_level, old_props = result.get(key, (all_level or "advisory", {}))
        result[key] = (level or old_level, {**old_props, **props})

    errors: list[str] = []
    for name, schema in schemas.items():
        validator = jsonschema.Draft7Validator(schema)
        for err in validator.iter_errors(result[name][1]):
            where = "/".join(str(p) for p in err.absolute_path)
            errors.append(f"{name}: {where}: {err.message}")
    if errors:
        raise PolicyConfigError("policy pack configuration is invalid:\n  " + "\n  ".join(errors))
    return result


def _level(key: str, value: object) -> str:
    if not isinstance(value, str) or value not in LEVELS:
        raise PolicyConfigError(
            f"parsing enforcement level for {key!r}: {value!r} is not a valid enforcement level"
        )
    return value


# ---------------------------------------------------------------- requests


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(values))
    return s


def _provider(ref: object) -> analyzer_pb2.AnalyzerProviderResource | None:
    if isinstance(ref, Mapping):
        return analyzer_pb2.AnalyzerProviderResource(
            type=str(ref.get("type", "")),
            urn=str(ref.get("urn", "")),
            name=str(ref.get("name", "")),
            properties=_struct(ref.get("inputs") or {}),
        )
    if isinstance(ref, str) and ref.startswith("urn:"):
        urn = ref.rsplit("::", 1)[0] if ref.count("::") >= 4 else ref  # "<urn>::<id>"
        parts = urn.split("::")
        return analyzer_pb2.AnalyzerProviderResource(
            type=parts[2].rsplit("$", 1)[-1] if len(parts) > 2 else "", urn=urn, name=parts[-1]
        )
    return None


def _options(res: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(res.get("protect")), parent=str(res.get("parent") or "")
    )


def analyze_request(res: Mapping[str, Any]) -> analyzer_pb2.AnalyzeRequest:
    req = analyzer_pb2.AnalyzeRequest(
        type=res["type"],
        urn=res["urn"],
        name=res["name"],
        properties=_struct(res.get("inputs") or {}),
        options=_options(res),
    )
    provider = _provider(res.get("provider"))
    if provider is not None:
        req.provider.CopyFrom(provider)
    return req


def stack_resource(res: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResource:
    out = analyzer_pb2.AnalyzerResource(
        type=res["type"],
        urn=res["urn"],
        name=res["name"],
        properties=_struct(res.get("inputs") or {}),
        options=_options(res),
        parent=str(res.get("parent") or ""),
        dependencies=list(res.get("dependencies") or []),
    )
    for prop, urns in (res.get("propertyDependencies") or {}).items():
        out.propertyDependencies[prop].urns.extend(urns)
    provider = _provider(res.get("provider"))
    if provider is not None:
        out.provider.CopyFrom(provider)
    return out


# ---------------------------------------------------------------- the pack process


class PolicyPackProcess:
    """A running pack plus a stub; use as a context manager."""

    def __init__(
        self,
        stack: str,
        project: str = "sutazai",
        pack_dir: Path = POLICIES_DIR,
        engine_address: str = UNUSED_ENGINE_ADDRESS,
        python: str = sys.executable,
        dry_run: bool = True,
        startup_timeout: float = 60.0,
    ) -> None:
        self.stack = stack
        self.project = project
        # Closed in close(); a file (not a pipe) so a noisy pack never blocks on stderr.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        env = dict(os.environ)
        # What the CLI's constructEnv adds for a policy pack process.
        env.update(
            PULUMI_PROJECT=project,
            PULUMI_STACK=stack,
            PULUMI_DRY_RUN="true" if dry_run else "false",
            PULUMI_ORGANIZATION="organization",
        )
        env.pop("PULUMI_CONFIG", None)
        self.started = time.perf_counter()
        self._proc = subprocess.Popen(
            [python, "-u", "-m", "pulumi.policy", engine_address, "."],
            cwd=pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.port = self._read_port(startup_timeout)
        self.startup_seconds = time.perf_counter() - self.started
        self._channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}",
            options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
        )
        grpc.channel_ready_future(self._channel).result(timeout=startup_timeout)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)

    def _read_port(self, timeout: float) -> int:
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self._proc.stdout.fileno()
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._proc.poll() is not None:
                self.close()
                raise RuntimeError(
                    f"policy pack did not print its port (exit={self._proc.returncode}):\n"
                    + self.stderr()
                )
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                buf += chunk
        line = buf.split(b"\n", 1)[0].strip()
        # Keep draining stdout so a chatty pack can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return int(line)

    def _drain(self) -> None:
        stream = self._proc.stdout
        if stream is not None:
            for _ in iter(lambda: stream.read(4096), b""):
                pass

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def close(self) -> None:
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()

    def __enter__(self) -> PolicyPackProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine's calls

    def handshake(self) -> None:
        try:
            self.stub.Handshake(
                analyzer_pb2.AnalyzerHandshakeRequest(engine_address=UNUSED_ENGINE_ADDRESS)
            )
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                raise

    def configure_stack(self) -> None:
        self.stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=self.stack, project=self.project, organization="organization", dry_run=True
            )
        )

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def configure(self, config: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Reconcile + validate like the CLI, then Configure.

        Raises PolicyConfigError (CLI-side rejection) or grpc.RpcError (the pack refused).
        """
        resolved = resolve_config(self.info(), config)
        self.configure_resolved(resolved)
        return resolved

    def configure_resolved(self, resolved: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        """Send a Configure request as-is (no client-side validation)."""
        req = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, props) in resolved.items():
            req.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level], properties=_struct(props))
            )
        self.stub.Configure(req)

    def analyze(self, res: Mapping[str, Any]) -> list[Violation]:
        resp = self.stub.Analyze(analyze_request(res))
        return [_violation(d, res["urn"], False) for d in resp.diagnostics]

    def analyze_stack(self, resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
        resp = self.stub.AnalyzeStack(
            analyzer_pb2.AnalyzeStackRequest(resources=[stack_resource(r) for r in resources])
        )
        return [_violation(d, "", True) for d in resp.diagnostics]

    def run(
        self, resources: Sequence[Mapping[str, Any]], config: Mapping[str, Any]
    ) -> list[Violation]:
        self.handshake()
        self.configure_stack()
        self.configure(config)
        violations: list[Violation] = []
        for res in resources:
            violations.extend(self.analyze(res))
        violations.extend(self.analyze_stack(resources))
        return violations


def _violation(d: analyzer_pb2.AnalyzeDiagnostic, urn: str, stack: bool) -> Violation:
    return Violation(
        policy=d.policyName,
        level=LEVEL_NAMES.get(d.enforcementLevel, str(d.enforcementLevel)),
        message=d.message,
        urn=d.urn or urn,
        stack_policy=stack,
    )


def analyze_resources(
    resources: list[dict[str, Any]], stack: str, config: Mapping[str, Any], project: str = "sutazai"
) -> list[Violation]:
    """Start the pack, configure it with `config`, Analyze every resource, AnalyzeStack, stop."""
    with PolicyPackProcess(stack=stack, project=project) as pack:
        return pack.run(resources, config)


def mandatory(violations: Iterable[Violation]) -> list[Violation]:
    return [v for v in violations if v.level == "mandatory"]


def load_plan(path: Path) -> dict[str, Any]:
    plan = json.loads(path.read_text())
    if not isinstance(plan, dict) or not isinstance(plan.get("resources"), list):
        raise ValueError(f"{path}: expected {{'stack', 'project', 'resources': [...]}}")
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m stacks.policy_check --stack prod`: the pack over the offline plan."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m stacks.policy_check",
        description="Run the CrossGuard pack, as `pulumi preview --policy-pack` would, over "
        "every resource the program registers for a stack (offline plan, mock runtime).",
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--plan", type=Path, help="plan JSON (default: plan the stack now)")
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="policy config (default: policies/config/<the stack's declared environment>.json)",
    )
    options = parser.parse_args(argv)
    try:
        used_config, config = config_for_stack(options.stack, options.policy_config)
    except ConfigError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (EnvironmentMismatch, FileNotFoundError) as error:
        print(f"policy check refused: {error}", file=sys.stderr)
        return 2
    plan_path = options.plan
    if plan_path is None:
        plan_path = REPO_ROOT / "build" / f"plan-{options.stack}.json"
        planned = subprocess.run(
            [
                sys.executable,
                "-m",
                "stacks.plan",
                "--stack",
                options.stack,
                "--json",
                str(plan_path),
                "--quiet",
            ],
            cwd=REPO_ROOT,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        if planned.returncode != 0:
            return planned.returncode  # the plan printed why, one line per problem
    plan = load_plan(plan_path)
    violations = analyze_resources(plan["resources"], options.stack, config)
    for violation in sorted(violations, key=lambda v: (v.level != "mandatory", v.policy)):
        print(f"{violation.urn}\n    {violation}")
    blocking = mandatory(violations)
    print(
        f"{len(plan['resources'])} resources, config {used_config.name}: "
        f"{len(blocking)} mandatory, {len(violations) - len(blocking)} advisory violations"
    )
    return 1 if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
