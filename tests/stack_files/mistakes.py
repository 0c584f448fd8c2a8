"""Mistaken stack files, each with what its refusal must say.

Every case is a whole stack file: a real one (`Pulumi.prod.yaml` or `Pulumi.dev.yaml`) with
one mistake, or raw text for the mistakes a parser sees. `expect` are fragments the single
error line must contain: the key, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROD_GROUP = {
    "instanceTypes": ["g5.2xlarge"],
    "minSize": 2,
    "maxSize": 6,
    "desiredSize": 2,
    "amiType": "AL2023_x86_64_NVIDIA",
    "diskSizeGib": 200,
}
GENERAL_GROUP = {
    "instanceTypes": ["m6i.2xlarge"],
    "minSize": 3,
    "maxSize": 12,
    "desiredSize": 4,
    "amiType": "AL2023_x86_64_STANDARD",
    "diskSizeGib": 80,
}
NETWORK = {
    "vpcCidr": "10.40.0.0/16",
    "availabilityZones": 3,
    "publicSubnets": ["10.40.0.0/24", "10.40.1.0/24", "10.40.2.0/24"],
    "applicationSubnets": ["10.40.16.0/20", "10.40.32.0/20", "10.40.48.0/20"],
    "dataSubnets": ["10.40.64.0/24", "10.40.65.0/24", "10.40.66.0/24"],
    "managementSubnets": ["10.40.80.0/24", "10.40.81.0/24", "10.40.82.0/24"],
}
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
DELETE = object()  # an override that removes the key


@dataclass(frozen=True)
class Mistake:
    name: str
    expect: tuple[str, ...]
    base: str = "prod"  # the real stack file the mistake is made in
    config: dict[str, Any] = field(default_factory=dict)  # sutazai:<key> -> value or DELETE
    raw: str | None = None  # the whole file, for what only a parser sees
    # The StackConfig key(s) this case covers (for the every-key check).
    keys: tuple[str, ...] = ()


def gpu(**changes: Any) -> dict[str, Any]:
    return {"general": GENERAL_GROUP, "gpu": {**PROD_GROUP, **changes}}


def general(**changes: Any) -> dict[str, Any]:
    return {"general": {**GENERAL_GROUP, **changes}, "gpu": PROD_GROUP}


def network(**changes: Any) -> dict[str, Any]:
    return {**NETWORK, **changes}


def m(name: str, key: str, value: Any, *expect: str, base: str = "prod") -> Mistake:
    """One top-level key set to one wrong value."""
    return Mistake(name, expect, base=base, config={key: value}, keys=(key,))


MISTAKES: list[Mistake] = [
    # ── platform, environment ────────────────────────────────────────────────────────
    m(
        "platform-unknown",
        "platform",
        "nomad",
        "sutazai:platform",
        "'nomad'",
        "'kubernetes' or 'docker'",
    ),
    m("prod-on-docker", "platform", "docker", "sutazai:platform", "prod runs on kubernetes"),
    Mistake(
        "environment-missing",
        ("sutazai:environment", "Field required"),
        config={"environment": DELETE},
        keys=("environment",),
    ),
    m(
        "environment-staging",
        "environment",
        "staging",
        "sutazai:environment",
        "'staging'",
        "'prod' or 'dev'",
    ),
    m(
        "environment-uppercase",
        "environment",
        "Prod",
        "sutazai:environment",
        "'Prod'",
        "'prod' or 'dev'",
    ),
    # ── AWS ──────────────────────────────────────────────────────────────────────────
    m("region-malformed", "awsRegion", "us-east", "sutazai:awsRegion", "'us-east'", "pattern"),
    m("region-uppercase", "awsRegion", "US-EAST-1", "sutazai:awsRegion", "'US-EAST-1'", "pattern"),
    m(
        "cluster-version-unknown",
        "clusterVersion",
        "1.99",
        "sutazai:clusterVersion",
        "'1.99'",
        "'1.30', '1.31' or '1.32'",
    ),
    m(
        "cluster-version-float",
        "clusterVersion",
        1.3,
        "sutazai:clusterVersion",
        "'1.3'",
        "'1.30', '1.31' or '1.32'",
    ),
    m(
        "public-access-world",
        "clusterPublicAccessCidrs",
        ["0.0.0.0/0"],
        "sutazai:clusterPublicAccessCidrs",
        "0.0.0.0/0",
        "list the actual CIDRs",
    ),
    m(
        "public-access-not-cidr",
        "clusterPublicAccessCidrs",
        ["10.1.2.300/32"],
        "sutazai:clusterPublicAccessCidrs[0]",
        "'10.1.2.300/32'",
        "IPv4 network",
    ),
    m(
        "admin-role-not-arn",
        "clusterAdminRoleArns",
        ["sutazai-deploy"],
        "sutazai:clusterAdminRoleArns[0]",
        "'sutazai-deploy'",
        "pattern",
    ),
    m(
        "admin-role-other-partition",
        "clusterAdminRoleArns",
        ["arn:aws-cn:iam::123456789012:role/x"],
        "sutazai:clusterAdminRoleArns[0]",
        "arn:aws-cn:iam::123456789012:role/x",
        "partition aws",
    ),
    m(
        "admin-roles-not-a-list",
        "clusterAdminRoleArns",
        "arn:aws:iam::123456789012:role/x",
        "sutazai:clusterAdminRoleArns",
        "not valid structured config",
    ),
    # ── network ──────────────────────────────────────────────────────────────────────
    m(
        "vpc-cidr-invalid",
        "network",
        network(vpcCidr="10.400.0.0/16"),
        "sutazai:network.vpcCidr",
        "'10.400.0.0/16'",
        "IPv4 network",
    ),
    m(
        "az-count-bool",
        "network",
        network(availabilityZones=True),
        "sutazai:network.availabilityZones",
        "True",
        "valid integer",
    ),
    m(
        "az-count-float",
        "network",
        network(availabilityZones=3.0),
        "sutazai:network.availabilityZones",
        "3.0",
        "valid integer",
    ),
    m(
        "az-count-string",
        "network",
        network(availabilityZones="3"),
        "sutazai:network.availabilityZones",
        "'3'",
        "valid integer",
    ),
    m(
        "az-count-too-many",
        "network",
        network(availabilityZones=7),
        "sutazai:network.availabilityZones",
        "7",
        "less than or equal to 6",
    ),
    m(
        "subnets-per-zone",
        "network",
        network(dataSubnets=["10.40.64.0/24"]),
        "sutazai:network.dataSubnets",
        "one subnet per availability zone (3), got 1",
    ),
    m(
        "subnet-outside-vpc",
        "network",
        network(dataSubnets=["10.99.0.0/24", "10.40.65.0/24", "10.40.66.0/24"]),
        "sutazai:network.dataSubnets[0]",
        "10.99.0.0/24",
        "outside vpcCidr",
    ),
    m(
        "subnets-overlap",
        "network",
        network(managementSubnets=["10.40.0.0/24", "10.40.81.0/24", "10.40.82.0/24"]),
        "sutazai:network.managementSubnets[0]",
        "10.40.0.0/24",
        "overlaps publicSubnets[0]",
    ),
    m(
        "network-unknown-key",
        "network",
        network(vpcCIDR="10.40.0.0/16"),
        "sutazai:network.vpcCIDR",
        "unknown key",
        "Did you mean 'vpcCidr'?",
    ),
    # ── node groups ──────────────────────────────────────────────────────────────────
    m(
        "gpu-min-size-word",
        "nodeGroups",
        gpu(minSize="two"),
        "sutazai:nodeGroups.gpu.minSize",
        "'two'",
        "valid integer",
    ),
    m(
        "gpu-min-size-bool",
        "nodeGroups",
        gpu(minSize=True),
        "sutazai:nodeGroups.gpu.minSize",
        "True",
        "valid integer",
    ),
    m(
        "gpu-max-size-float",
        "nodeGroups",
        gpu(maxSize=6.5),
        "sutazai:nodeGroups.gpu.maxSize",
        "6.5",
        "valid integer",
    ),
    m(
        "general-min-negative",
        "nodeGroups",
        general(minSize=-1),
        "sutazai:nodeGroups.general.minSize",
        "-1",
        "greater than or equal to 0",
    ),
    m(
        "general-max-beyond-eks",
        "nodeGroups",
        general(maxSize=5000),
        "sutazai:nodeGroups.general.maxSize",
        "5000",
        "less than or equal to 450",
    ),
    m(
        "desired-above-max",
        "nodeGroups",
        gpu(maxSize=1, minSize=1, desiredSize=2),
        "sutazai:nodeGroups.gpu.desiredSize",
        "1 <= 2 <= 1",
        "minSize <= desiredSize <= maxSize",
    ),
    m(
        "max-size-zero",
        "nodeGroups",
        gpu(maxSize=0, minSize=0, desiredSize=0),
        "sutazai:nodeGroups.gpu.maxSize",
        "0",
        "greater than or equal to 1",
    ),
    m(
        "instance-type-empty-list",
        "nodeGroups",
        gpu(instanceTypes=[]),
        "sutazai:nodeGroups.gpu.instanceTypes",
        "[]",
        "at least 1 item",
    ),
    m(
        "instance-type-empty-string",
        "nodeGroups",
        general(instanceTypes=[""]),
        "sutazai:nodeGroups.general.instanceTypes[0]",
        "''",
        "EC2 instance type such as m6i.2xlarge",
    ),
    m(
        "instance-type-malformed",
        "nodeGroups",
        general(instanceTypes=["m6i 2xlarge"]),
        "sutazai:nodeGroups.general.instanceTypes[0]",
        "'m6i 2xlarge'",
        "EC2 instance type",
    ),
    m(
        "gpu-group-cpu-instance",
        "nodeGroups",
        gpu(instanceTypes=["m6i.2xlarge"]),
        "sutazai:nodeGroups.gpu.instanceTypes[0]",
        "'m6i.2xlarge'",
        "g5.*",
    ),
    m(
        "gpu-group-amd-gpu",
        "nodeGroups",
        gpu(instanceTypes=["g4ad.xlarge"]),
        "sutazai:nodeGroups.gpu.instanceTypes[0]",
        "'g4ad.xlarge'",
        "NVIDIA GPU instances",
    ),
    m(
        "general-group-gpu-instance",
        "nodeGroups",
        general(instanceTypes=["p4d.24xlarge"]),
        "sutazai:nodeGroups.general.instanceTypes[0]",
        "'p4d.24xlarge'",
        "CPU instances",
    ),
    m(
        "arm-ami-x86-instance",
        "nodeGroups",
        general(amiType="AL2023_ARM_64_STANDARD"),
        "sutazai:nodeGroups.general.instanceTypes[0]",
        "'m6i.2xlarge'",
        "Arm (Graviton)",
    ),
    m(
        "gpu-group-cpu-ami",
        "nodeGroups",
        gpu(amiType="BOTTLEROCKET_x86_64"),
        "sutazai:nodeGroups.gpu.amiType",
        "'BOTTLEROCKET_x86_64'",
        "AL2023_x86_64_NVIDIA",
    ),
    m(
        "ami-unknown",
        "nodeGroups",
        general(amiType="ubuntu"),
        "sutazai:nodeGroups.general.amiType",
        "'ubuntu'",
        "AL2023_x86_64_STANDARD",
    ),
    m(
        "disk-too-small",
        "nodeGroups",
        general(diskSizeGib=8),
        "sutazai:nodeGroups.general.diskSizeGib",
        "8",
        "greater than or equal to 20",
    ),
    m(
        "instance-type-twice",
        "nodeGroups",
        general(instanceTypes=["m6i.2xlarge", "m6i.2xlarge"]),
        "sutazai:nodeGroups.general.instanceTypes",
        "['m6i.2xlarge']",
        "more than once",
    ),
    m(
        "node-group-unknown-key",
        "nodeGroups",
        gpu(instanceType=["g5.xlarge"]),
        "sutazai:nodeGroups.gpu.instanceType",
        "unknown key",
        "Did you mean 'instanceTypes'?",
    ),
    # ── services ─────────────────────────────────────────────────────────────────────
    m(
        "service-unknown",
        "services",
        {"olama": {"replicas": 2}},
        "sutazai:services.olama",
        "not a catalog service",
        "Did you mean 'ollama'?",
    ),
    m(
        "service-enabled-string",
        "services",
        {"neo4j": {"enabled": "yes"}},
        "sutazai:services.neo4j.enabled",
        "'yes'",
        "valid boolean",
    ),
    m(
        "replicas-zero",
        "services",
        {"backend": {"replicas": 0}},
        "sutazai:services.backend.replicas",
        "0",
        "greater than or equal to 1",
    ),
    m(
        "replicas-float",
        "services",
        {"backend": {"replicas": 2.5}},
        "sutazai:services.backend.replicas",
        "2.5",
        "valid integer",
    ),
    m(
        "replicas-bool",
        "services",
        {"backend": {"replicas": True}},
        "sutazai:services.backend.replicas",
        "True",
        "valid integer",
    ),
    m(
        "memory-limit-below-request",
        "services",
        {"ollama": {"resources": {"memoryLimit": "1Gi"}}},
        "sutazai:services.ollama.resources.memoryLimit",
        "'1Gi'",
        "below the request memory",
    ),
    m(
        "cpu-limit-below-request",
        "services",
        {"backend": {"resources": {"cpu": "4", "cpuLimit": "2"}}},
        "sutazai:services.backend.resources",
        "'2'",
        "below the request cpu '4'",
    ),
    m(
        "cpu-limit-zero",
        "services",
        {"backend": {"resources": {"cpuLimit": "0"}}},
        "sutazai:services.backend.resources",
        "'0'",
        "non-zero",
    ),
    m(
        "memory-zero",
        "services",
        {"redis": {"resources": {"memory": "0Mi"}}},
        "sutazai:services.redis.resources",
        "'0Mi'",
        "non-zero",
    ),
    m(
        "memory-no-unit",
        "services",
        {"redis": {"resources": {"memory": "512"}}},
        "sutazai:services.redis.resources",
        "'512'",
        "memory quantity such as 512Mi",
    ),
    m(
        "resources-unknown-key",
        "services",
        {"redis": {"resources": {"memoryLimits": "1Gi"}}},
        "sutazai:services.redis.resources.memoryLimits",
        "unknown key",
        "Did you mean 'memoryLimit'?",
    ),
    m(
        "postgres-off-backend-on",
        "services",
        {"postgres": {"enabled": False}},
        "sutazai:services.postgres.enabled",
        "turns off postgres (data tier)",
        "postgres by pgbouncer, backend, letta",
    ),
    m(
        "data-tier-off",
        "disabledTiers",
        ["data"],
        "sutazai:disabledTiers",
        "turns off postgres (data tier), redis (data tier)",
        "redis by backend, agentgpt",
        "enable them or disable those services too",
    ),
    m(
        "tier-unknown",
        "disabledTiers",
        ["agents"],
        "sutazai:disabledTiers[0]",
        "'agents'",
        "'data', 'core', 'vector', 'agent'",
    ),
    # ── Vault ────────────────────────────────────────────────────────────────────────
    m(
        "vault-address-http-in-prod",
        "vaultAddress",
        "http://vault.ops.sutazai.example.com:8200",
        "sutazai:vaultAddress",
        "'http://vault.ops.sutazai.example.com:8200'",
        "https only",
    ),
    m(
        "vault-address-no-scheme",
        "vaultAddress",
        "vault.example.com:8200",
        "sutazai:vaultAddress",
        "'vault.example.com:8200'",
        "http(s)://<host>[:<port>]",
    ),
    m(
        "vault-address-path",
        "vaultAddress",
        "https://vault.example.com/v1/",
        "sutazai:vaultAddress",
        "'https://vault.example.com/v1/'",
        "http(s)://<host>[:<port>]",
    ),
    m(
        "vault-address-bad-port",
        "vaultAddress",
        "https://vault.example.com:99999",
        "sutazai:vaultAddress",
        "99999",
        "http(s)://<host>[:<port>]",
    ),
    m(
        "vault-address-credentials",
        "vaultAddress",
        "https://root:s3cret@vault.example.com",
        "sutazai:vaultAddress",
        "credentials never go in the address",
    ),
    m(
        "vault-auth-unknown",
        "vaultAuthMethod",
        "ldap",
        "sutazai:vaultAuthMethod",
        "'ldap'",
        "'token' or 'aws'",
    ),
    m(
        "vault-mode-container-prod",
        "vaultMode",
        "container",
        "sutazai:vaultMode",
        "prod uses an existing Vault",
    ),
    m(
        "vault-container-on-kubernetes",
        "platform",
        "kubernetes",
        "sutazai:vaultMode",
        "'container'",
        "vaultMode: existing",
        base="dev",
    ),
    m(
        "vault-cidrs-overlap-vpc",
        "vaultCidrs",
        ["10.40.8.0/24"],
        "sutazai:vaultCidrs[0]",
        "10.40.8.0/24",
        "overlaps the VPC 10.40.0.0/16",
    ),
    m(
        "vault-cidrs-world",
        "vaultCidrs",
        ["0.0.0.0/0"],
        "sutazai:vaultCidrs",
        "0.0.0.0/0",
        "list the actual CIDRs",
    ),
    m(
        "vault-cidrs-missing-prod",
        "vaultCidrs",
        [],
        "sutazai:vaultCidrs",
        "prod needs the Vault servers' CIDRs",
    ),
    m(
        "vault-route-igw",
        "vaultRouteTarget",
        "igw-0123456789abcdef0",
        "sutazai:vaultRouteTarget",
        "'igw-0123456789abcdef0'",
        "pattern",
    ),
    m(
        "vault-route-missing-prod",
        "vaultRouteTarget",
        "",
        "sutazai:vaultRouteTarget",
        "tgw-... or pcx-...",
    ),
    m(
        "vault-bootstrapped-yes",
        "vaultBootstrapped",
        "yes",
        "sutazai:vaultBootstrapped",
        "'yes'",
        "valid boolean",
    ),
    m(
        "vault-bootstrapped-false-prod",
        "vaultBootstrapped",
        False,
        "sutazai:vaultBootstrapped",
        "prod uses an initialised Vault",
    ),
    m(
        "vault-bootstrapped-false-existing",
        "vaultMode",
        "existing",
        "sutazai:vaultBootstrapped",
        "only for a fresh dev Vault container",
        base="dev",
    ),
    m(
        "vault-injector-unknown",
        "vaultInjector",
        "sidecar",
        "sutazai:vaultInjector",
        "'sidecar'",
        "'deploy' or 'existing'",
    ),
    # ── images and models ────────────────────────────────────────────────────────────
    m(
        "registry-with-scheme",
        "imageRegistry",
        "https://registry.example.com",
        "sutazai:imageRegistry",
        "'https://registry.example.com'",
        "named without one",
    ),
    m(
        "registry-docker-hub-namespace",
        "imageRegistry",
        "myteam",
        "sutazai:imageRegistry",
        "'myteam'",
        "name the host with its domain",
    ),
    m(
        "registry-uppercase-path",
        "imageRegistry",
        "registry.example.com/SutazAI",
        "sutazai:imageRegistry",
        "'SutazAI'",
        "lowercase",
    ),
    m(
        "registry-trailing-slash",
        "imageRegistry",
        "registry.example.com/",
        "sutazai:imageRegistry",
        "''",
        "repository name",
    ),
    m(
        "image-tag-latest",
        "imageTag",
        "latest",
        "sutazai:imageTag",
        "'latest'",
        "use a version or commit",
    ),
    m(
        "image-tag-too-long",
        "imageTag",
        "v" * 116,
        "sutazai:imageTag",
        "'vvvv",
        "at most 115 characters",
    ),
    m("image-tag-slash", "imageTag", "feature/x", "sutazai:imageTag", "'feature/x'", "pattern"),
    m(
        "ollama-model-spaces",
        "ollamaModels",
        ["llama 3"],
        "sutazai:ollamaModels[0]",
        "'llama 3'",
        "llama3.1:8b",
    ),
    m("ollama-model-empty", "ollamaModels", [""], "sutazai:ollamaModels[0]", "''", "Ollama model"),
    m(
        "ollama-models-collide",
        "ollamaModels",
        ["llama3.1:8b", "llama3-1:8b"],
        "sutazai:ollamaModels[1]",
        "'llama3-1:8b'",
        "'llama3-1-8b'",
    ),
    m(
        "ollama-model-twice",
        "ollamaModels",
        ["tinyllama", "tinyllama"],
        "sutazai:ollamaModels[1]",
        "'tinyllama'",
        "list each model once",
        base="dev",
    ),
    m(
        "ollama-models-a-string",
        "ollamaModels",
        "tinyllama",
        "sutazai:ollamaModels",
        "not valid structured config",
        base="dev",
    ),
    m(
        "docker-gpu-on-kubernetes",
        "dockerHostGpu",
        True,
        "sutazai:dockerHostGpu",
        "only the docker platform reads it",
    ),
    m(
        "docker-gpu-word",
        "dockerHostGpu",
        "on",
        "sutazai:dockerHostGpu",
        "'on'",
        "valid boolean",
        base="dev",
    ),
    # ── ingress ──────────────────────────────────────────────────────────────────────
    m(
        "domain-uppercase",
        "domain",
        "SutazAI.example.com",
        "sutazai:domain",
        "'SutazAI'",
        "RFC 1123",
    ),
    m(
        "domain-underscore",
        "domain",
        "sut_azai.example.com",
        "sutazai:domain",
        "'sut_azai'",
        "RFC 1123",
    ),
    m(
        "domain-control-char",
        "domain",
        "sutazai.example.com\n",
        "sutazai:domain",
        "'com\\n'",
        "RFC 1123",
    ),
    m(
        "domain-too-long",
        "domain",
        ".".join(["a" * 60] * 5),
        "sutazai:domain",
        "304 characters",
        "at most 249",
    ),
    m(
        "domain-label-too-long",
        "domain",
        "a" * 64 + ".example.com",
        "sutazai:domain",
        "'aaaa",
        "1-63",
    ),
    m("domain-ip", "domain", "10.0.0.1", "sutazai:domain", "IP address", "DNS name"),
    m(
        "domain-single-label-prod",
        "domain",
        "localhost",
        "sutazai:domain",
        "'localhost'",
        "fully qualified",
    ),
    m(
        "tls-missing-prod",
        "tlsCertificateArn",
        "",
        "sutazai:tlsCertificateArn",
        "prod serves the frontend and API over HTTPS",
        "arn:aws:acm",
    ),
    m(
        "tls-not-acm",
        "tlsCertificateArn",
        "arn:aws:iam::123456789012:server-certificate/x",
        "sutazai:tlsCertificateArn",
        "'arn:aws:iam::123456789012:server-certificate/x'",
        "ACM certificate ARN",
    ),
    m(
        "tls-other-region",
        "tlsCertificateArn",
        CERT.replace("us-east-1", "eu-west-1"),
        "sutazai:tlsCertificateArn",
        "eu-west-1",
        "certificate of its own region",
    ),
    # ── ephemeral and policy ─────────────────────────────────────────────────────────
    m(
        "shared-cluster-not-qualified",
        "sharedClusterStack",
        "dev-cluster",
        "sutazai:sharedClusterStack",
        "'dev-cluster'",
        "<org>/<project>/<stack>",
        base="dev",
    ),
    m(
        "shared-cluster-in-prod",
        "sharedClusterStack",
        "org/sutazai/dev-cluster",
        "sutazai:sharedClusterStack",
        "prod runs its own cluster",
    ),
    Mistake(
        "ephemeral-owner-without-expiry",
        ("sutazai:ephemeralExpiresAt", "set both ephemeralOwner and ephemeralExpiresAt"),
        base="dev",
        config={"ephemeralOwner": "alice"},
        keys=("ephemeralOwner",),
    ),
    Mistake(
        "ephemeral-owner-uppercase",
        ("sutazai:ephemeralOwner", "'Alice'", "lowercase letters"),
        base="dev",
        config={"ephemeralOwner": "Alice", "ephemeralExpiresAt": "2030-01-01T00:00:00Z"},
        keys=("ephemeralOwner",),
    ),
    Mistake(
        "ephemeral-expiry-no-timezone",
        ("sutazai:ephemeralExpiresAt", "'2030-01-01T00:00:00'", "add Z for UTC"),
        base="dev",
        config={"ephemeralOwner": "alice", "ephemeralExpiresAt": "2030-01-01T00:00:00"},
        keys=("ephemeralExpiresAt",),
    ),
    m("ephemeral-prod", "ephemeralOwner", "alice", "sutazai:ephemeralExpiresAt", "set both"),
    m(
        "policy-advisory-prod",
        "policyEnforcement",
        "advisory",
        "sutazai:policyEnforcement",
        "prod enforces every policy (mandatory)",
    ),
    m(
        "policy-unknown",
        "policyEnforcement",
        "strict",
        "sutazai:policyEnforcement",
        "'strict'",
        "'mandatory' or 'advisory'",
    ),
    # ── the stack file itself ────────────────────────────────────────────────────────
    m(
        "misspelt-key",
        "plattform",
        "kubernetes",
        "sutazai:plattform",
        "unknown key",
        "Did you mean 'platform'?",
    ),
    Mistake(
        "misspelt-namespace",
        ("sutazi:domain", "namespace 'sutazi'", "only 'sutazai:' keys"),
        raw="config:\n  sutazai:environment: dev\n  sutazai:platform: docker\n"
        "  sutazai:vaultMode: container\n  sutazai:vaultBootstrapped: false\n"
        "  sutazi:domain: localhost\n",
    ),
    Mistake(
        "provider-namespace",
        ("aws:region", "namespace 'aws'", "only 'sutazai:' keys"),
        raw="config:\n  sutazai:environment: dev\n  sutazai:platform: docker\n"
        "  sutazai:vaultMode: container\n  sutazai:vaultBootstrapped: false\n"
        "  aws:region: eu-west-1\n",
    ),
    Mistake(
        "unknown-top-level-key",
        ("unknown top-level key 'confg'", "allowed: config"),
        raw="confg:\n  sutazai:environment: dev\n",
    ),
    Mistake(
        "duplicate-key",
        (
            ":4:3:",
            "duplicate key 'sutazai:platform' (first on line 3)",
            "sutazai:platform: kubernetes",
        ),
        raw="config:\n  sutazai:environment: dev\n  sutazai:platform: docker\n"
        "  sutazai:platform: kubernetes\n",
    ),
    Mistake(
        "duplicate-nested-key",
        (":6:7:", "duplicate key 'minSize' (first on line 5)", "'minSize: 2'"),
        raw="config:\n  sutazai:environment: dev\n  sutazai:nodeGroups:\n    gpu:\n"
        "      minSize: 1\n      minSize: 2\n",
    ),
    Mistake(
        "syntax-error-indent",
        (":3:20:", "mapping values are not allowed here", "'sutazai:platform: docker'"),
        raw="config:\n  sutazai:environment: dev\n   sutazai:platform: docker\n",
    ),
    Mistake(
        "syntax-error-unclosed-list",
        (":4:1:", "expected ',' or ']'"),
        raw="config:\n  sutazai:environment: dev\n  sutazai:ollamaModels: [tinyllama\n",
    ),
    Mistake(
        "syntax-error-tab",
        (":2:1:", "found character '\\t' that cannot start any token"),
        raw="config:\n\tsutazai:environment: dev\n",
    ),
    Mistake(
        "alias-bomb",
        ("aliases expand to more than 50000 values",),
        raw="config:\n  sutazai:environment: dev\nx:\n"
        + "".join(
            f"  {chr(97 + i)}: &{chr(97 + i)} ["
            + ",".join([f"*{chr(96 + i)}"] * 9 if i else ['"lol"'] * 9)
            + "]\n"
            for i in range(10)
        ),
    ),
    Mistake(
        "alias-cycle",
        ("refers to the node that contains it",),
        raw="config: &c\n  sutazai:environment: dev\n  loop: *c\n",
    ),
    Mistake(
        "not-a-mapping",
        ("a stack file is a mapping with a 'config' key, got a list",),
        raw="- sutazai:environment: dev\n",
    ),
    Mistake(
        "config-not-a-mapping",
        ("'config' is a mapping of keys to values, got a list",),
        raw="config:\n  - sutazai:environment\n",
    ),
    Mistake(
        "binary-value",
        ("sutazai:domain: a bytes is not a config value",),
        raw="config:\n  sutazai:environment: dev\n  sutazai:domain: !!binary aGVsbG8=\n",
    ),
    Mistake(
        "python-tag",
        ("could not determine a constructor", "!!python/object"),
        raw="config:\n  sutazai:environment: !!python/object:os.system dev\n",
    ),
    Mistake(
        "unquoted-timestamp-is-a-string",
        ("sutazai:ephemeralExpiresAt", "'2030-01-01T00:00:00'", "add Z for UTC"),
        raw="config:\n  sutazai:environment: dev\n  sutazai:platform: docker\n"
        "  sutazai:vaultMode: container\n  sutazai:vaultBootstrapped: false\n"
        "  sutazai:ephemeralOwner: alice\n  sutazai:ephemeralExpiresAt: 2030-01-01T00:00:00\n",
    ),
    Mistake(
        "yaml11-yes-is-a-string",
        ("sutazai:dockerHostGpu", "'yes'", "valid boolean"),
        raw="config:\n  sutazai:environment: dev\n  sutazai:platform: docker\n"
        "  sutazai:vaultMode: container\n  sutazai:vaultBootstrapped: false\n"
        "  sutazai:dockerHostGpu: yes\n",
    ),
    m("value-missing", "domain", None, "sutazai:domain", "has no value"),
    m(
        "scalar-key-given-a-list",
        "imageTag",
        ["1.0.0"],
        "sutazai:imageTag",
        "takes a single value, got a list",
    ),
    m(
        "scalar-key-given-a-mapping",
        "vaultAddress",
        {"url": "https://vault"},
        "sutazai:vaultAddress",
        "got a mapping",
    ),
]
