"""The offline plan: run the real program under Pulumi's mock runtime with a real stack file.

    python -m stacks.plan --stack prod [--json build/plan-prod.json] [--quiet]
    python -m stacks.plan --project-dir bootstrap/ci --stack ci-bootstrap   (the CI identities)

No Pulumi CLI, no cloud credentials, no provider plugins. The program's own `__main__.py`
runs against a recording monitor; the result is the resource tree (component -> children),
counts by type, the stack outputs, and a JSON file with every registration (engine-shaped
inputs, parent, provider, protect...) that the tests and the policy pack consume.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
MOCK_ACCOUNT = "123456789012"
T = TypeVar("T")


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: list[str]
    additional_secret_outputs: list[str]
    ignore_changes: list[str]
    inputs: dict[str, Any]
    # A read of an existing resource (ReadResource), not one the stack manages.
    read: bool = False


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        matches = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources of type {type_} named {name}")
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def children_of(self, urn: str) -> list[Registration]:
        return [r for r in self.resources if r.parent == urn]

    def counts(self) -> Counter[str]:
        return Counter(r.type for r in self.resources)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "seconds": round(self.seconds, 3),
            "counts": dict(sorted(self.counts().items())),
            "outputs": self.outputs,
            "resources": [{**asdict(r), "opts": {"protect": r.protect}} for r in self.resources],
        }


# ── config: what the Pulumi CLI would hand the program ───────────────────────────────────


def project_settings(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    return yaml.safe_load((project_dir / "Pulumi.yaml").read_text())


def _encode(value: Any) -> str:
    """Pulumi passes scalars as strings and structured values as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def stack_config_bag(
    stack: str,
    project_dir: Path = PROJECT_DIR,
    stack_file: Path | None = None,
    *,
    keep_template_only: bool = False,
) -> tuple[dict[str, str], list[str]]:
    """The config bag and secret keys for a stack, project defaults applied like the CLI does.

    `secure:` values cannot be decrypted offline; they become placeholder secrets.
    """
    from stacks.config import NAMESPACE, STRUCTURED_KEYS, TEMPLATE_ONLY_KEY
    from stacks.errors import ConfigError
    from stacks.stack_file import read_stack_file

    project = project_settings(project_dir)
    name = project["name"]
    stack_path = stack_file or project_dir / f"Pulumi.{stack}.yaml"
    stack_config = read_stack_file(stack_path, project_dir)
    bag: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, declaration in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(declaration, dict) and "default" in declaration:
            bag[full] = _encode(declaration["default"])
        elif isinstance(declaration, dict) and "value" in declaration:
            bag[full] = _encode(declaration["value"])
    problems: list[str] = []
    for key, value in stack_config.items():
        full = key if ":" in key else f"{name}:{key}"
        if full == TEMPLATE_ONLY_KEY and not keep_template_only and value is True:
            # A template's offline plan is the plan of its copies (which drop the key): the
            # mock runtime runs as an update, which the program refuses for a template.
            # Only a real `true` is dropped: any other value goes on to be refused.
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            bag[full] = f"offline-placeholder-for-{full}"
            secret_keys.append(full)
            continue
        short = full.partition(":")[2]
        if value is None:
            problems.append(f"{full}: has no value; set one or remove the key")
        elif (
            isinstance(value, dict | list)
            and full.startswith(f"{NAMESPACE}:")  # this program's keys, not a fixture's
            and (short not in STRUCTURED_KEYS)
        ):
            kind = "mapping" if isinstance(value, dict) else "list"
            problems.append(f"{full}: takes a single value, got a {kind} ({_encode(value)})")
        bag[full] = _encode(value)
    if problems:
        raise ConfigError("stack configuration", problems)
    return bag, secret_keys


# ── mocks ───────────────────────────────────────────────────────────────────────────────


def _mock_outputs(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Plausible provider outputs for the resources whose outputs the program reads."""
    arn = f"arn:aws:mock:us-east-1:{MOCK_ACCOUNT}:{name}"
    extra: dict[str, Any] = {"arn": arn}
    if type_ == "aws:eks/cluster:Cluster":
        extra.update(
            name=inputs.get("name", name),
            endpoint=f"https://{name}.mock.eks.amazonaws.com",
            certificateAuthority={"data": "TU9DSy1DQQ=="},
            identities=[{"oidcs": [{"issuer": f"https://oidc.eks.mock/id/{name}"}]}],
            vpcConfig={**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{name}"},
            version=inputs.get("version", "1.31"),
        )
    elif type_ == "aws:rds/instance:Instance":
        extra.update(
            address=f"{name}.mock.rds.amazonaws.com",
            port=5432,
            endpoint=f"{name}.mock.rds.amazonaws.com:5432",
        )
    elif type_ == "aws:elasticache/replicationGroup:ReplicationGroup":
        extra.update(
            primaryEndpointAddress=f"master.{name}.mock.cache.amazonaws.com",
            readerEndpointAddress=f"replica.{name}.mock.cache.amazonaws.com",
        )
    elif type_ == "aws:ecr/repository:Repository":
        extra.update(
            repositoryUrl=f"{MOCK_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/"
            f"{inputs.get('name', name)}"
        )
    elif type_ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        extra.update(url=inputs.get("url", "https://oidc.eks.mock/id/x"))
    elif type_ == "aws:wafv2/webAcl:WebAcl":
        extra.update(
            arn=f"arn:aws:wafv2:us-east-1:{MOCK_ACCOUNT}:regional/webacl/"
            f"{inputs.get('name', name)}/00000000-0000-0000-0000-000000000000"
        )
    elif type_ == "aws:cognito/userPool:UserPool":
        extra.update(
            id="us-east-1_MOCKPOOL",
            arn=f"arn:aws:cognito-idp:us-east-1:{MOCK_ACCOUNT}:userpool/us-east-1_MOCKPOOL",
        )
    elif type_ == "aws:cognito/userPoolClient:UserPoolClient":
        extra.update(id=f"mockclient{abs(hash(name)) % 10**8:08d}")
    elif type_ == "aws:s3/bucket:Bucket":
        extra.update(bucket=f"{inputs.get('bucketPrefix', name)}mock", id=f"{name}-mock")
    elif type_.startswith("tls:index/"):
        pem = "-----BEGIN {0}-----\nTU9DSw==\n-----END {0}-----\n"
        extra.update(
            privateKeyPem=pem.format("PRIVATE KEY"),
            certPem=pem.format("CERTIFICATE"),
            certRequestPem=pem.format("CERTIFICATE REQUEST"),
        )
    elif type_ == "aws:kms/key:Key":
        extra.update(keyId=f"key-{name}")
    elif type_ == "pulumi:pulumi:StackReference":
        # A shared-cluster stack's exports (what KubernetesInfrastructure.outputs() gives).
        shared = str(inputs.get("name", name)).rsplit("/", 1)[-1]
        extra.update(
            outputs={
                "kubeconfig": json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": []}),
                "clusterName": f"sutazai-{shared}",
                "clusterEndpoint": f"https://sutazai-{shared}.mock.eks.amazonaws.com",
                "clusterCertificateAuthority": "MOCK-CA",
                "clusterTokenIssuer": f"https://oidc.eks.mock/id/sutazai-{shared}",
            },
            secretOutputNames=["kubeconfig"],
        )
    elif type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        extra.update(latestVersion=1, defaultVersion=1)
    elif type_ == "aws:iam/role:Role":
        extra.update(name=inputs.get("name", name), arn=f"arn:aws:iam::{MOCK_ACCOUNT}:role/{name}")
    elif type_ == "aws:elasticache/user:User":
        extra.update(userId=inputs.get("userId", name))
    elif type_ == "aws:elasticache/userGroup:UserGroup":
        extra.update(userGroupId=inputs.get("userGroupId", name))
    elif type_ == "docker-build:index:Image":
        tags = inputs.get("tags") or [f"mock/{name}:0"]
        extra.update(ref=f"{tags[0]}@sha256:{'0' * 64}", digest=f"sha256:{'0' * 64}")
    elif type_ == "docker:index/remoteImage:RemoteImage":
        # The image ID a container is created from; derived from the reference so a test can
        # tell which image a container runs.
        import hashlib

        reference = str(inputs.get("name", name))
        extra.update(
            imageId=f"sha256:{hashlib.sha256(reference.encode()).hexdigest()}",
            repoDigest=f"{reference.split(':')[0]}@sha256:{'0' * 64}",
        )
    elif type_ in (
        "random:index/randomPassword:RandomPassword",
        "random:index/randomString:RandomString",
    ):
        extra.update(result=f"mock-random-{name}")
    elif type_.startswith("kubernetes:") and "metadata" in inputs:
        metadata = dict(inputs["metadata"])
        metadata.setdefault("name", name)
        extra.update(metadata=metadata)
    return {**inputs, **extra}


# Available zones of a few regions (EC2 DescribeAvailabilityZones, state=available).
MOCK_REGION_ZONES = {"us-east-1": 6, "us-west-1": 2, "eu-west-1": 3, "ap-northeast-2": 4}


def _mock_invoke(token: str, args: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        # As many zones as the provider's region really has (MOCK_REGION_ZONES, three for
        # a region not listed); the program takes the first availabilityZones of them.
        count = MOCK_REGION_ZONES.get(region, 3)
        return {
            "names": [f"{region}{letter}" for letter in "abcdefghij"[:count]],
            "zoneIds": [f"mock-az{i + 1}" for i in range(count)],
        }
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": MOCK_ACCOUNT,
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/mock",
            "userId": "MOCK",
        }
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
    if token == "aws:index/getRegion:getRegion":
        return {"name": "us-east-1", "region": "us-east-1"}
    if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
        return {
            "proxyEndpoint": f"https://{MOCK_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
            "userName": "AWS",
            "password": "mock-ecr-token",
            "authorizationToken": "bW9jaw==",
        }
    if token == "aws:elb/getServiceAccount:getServiceAccount":
        return {"arn": "arn:aws:iam::127311923021:root", "id": "127311923021"}
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        return {
            "json": json.dumps({"Version": "2012-10-17", "Statement": args.get("statements", [])})
        }
    if token == "aws:eks/getAddonVersion:getAddonVersion":
        addon = args.get("addonName", "addon")
        return {
            "addonName": addon,
            "kubernetesVersion": args.get("kubernetesVersion", "1.31"),
            "version": f"v1.0.0-{addon}-eksbuild.1",
            "id": addon,
        }
    if token == "aws:lb/getLoadBalancer:getLoadBalancer":
        name = args.get("name", "mock")
        return {
            "name": name,
            "arn": (
                f"arn:aws:elasticloadbalancing:us-east-1:{MOCK_ACCOUNT}:"
                f"loadbalancer/app/{name}/0123456789abcdef"
            ),
            "arnSuffix": f"app/{name}/0123456789abcdef",
        }
    if token == "aws:eks/getClusterAuth:getClusterAuth":
        return {"token": "mock-eks-token"}
    if token == "kubernetes:helm:template":
        return {"result": []}
    # An unhandled invoke would silently return {} and hide a broken program: refuse it.
    raise NotImplementedError(f"the offline plan has no mock answer for invoke {token}")


class DuplicateUrnError(Exception):
    """Two resources registered with one URN: the engine would refuse the deployment."""

    def __init__(self, urn: str) -> None:
        self.urn = urn
        super().__init__(
            f"{urn}: registered twice; the engine refuses two resources with one URN "
            "(give them different names)"
        )


SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"


def _mark_secret_outputs(response: Any, names: list[str]) -> None:
    """Wrap `additional_secret_outputs` as secrets, as the engine does (mocks do not)."""
    from google.protobuf import struct_pb2

    fields = response.object.fields
    for name in names:
        if name not in fields:
            continue
        value = fields[name]
        if value.HasField("struct_value") and SECRET_SIG in value.struct_value.fields:
            continue
        wrapped = struct_pb2.Struct()
        wrapped.fields[SECRET_SIG].string_value = SECRET_VALUE
        wrapped.fields["value"].CopyFrom(value)
        fields[name].struct_value.CopyFrom(wrapped)


class _OfflineMocks:
    """Mock provider answers shared by every run (see _mock_outputs / _mock_invoke)."""

    @staticmethod
    def build() -> Any:
        import pulumi

        # The region of each AWS provider, by the id in its provider reference ("urn::id").
        regions: dict[str, str] = {}

        class Mocks(pulumi.runtime.Mocks):
            def new_resource(
                self, args: pulumi.runtime.MockResourceArgs
            ) -> tuple[str | None, dict[str, Any]]:
                resource_id = f"{args.name}-id"
                if args.typ == "pulumi:providers:aws" and args.inputs.get("region"):
                    regions[resource_id] = str(args.inputs["region"])
                return resource_id, _mock_outputs(args.typ, args.name, args.inputs)

            def call(
                self, args: pulumi.runtime.MockCallArgs
            ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
                region = regions.get((args.provider or "").rsplit("::", 1)[-1], "us-east-1")
                return _mock_invoke(args.token, args.args, region), []

        return Mocks()


def _registration(request: Any, urn: str) -> Registration:
    from google.protobuf import json_format

    def optional(field_name: str) -> bool:
        return bool(getattr(request, field_name)) if request.HasField(field_name) else False

    return Registration(
        urn=urn,
        type=request.type,
        name=request.name,
        parent=request.parent,
        custom=request.custom,
        provider=request.provider,
        protect=optional("protect"),
        retain_on_delete=optional("retainOnDelete"),
        delete_before_replace=request.deleteBeforeReplace,
        dependencies=list(request.dependencies),
        additional_secret_outputs=list(request.additionalSecretOutputs),
        ignore_changes=list(request.ignoreChanges),
        inputs=json_format.MessageToDict(request.object),
    )


def run_program(
    fn: Callable[[], T],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str] | None = None,
    secret_keys: Sequence[str] = (),
    plan: Plan | None = None,
    preview: bool = False,
) -> tuple[T, Plan]:
    """Run `fn` under a fresh recording mock monitor; return its result and the plan.

    set_mocks is process-global: each call replaces the previous monitor. Stack exports
    made by `fn` are recorded as the plan's outputs. `preview` runs it as `pulumi preview`
    does (outputs the mocks leave out are unknown); the offline plan runs as an update.
    """
    import pulumi
    from google.protobuf import json_format
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings
    from pulumi.runtime.settings import get_root_resource
    from pulumi.runtime.stack import Stack, run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    plan = plan if plan is not None else Plan(project=project, stack=stack)
    results: list[T] = []
    registered: set[str] = set()
    duplicates: list[str] = []

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            _mark_secret_outputs(response, list(request.additionalSecretOutputs))
            if request.type != "pulumi:pulumi:Stack":
                # The engine refuses a second resource with the same URN; so does the plan.
                if response.urn in registered:
                    duplicates.append(response.urn)
                    raise DuplicateUrnError(response.urn)
                registered.add(response.urn)
                plan.resources.append(_registration(request, response.urn))
            return response

        def ReadResource(self, request: Any) -> Any:
            # Reads (a StackReference, a `get`) are part of what a stack depends on.
            response = super().ReadResource(request)
            plan.resources.append(
                Registration(
                    urn=response.urn, type=request.type, name=request.name,
                    parent=request.parent, custom=True, provider=request.provider,
                    protect=False, retain_on_delete=False, delete_before_replace=False,
                    dependencies=list(request.dependencies), additional_secret_outputs=[],
                    ignore_changes=[], inputs=json_format.MessageToDict(request.properties),
                    read=True,
                )
            )  # fmt: skip
            return response

        def RegisterResourceOutputs(self, request: Any) -> Any:
            if "::pulumi:pulumi:Stack::" in request.urn:
                plan.outputs = json_format.MessageToDict(request.outputs)
            return super().RegisterResourceOutputs(request)

    def program() -> None:
        results.append(fn())
        # set_mocks registered the root stack before the program ran; register its
        # outputs again now that the program has exported them.
        root = get_root_resource()
        if isinstance(root, Stack):
            root._outputs_registered = False
            root._finish()

    started = time.perf_counter()
    mocks = _OfflineMocks.build()
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys))
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=preview, monitor=RecordingMonitor(mocks)
    )
    try:
        _sync_await(run_pulumi_func(program))
    except Exception:
        if duplicates:  # however the runtime wrapped it, say what went wrong
            raise DuplicateUrnError(duplicates[0]) from None
        raise
    finally:
        settings.reset_options()
        plan.seconds = time.perf_counter() - started
    if duplicates:
        raise DuplicateUrnError(duplicates[0])
    return results[0], plan


def run_plan(
    stack: str,
    project_dir: Path = PROJECT_DIR,
    stack_file: Path | None = None,
    plan: Plan | None = None,
) -> Plan:
    """Run `__main__.py` for `stack` with its real stack file. One per process.

    Pass `plan` to keep what was registered even when the program fails.
    """
    project_dir = project_dir.resolve()
    project = project_settings(project_dir)["name"]
    bag, secret_keys = stack_config_bag(stack, project_dir, stack_file)
    previous = os.getcwd()
    sys.path.insert(0, str(project_dir))
    os.chdir(project_dir)
    try:
        _, plan = run_program(
            lambda: runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__"),
            project=project,
            stack=stack,
            config=bag,
            secret_keys=secret_keys,
            plan=plan,
        )
    finally:
        os.chdir(previous)
        sys.path.remove(str(project_dir))
    return plan


# ── presentation ────────────────────────────────────────────────────────────────────────


def render_tree(plan: Plan, max_children: int = 12) -> str:
    """Components with their children; long runs of custom resources are summarised."""
    lines: list[str] = []
    by_parent: dict[str, list[Registration]] = {}
    for r in plan.resources:
        by_parent.setdefault(r.parent, []).append(r)
    roots = [r for r in plan.resources if r.parent not in {x.urn for x in plan.resources}]

    def walk(node: Registration, depth: int) -> None:
        children = by_parent.get(node.urn, [])
        suffix = f"  ({len(children)} children)" if children else ""
        lines.append(f"{'  ' * depth}{node.type}  {node.name}{suffix}")
        shown = 0
        for child in children:
            if by_parent.get(child.urn) or shown < max_children:
                walk(child, depth + 1)
                shown += 0 if by_parent.get(child.urn) else 1
        hidden = sum(1 for c in children if not by_parent.get(c.urn)) - shown
        if hidden > 0:
            lines.append(f"{'  ' * (depth + 1)}... {hidden} more")

    for root in roots:
        walk(root, 0)
    return "\n".join(lines)


def render_counts(plan: Plan) -> str:
    counts = plan.counts()
    width = max((len(t) for t in counts), default=10)
    rows = [f"  {t:<{width}}  {n}" for t, n in sorted(counts.items())]
    return "\n".join([f"{sum(counts.values())} resources, {len(counts)} types:", *rows])


def refusal(run: Callable[[], object], stack_file: Path) -> list[str] | None:
    """Run `run`; None when it succeeds, else the problems, one line each (no traceback)."""
    from stacks.errors import ConfigError
    from stacks.stack_file import display_path

    try:
        run()
    except ConfigError as exc:
        shown = display_path(stack_file)
        if exc.source == "stack configuration":
            return [f"{shown}: {p}" for p in exc.problems]
        return [p if p.startswith(exc.source) else f"{exc.source}: {p}" for p in exc.problems]
    except DuplicateUrnError as exc:
        return [str(exc)]
    return None


def main(argv: list[str] | None = None, plan: Plan | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.plan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", required=True, help="stack name, e.g. dev or prod")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=PROJECT_DIR,
        help="another Pulumi project of this repository, e.g. bootstrap/ci",
    )
    parser.add_argument(
        "--stack-file", type=Path, help="stack file to use instead of Pulumi.<stack>.yaml"
    )
    parser.add_argument("--json", type=Path, help="write the full plan to this file")
    parser.add_argument("--quiet", action="store_true", help="print the counts only")
    options = parser.parse_args(argv)

    plan = (
        plan
        if plan is not None
        else Plan(project=project_settings(options.project_dir)["name"], stack=options.stack)
    )
    stack_file = options.stack_file or options.project_dir / f"Pulumi.{options.stack}.yaml"
    problems = refusal(
        lambda: run_plan(
            options.stack, project_dir=options.project_dir, stack_file=stack_file, plan=plan
        ),
        stack_file,
    )
    if problems is not None:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if plan.resources:
            print(
                f"({len(plan.resources)} resources were registered before the error)",
                file=sys.stderr,
            )
        return 2
    if not options.quiet:
        print(render_tree(plan))
        print()
    print(render_counts(plan))
    print(f"\nplanned stack '{plan.stack}' in {plan.seconds:.2f}s (program run, mocks)")
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(plan.to_json(), indent=1, sort_keys=False))
        print(f"wrote {options.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
