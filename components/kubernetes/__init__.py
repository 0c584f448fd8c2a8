"""Kubernetes (EKS) infrastructure and the workload renderer behind the `Platform` interface.

`KubernetesInfrastructure` is what `stacks.composition.SutazAI` builds on the kubernetes
platform: the AWS provider, the segmented VPC, the EKS cluster with its add-ons, managed data
services in prod, the tier namespaces (PSS restricted, default-deny), and the binding the
Secrets component needs. `platform()` hands the tiers a `KubernetesPlatform`, whose
`deploy(spec, parent)` renders one catalog service.

An ephemeral stack (`sharedClusterStack` set) creates no network or cluster: it reads the
shared cluster's kubeconfig from that stack and deploys into namespaces named after itself.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, Any, Protocol

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import configs, launch
from components.backup import STACK_TAG, backup_tags
from components.configs import observability
from components.configs.alertmanager import AlertDelivery
from components.kubernetes import naming, network_policies, workloads
from components.kubernetes.models import model_preload
from components.kubernetes.naming import Naming
from components.kubernetes.network_policies import Destination, PolicyInputs
from components.managed_data import ManagedCredentials
from components.platform import (
    DeployedService,
    KubernetesVaultBinding,
    Platform,
    edge_env,
    is_api,
    serves_browser,
    token_file_variable,
    workload_token_apis,
)
from stacks.catalog import Catalog, Segment, ServiceSpec, Tier
from stacks.config import StackConfig
from stacks.errors import ConfigError
from stacks.wiring import AddressOf, managed_services, service_env

if TYPE_CHECKING:
    from components.alarms import AlertTopic, ManagedAlarms
    from components.backup import BackupBucket, DataBackups
    from components.cluster import EksCluster
    from components.edge import PublicEdge
    from components.images import ServiceImages
    from components.managed_data import ManagedData, ManagedEndpoint
    from components.network import SegmentedNetwork

__all__ = ["KubernetesInfrastructure", "KubernetesPlatform", "KubernetesSecretSource"]

HTTPS = 443
# The API service's projected token for the API server (it reads the cluster's JWKS).
KUBE_API_TOKEN_FILE = "kube-api-token"
HTTP = 80
# RFC 1918: what an egress to public endpoints excepts.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
# The image the backup jobs run (catalog base_images; service-code/base/backup-jobs).
BACKUP_IMAGE = "backup-jobs"
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


class KubernetesSecretSource(ManagedCredentials, Protocol):
    """What the renderer needs from the Secrets component (components/secrets.py)."""

    def kubernetes_pod_annotations(
        self, spec: ServiceSpec, address_of: AddressOf | None = None
    ) -> dict[str, pulumi.Input[str]]:
        """Vault Agent injector annotations; files land in /vault/secrets (memory)."""
        ...

    def file_env(self, spec: ServiceSpec) -> dict[str, str]:
        """Env that points the service at its files, e.g. POSTGRES_PASSWORD_FILE."""
        ...

    def env_file(self, spec: ServiceSpec) -> str | None:
        """The env file the container sources before its entrypoint, if any."""
        ...

    def provisioning_file(self, spec: ServiceSpec) -> str | None:
        """An issuer's server-side client file (its --aclfile, its roles SQL), if any."""
        ...

    def provisioning_fingerprint(self, spec: ServiceSpec) -> pulumi.Output[str] | None:
        """A non-secret digest of the issuer's provisioning file content."""
        ...

    def readiness_for(self, spec: ServiceSpec) -> list[pulumi.Resource]:
        """What a pod of `spec` must wait for to be injected and get its files: the
        injector's webhook, the service's Vault policy and role, its KV entries."""
        ...

    def bind_postgres(
        self,
        host: pulumi.Input[str],
        port: pulumi.Input[int] = 5432,
        admin_username: pulumi.Input[str] = "postgres",
        admin_password: pulumi.Input[str] | None = None,
        database: str | None = None,
    ) -> object:
        """Point Vault's database secrets engine at the (RDS) server, once it exists."""
        ...


def ingress_hosts(catalog: Catalog, domain: str) -> dict[str, str]:
    """Public host per `ingress` service: the API (what other ingress services call) on
    api.<domain>, the one remaining entry point on <domain>, anything else on <name>.<domain>."""
    exposed = [s for s in catalog if s.ingress]
    called = {t for s in exposed for t in s.talks_to}
    hosts: dict[str, str] = {}
    apex_taken = False
    for spec in sorted(exposed, key=lambda s: (s.name in called, s.name)):
        if spec.name in called and "api" not in {h.split(".")[0] for h in hosts.values()}:
            hosts[spec.name] = f"api.{domain}"
        elif not apex_taken and spec.name not in called:
            hosts[spec.name] = domain
            apex_taken = True
        else:
            hosts[spec.name] = f"{spec.name}.{domain}"
    return hosts


@dataclass(frozen=True)
class _Cluster:
    """What the renderer needs from a cluster, whether this stack made it or shares one."""

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    api_host: pulumi.Input[str]
    ca_certificate: pulumi.Input[str]
    storage_class: str
    name: pulumi.Input[str] | None = None
    # Resources an Ingress must wait for (the load balancer controller's webhooks).
    ingress_ready: tuple[pulumi.Resource, ...] = ()
    # Resources a pod with volume claims must wait for (the StorageClass, the EBS CSI driver).
    storage_ready: tuple[pulumi.Resource, ...] = ()
    load_balancer_security_group: pulumi.Input[str] | None = None
    # The `iss` of the cluster's ServiceAccount tokens (workload identity).
    token_issuer: pulumi.Output[str] | None = None


class KubernetesInfrastructure(pulumi.ComponentResource):
    # (No class-level annotations: Pulumi resolves those at run time as output types.)

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        catalog: Catalog,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:kubernetes:KubernetesInfrastructure", name, None, opts)
        self._name = name
        self.config = config
        self.catalog = catalog
        self.naming = Naming.for_stack(pulumi.get_stack(), config.is_ephemeral)
        self.protect = config.is_prod
        self._tags = tags
        self.aws_provider: aws.Provider | None = aws.Provider(
            f"{name}-aws",
            region=config.aws_region,
            default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        managed = managed_services(catalog, use_managed=config.uses_managed_data)
        self.managed_specs = [s for s in catalog if s.name in managed]
        self._check_restore(managed)
        # What AWS Backup's selections pick (components/backup.py); nothing without backups.
        self.backup_tags: dict[str, str] = (
            backup_tags(pulumi.get_stack()) if config.backup.enabled else {}
        )
        self.network: SegmentedNetwork | None = None
        self.eks: EksCluster | None = None
        self.managed: ManagedData | None = None
        # alerting.snsTopic: the topic, CloudWatch alarms, and Alertmanager's IRSA role.
        self.alert_topic: AlertTopic | None = None
        self.alarms: ManagedAlarms | None = None
        self.alert_publisher_role: aws.iam.Role | None = None
        self.backups: DataBackups | None = None
        self.backup_bucket: BackupBucket | None = None
        if config.shared_cluster_stack:
            self.cluster = self._shared_cluster()
        else:
            self.cluster = self._own_cluster()

        self.namespaces = self._namespaces()
        self.edge = self._edge()

    def _edge(self) -> PublicEdge | None:
        """WAF, access logs and the users' identity provider for the stack's public ALB."""
        from components.edge import EdgeArgs, PublicEdge

        if not any(s.ingress for s in self.catalog):
            return None
        return PublicEdge(
            f"{self._name}-edge",
            EdgeArgs(
                config=self.config.edge,
                domain=self.config.domain,
                region=self.config.aws_region,
                prefix=f"sutazai-{pulumi.get_stack()}"
                if not self.config.is_prod
                else "sutazai-prod",
                protect=self.protect,
                provider=self.aws_provider,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _check_restore(self, managed: frozenset[str]) -> None:
        """Restore ids name services this stack deploys, in a form they can be restored to."""
        restore, problems = self.config.restore, []
        key = "sutazai:restore"
        for name in sorted(restore.volumes):
            spec = self.catalog.services.get(name)
            if spec is None or spec.storage is None or name in managed:
                stateful = sorted(
                    s.name for s in self.catalog if s.storage is not None and s.name not in managed
                )
                problems.append(
                    f"{key}.volumes.{name}: not a service of this stack with a volume; "
                    f"allowed: {', '.join(stateful)}"
                )
            elif spec.replicas != 1:
                problems.append(
                    f"{key}.volumes.{name}: {spec.replicas} replicas; a snapshot restores one "
                    "volume, so restore with replicas 1 and scale up after the check"
                )
        for name in sorted(restore.databases):
            spec = self.catalog.services.get(name)
            kind = spec.managed_in_prod.kind if spec and spec.managed_in_prod else None
            if kind != "rds-postgresql":
                rds = sorted(
                    s.name
                    for s in self.catalog
                    if s.managed_in_prod and s.managed_in_prod.kind == "rds-postgresql"
                )
                problems.append(
                    f"{key}.databases.{name}: not a managed PostgreSQL (RDS) service; "
                    f"allowed: {', '.join(rds)}"
                )
        if problems:
            raise ConfigError("stack configuration", problems)

    def _managed_data(self, credentials: ManagedCredentials) -> ManagedData | None:
        """RDS / ElastiCache (prod), created with the Secrets component's credentials."""
        from components.managed_data import ManagedData, ManagedDataArgs

        if not self.managed_specs or self.network is None:
            return None
        return ManagedData(
            f"{self._name}-data",
            ManagedDataArgs(
                services=self.managed_specs,
                catalog=self.catalog,
                network=self.network,
                protect=self.protect,
                credentials=credentials,
                provider=self.aws_provider,
                backup_tags=self.backup_tags,
                snapshot_retention_days=self.config.backup.elasticache_snapshot_retention_days,
                restore_snapshots=self.config.restore.databases,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _backups(self) -> None:
        """AWS Backup for this stack's volumes and databases, and the bucket the application
        snapshot jobs write to (components/backup.py)."""
        from components.backup import BackupBucket, DataBackups, DataBackupsArgs
        from components.kubernetes.backup_jobs import ONLINE_BACKUPS

        if not self.config.backup.enabled or self.eks is None:
            return
        keys: list[pulumi.Input[str]] = [self.eks.volumes_key.arn]
        if self.managed is not None:
            keys.append(self.managed.key.arn)
        self.backups = DataBackups(
            f"{self._name}-backup",
            DataBackupsArgs(
                stack=pulumi.get_stack(),
                config=self.config.backup,
                protect=self.protect,
                tags=self._tags,
                provider=self.aws_provider,
                data_keys=keys,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if any(name in ONLINE_BACKUPS for name in self.catalog.services):
            self.backup_bucket = BackupBucket(
                f"{self._name}-app-backups",
                retention_days=self.config.backup.bucket_retention_days,
                protect=self.protect,
                provider=self.aws_provider,
                opts=pulumi.ResourceOptions(parent=self),
            )

    # ── cluster ──────────────────────────────────────────────────────────────────────────

    def _own_cluster(self) -> _Cluster:
        from components.cluster import STORAGE_CLASS, EksCluster, EksClusterArgs
        from components.network import NetworkArgs, SegmentedNetwork

        name, config = self._name, self.config
        cluster_name = name
        self.network = SegmentedNetwork(
            f"{name}-network",
            NetworkArgs(
                config=config.network,
                catalog=self.catalog,
                managed=self.managed_specs,
                region=config.aws_region,
                cluster_name=cluster_name,
                nat_per_zone=config.is_prod,
                protect=self.protect,
                provider=self.aws_provider,
                vault_cidrs=tuple(str(c) for c in config.vault_cidrs),
                vault_route_target=config.vault_route_target,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.eks = EksCluster(
            f"{name}-cluster",
            EksClusterArgs(
                config=config,
                network=self.network,
                cluster_name=cluster_name,
                protect=self.protect,
                provider=self.aws_provider,
                volume_tags=(
                    {**self.backup_tags, STACK_TAG: pulumi.get_stack()} if self.backup_tags else {}
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if config.ci_runner.enabled:
            self._ci_runner(self.network)
        if config.alerting.sns_topic:
            self._alert_topic(self.eks, self.network)
        return _Cluster(
            provider=self.eks.k8s_provider,
            kubeconfig=self.eks.kubeconfig,
            api_host=self.eks.api_endpoint,
            ca_certificate=self.eks.certificate_authority.apply(_pem),
            storage_class=STORAGE_CLASS,
            name=self.eks.cluster.name,
            ingress_ready=(self.eks.load_balancer_controller,),
            storage_ready=(self.eks.ebs_addon, self.eks.storage_class),
            load_balancer_security_group=self.network.load_balancer_security_group.id,
            token_issuer=self.eks.oidc_issuer,
        )

    def _ci_runner(self, network: SegmentedNetwork) -> None:
        """The in-VPC GitHub Actions runner of the workflows that reach this cluster."""
        from components.ci_runner import CiRunner, CiRunnerArgs, runner_project_name

        config = self.config
        CiRunner(
            f"{self._name}-ci-runner",
            CiRunnerArgs(
                config=config.ci_runner,
                project_name=runner_project_name(pulumi.get_stack()),
                region=config.aws_region,
                vpc_id=network.vpc.id,
                subnet_ids=network.subnet_ids(Segment.MANAGEMENT.value),
                api_security_group_id=network.management_security_group.id,
                vault_cidrs=tuple(str(c) for c in config.vault_cidrs),
                logs_key_arn=network.logs_key.arn,
                provider=self.aws_provider,
                protect=self.protect,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _alert_topic(self, eks: EksCluster, network: SegmentedNetwork) -> None:
        """The SNS topic, the NAT alarms, and the role Alertmanager publishes with."""
        from components.alarms import AlertTopic, ManagedAlarms

        opts = pulumi.ResourceOptions(parent=self)
        self.alert_topic = AlertTopic(
            f"{self._name}-alerting", provider=self.aws_provider, protect=self.protect, opts=opts
        )
        self.alarms = ManagedAlarms(
            f"{self._name}-alarms",
            topic_arn=self.alert_topic.topic.arn,
            provider=self.aws_provider,
            opts=opts,
        )
        self.alarms.nat_gateways([gateway.id for gateway in network.nat_gateways])
        router = self.catalog.services.get(observability.ALERT_ROUTER)
        if router is not None:
            self.alert_publisher_role = eks.irsa_role(
                "alert-publisher",
                self.naming.namespace_of(router),
                self.naming.service_account_of(router),
                policy=self.alert_topic.publisher_policy,
            )

    def _managed_alarms(self) -> None:
        from components.managed_data import POSTGRES_INSTANCE_CLASS, storage_gib

        if self.alarms is None or self.managed is None:
            return
        for name, endpoint in self.managed.endpoints.items():
            managed = endpoint.spec.managed_in_prod
            assert managed is not None
            resource = endpoint.resources[0]
            if isinstance(resource, aws.rds.Instance):
                self.alarms.rds(
                    name,
                    resource.identifier,
                    POSTGRES_INSTANCE_CLASS,
                    storage_gib(endpoint.spec),
                )
            elif isinstance(resource, aws.elasticache.ReplicationGroup):
                members = max(2, endpoint.spec.replicas)
                # ElastiCache names a group's member nodes <group id>-001, -002, ...
                self.alarms.elasticache(
                    name,
                    [
                        resource.replication_group_id.apply(lambda g, i=i: f"{g}-{i:03d}")
                        for i in range(1, members + 1)
                    ],
                )

    def _shared_cluster(self) -> _Cluster:
        from components.cluster import STORAGE_CLASS

        shared = pulumi.StackReference(
            f"{self._name}-shared-cluster",
            stack_name=self.config.shared_cluster_stack,
            opts=pulumi.ResourceOptions(parent=self),
        )
        kubeconfig = pulumi.Output.secret(shared.require_output("kubeconfig")).apply(
            lambda v: v if isinstance(v, str) else json.dumps(v)
        )
        provider = k8s.Provider(
            f"{self._name}-k8s",
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return _Cluster(
            provider=provider,
            kubeconfig=kubeconfig,
            api_host=shared.require_output("clusterEndpoint").apply(str),
            ca_certificate=shared.require_output("clusterCertificateAuthority").apply(str),
            storage_class=STORAGE_CLASS,
            name=shared.require_output("clusterName").apply(str),
            token_issuer=shared.require_output("clusterTokenIssuer").apply(str),
        )

    # ── namespaces ───────────────────────────────────────────────────────────────────────

    @property
    def tiers(self) -> list[Tier]:
        return [t for t in Tier if self.catalog.tier(t)]

    def _namespaces(self) -> dict[Tier, k8s.core.v1.Namespace]:
        result = {}
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=self.cluster.provider)
        for tier in self.tiers:
            namespace = k8s.core.v1.Namespace(
                f"{self._name}-{tier.value}",
                metadata={
                    "name": self.naming.namespace(tier),
                    "labels": self.naming.namespace_labels(tier),
                },
                opts=k8s_opts,
            )
            deny = network_policies.default_deny(self.naming.namespace(tier))
            deny_metadata: Any = {**deny["metadata"], "namespace": namespace.metadata.name}
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-{tier.value}-{network_policies.DEFAULT_DENY}",
                metadata=deny_metadata,
                spec=deny["spec"],
                opts=pulumi.ResourceOptions(parent=namespace, provider=self.cluster.provider),
            )
            result[tier] = namespace
        return result

    # ── the interface composition.py uses ────────────────────────────────────────────────

    def vault_target(self) -> KubernetesVaultBinding:
        return KubernetesVaultBinding(
            host=self.cluster.api_host,
            ca_certificate=self.cluster.ca_certificate,
            provider=self.cluster.provider,
            namespace_of=self.naming.namespace_of,
            service_account_of=self.naming.service_account_of,
            vault_namespace=self.naming.vault_namespace,
            runs_in_cluster=self._runs_in_cluster,
        )

    def _runs_in_cluster(self, spec: ServiceSpec) -> bool:
        """In-cluster services, and managed ones whose clients a Job provisions (RDS)."""
        from components.managed_data import provisioned_by_job

        managed = {s.name for s in self.managed_specs}
        return spec.name not in managed or provisioned_by_job(spec)

    def default_registry(self) -> str | None:
        # None: ServiceImages creates ECR repositories (scan on push, immutable tags).
        return None

    def platform(self, *, images: ServiceImages, secrets: KubernetesSecretSource) -> Platform:
        if self.managed is None:
            self.managed = self._managed_data(secrets)
            self._bind_managed_postgres(secrets)
            self._managed_alarms()
            self._backups()
        self._vault_namespace_policies(secrets)
        platform = KubernetesPlatform(self, images=images, secrets=secrets)
        self.register_outputs(self.outputs())
        return platform

    def _bind_managed_postgres(self, secrets: KubernetesSecretSource) -> None:
        """Vault's database engine serves short-lived users from the RDS instance."""
        from components.managed_data import POSTGRES_MASTER_USER

        if self.managed is None:
            return
        for endpoint in self.managed.endpoints.values():
            managed = endpoint.spec.managed_in_prod
            if managed is not None and managed.kind == "rds-postgresql":
                secrets.bind_postgres(
                    endpoint.host, endpoint.port, admin_username=POSTGRES_MASTER_USER
                )

    def _vault_namespace_policies(self, secrets: KubernetesSecretSource) -> None:
        """Default-deny in the injector's namespace, and exactly the webhook's own flows."""
        from components.cluster import KUBERNETES_SERVICE_IP
        from components.vault.injector import INJECTOR_PORT

        injector = getattr(secrets, "injector", None)
        app = getattr(injector, "app_name", None)
        if injector is None or app is None:
            return
        created: k8s.core.v1.Namespace | None = getattr(injector, "namespace", None)
        namespace = self.naming.vault_namespace
        opts = pulumi.ResourceOptions(
            parent=self,
            provider=self.cluster.provider,
            depends_on=[created] if created is not None else [],
        )
        management = tuple(str(c) for c in self.config.network.management_subnets)
        policies = [
            network_policies.webhook_policy(
                namespace,
                {naming.APP_LABEL: app},
                INJECTOR_PORT,
                management,
                (
                    Destination(port=HTTPS, cidrs=management),
                    Destination(port=HTTPS, cidrs=(f"{KUBERNETES_SERVICE_IP}/32",)),
                ),
            )
        ]
        if created is not None:
            policies.insert(0, network_policies.default_deny(namespace))
        for policy in policies:
            metadata: Any = policy["metadata"]
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-vault-{metadata['name']}",
                metadata=metadata,
                spec=policy["spec"],
                opts=opts,
            )

    def outputs(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "kubeconfig": pulumi.Output.secret(self.cluster.kubeconfig),
            "namespaces": {t.value: self.naming.namespace(t) for t in self.tiers},
            "ingressHostnames": ingress_hosts(self.catalog, self.config.domain),
        }
        if self.eks is not None:
            result["clusterName"] = self.eks.cluster.name
            result["clusterEndpoint"] = self.eks.api_endpoint
            result["clusterCertificateAuthority"] = self.eks.certificate_authority
            result["oidcProviderArn"] = self.eks.oidc_provider.arn
            # Stacks sharing this cluster verify its workloads' tokens with this issuer.
            result["clusterTokenIssuer"] = self.eks.oidc_issuer
        if self.network is not None:
            result["vpcId"] = self.network.vpc.id
        if self.managed is not None:
            result["managedEndpoints"] = {n: e.host for n, e in self.managed.endpoints.items()}
        if self.backups is not None:
            result["backupVault"] = self.backups.vault.name
        if self.backup_bucket is not None:
            result["backupBucket"] = self.backup_bucket.bucket.bucket
        return result


def _job_name(prefix: str, parts: list[str]) -> str:
    """<prefix>-<digest>: 10 hex digits over the Job's inputs (a DNS label, < 63)."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


def _pem(data: str) -> str:
    """EKS returns the cluster CA base64-encoded; Vault wants the PEM itself."""
    try:
        return base64.b64decode(data).decode()
    except ValueError:
        return data


class KubernetesPlatform:
    """Renders catalog services as hardened workloads (implements `Platform`)."""

    def __init__(
        self,
        infrastructure: KubernetesInfrastructure,
        *,
        images: ServiceImages,
        secrets: KubernetesSecretSource,
    ) -> None:
        self.infra = infrastructure
        self.images = images
        self.secrets = secrets
        self.catalog = infrastructure.catalog
        self.config = infrastructure.config
        self.naming = infrastructure.naming
        self.provider = infrastructure.cluster.provider
        managed = infrastructure.managed
        self.managed_endpoints = managed.endpoints if managed is not None else {}
        self.workload_names = frozenset(
            s.name for s in self.catalog if s.name not in self.managed_endpoints
        )
        self.addressing = configs.Addressing(
            host=self.naming.host_of,
            every_replica=self.naming.pods_host_of,
            log_namespaces=[self.naming.namespace(t) for t in infrastructure.tiers],
            stack_label=pulumi.get_stack(),
            address_of=self.address_of,
            managed=frozenset(self.managed_endpoints),
            alert_delivery=AlertDelivery(
                alerting=self.config.alerting,
                sns_topic_arn=(
                    infrastructure.alert_topic.topic.arn
                    if infrastructure.alert_topic is not None
                    else None
                ),
                region=self.config.aws_region,
            ),
        )
        self._alb_alarms_done = False
        self.hosts = ingress_hosts(self.catalog, self.config.domain)
        self.policy_inputs = self._policy_inputs()

    # ── addressing ───────────────────────────────────────────────────────────────────────

    def _model_servers(self) -> list[str]:
        """Workloads that preload the stack's models (catalog `preload_models`)."""
        if not self.config.ollama_models:
            return []
        return [s.name for s in self.catalog if s.preload_models and s.name in self.workload_names]

    def address_of(self, name: str) -> pulumi.Input[str]:
        endpoint = self.managed_endpoints.get(name)
        if endpoint is not None:
            return endpoint.host
        return self.naming.host_of(self.catalog[name])

    def _env(self, spec: ServiceSpec) -> dict[str, pulumi.Input[str]]:
        env: dict[str, pulumi.Input[str]] = dict(
            service_env(spec, self.catalog, self.address_of, frozenset(self.managed_endpoints))
        )
        env.update(self.secrets.file_env(spec))
        env.update(self._edge_env(spec))
        return env

    def _policy_inputs(self) -> PolicyInputs:
        from components.cluster import KUBERNETES_SERVICE_IP

        network = self.config.network
        cidrs = {
            "public": tuple(str(c) for c in network.public_subnets),
            Segment.DATA.value: tuple(str(c) for c in network.data_subnets),
            Segment.MANAGEMENT.value: tuple(str(c) for c in network.management_subnets),
        }
        vpc = str(network.vpc_cidr)
        extra: dict[str, tuple[Destination, ...]] = {}
        if self._workload_identity():
            # The API services read the API server's JWKS (workload tokens' keys).
            for api in self._api_services():
                extra[api.name] = (Destination(port=HTTPS, cidrs=(f"{KUBERNETES_SERVICE_IP}/32",)),)
        for model_server in self._model_servers():
            # Model downloads at start (the preload init container): HTTPS out, not into the VPC.
            extra[model_server] = (
                Destination(port=HTTPS, cidrs=("0.0.0.0/0",), except_cidrs=(vpc,)),
            )
        router = observability.ALERT_ROUTER
        if router in self.workload_names and (
            self.config.alerting.sns_topic or self.config.alerting.receivers
        ):
            # SNS, STS (IRSA), Slack, PagerDuty, webhooks: public HTTPS endpoints only, never a
            # private address (not the VPC, not Vault, not a peered network).
            inside_private = any(network.vpc_cidr.subnet_of(IPv4Network(c)) for c in PRIVATE_RANGES)
            excepted = PRIVATE_RANGES if inside_private else (*PRIVATE_RANGES, vpc)
            extra[router] = (Destination(port=HTTPS, cidrs=("0.0.0.0/0",), except_cidrs=excepted),)
        vault_clients = frozenset(
            s.name
            for s in self.catalog
            if s.name in self.workload_names
            and self.secrets.kubernetes_pod_annotations(s, self.address_of)
        )
        return PolicyInputs(
            catalog=self.catalog,
            naming=self.naming,
            workloads=self.workload_names,
            managed={n: cidrs[Segment.DATA.value] for n in self.managed_endpoints},
            load_balancer_cidrs=cidrs["public"],
            scraper=observability.SCRAPER,
            vault_clients=vault_clients,
            vault=network_policies.vault_destination(
                self.config.vault_address, cidrs=[str(c) for c in self.config.vault_cidrs]
            ),
            api_server=(
                Destination(port=HTTPS, cidrs=cidrs[Segment.MANAGEMENT.value]),
                Destination(port=HTTPS, cidrs=(f"{KUBERNETES_SERVICE_IP}/32",)),
            ),
            extra_egress=extra,
        )

    # ── rendering ────────────────────────────────────────────────────────────────────────

    def _image(self, spec: ServiceSpec) -> pulumi.Input[str]:
        if spec.build is not None:
            return self.images.refs[spec.name]
        assert spec.image is not None
        return spec.image.reference

    def deploy(self, spec: ServiceSpec, parent: pulumi.Resource) -> DeployedService:
        endpoint = self.managed_endpoints.get(spec.name)
        if endpoint is not None:
            job = self._managed_provisioning(spec, endpoint, parent)
            return DeployedService(
                spec=spec,
                host=endpoint.host,
                resources=[*endpoint.resources, *([job] if job is not None else [])],
            )

        namespace = self.naming.namespace_of(spec)
        base = f"{self.infra._name}-{spec.name}"
        ns_resource = self.infra.namespaces[spec.tier]
        opts = pulumi.ResourceOptions(parent=parent, provider=self.provider)

        def in_namespace(manifest: dict[str, Any]) -> Any:
            # Reference the Namespace resource, so objects wait for it (and it outlives them).
            return {**manifest["metadata"], "namespace": ns_resource.metadata.name}

        # The catalog's files and the generated ones (a pooler reaches the pooled server
        # itself: in prod the RDS endpoint, over TLS).
        files = configs.config_files(spec, self.catalog, self.addressing)
        provisioning_file = self.secrets.provisioning_file(spec)
        env = self._env(spec)
        image = self._image(spec)
        init = []
        if spec.name in self._model_servers():
            init.append(model_preload(spec, image, self.config.ollama_models, env))
        inputs = workloads.WorkloadInputs(
            spec=spec,
            namespace=namespace,
            image=image,
            env=env,
            pod_annotations=self.secrets.kubernetes_pod_annotations(spec, self.address_of),
            config_files=files,
            storage_class=self.infra.cluster.storage_class,
            retain_volumes=self.infra.protect,
            init_containers=init,
            launch=launch.command_and_args(
                spec,
                env_file=self.secrets.env_file(spec),
                provisioning_file=provisioning_file,
                every_replica=self.naming.pods_host_of(spec),
            ),
            post_start=launch.provisioning_command(spec, provisioning_file),
            identity_tokens=self._identity_tokens(spec),
        )

        account_manifest = workloads.service_account(spec, namespace)
        account_metadata: Any = in_namespace(account_manifest)
        role = self.infra.alert_publisher_role
        if spec.name == observability.ALERT_ROUTER and role is not None:
            # IRSA: the pod identity webhook gives it a web identity token for this role.
            account_metadata = {
                **account_metadata,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            }
        account = k8s.core.v1.ServiceAccount(
            base,
            metadata=account_metadata,
            automount_service_account_token=account_manifest["automountServiceAccountToken"],
            opts=opts,
        )
        depends: list[pulumi.Resource] = [account]
        config_manifest = workloads.config_map(spec, namespace, files)
        if config_manifest is not None:
            depends.append(
                k8s.core.v1.ConfigMap(
                    f"{base}-config",
                    metadata=in_namespace(config_manifest),
                    data=config_manifest["data"],
                    opts=opts,
                )
            )
        if spec.exempt_from("kube-api-token"):
            depends.extend(self._log_reader_rbac(spec, base, opts))

        service_resources = []
        for manifest in workloads.services(spec, namespace):
            suffix = "" if manifest["metadata"]["name"] == spec.name else "-pods"
            service_resources.append(
                k8s.core.v1.Service(
                    f"{base}{suffix}",
                    metadata=in_namespace(manifest),
                    spec=manifest["spec"],
                    opts=opts,
                )
            )
        manifest = workloads.workload(inputs)
        if spec.name in self.config.restore.volumes and manifest["kind"] == "StatefulSet":
            depends.append(self._restored_volume(spec, namespace, ns_resource, parent))
        workload_opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                depends_on=self.readiness(
                    spec, depends, volume_claims=manifest["kind"] == "StatefulSet"
                ),
                # StatefulSets own volume claims: protected in prod like the data itself.
                protect=self.infra.protect and spec.storage is not None,
            ),
        )
        workload: pulumi.CustomResource
        if manifest["kind"] == "StatefulSet":
            workload = k8s.apps.v1.StatefulSet(
                base, metadata=in_namespace(manifest), spec=manifest["spec"], opts=workload_opts
            )
        else:
            workload = k8s.apps.v1.Deployment(
                base, metadata=in_namespace(manifest), spec=manifest["spec"], opts=workload_opts
            )
        budget = workloads.disruption_budget(spec, namespace)
        if budget is not None:
            k8s.policy.v1.PodDisruptionBudget(
                base, metadata=in_namespace(budget), spec=budget["spec"], opts=opts
            )
        policy = network_policies.service_policy(self.policy_inputs, spec)
        k8s.networking.v1.NetworkPolicy(
            base, metadata=in_namespace(policy), spec=policy["spec"], opts=opts
        )
        if spec.ingress:
            self._ingress(spec, base, in_namespace, opts)
        self._online_backup(spec, account, workload, in_namespace, opts)
        return DeployedService(
            spec=spec,
            host=self.naming.host_of(spec),
            resources=[workload, *service_resources],
        )

    def readiness(
        self,
        spec: ServiceSpec,
        own: Sequence[pulumi.Resource],
        *,
        volume_claims: bool,
    ) -> list[pulumi.Resource]:
        """The one place a pod's ordering is decided: what must exist before the API server
        admits a pod of `spec`.

        * its own objects (`own`: ServiceAccount, ConfigMap, RBAC; a Job's policy and server);
        * Vault's part for this service (`Secrets.readiness_for`): the injector's webhook (a
          pod admitted before it exists is never injected and never gets its files), the
          service's policy and auth role, and every KV entry or database role it reads;
        * with volume claims, the StorageClass and the EBS CSI driver that provisions them.

        Nothing else: clients retry their peers.
        """
        ready = [*own, *self.secrets.readiness_for(spec)]
        if volume_claims:
            ready += self.infra.cluster.storage_ready
        return ready

    def _managed_provisioning(
        self, spec: ServiceSpec, endpoint: ManagedEndpoint, parent: pulumi.Resource
    ) -> k8s.batch.v1.Job | None:
        """A managed issuer (RDS) gets its clients the way its in-cluster twin does: the
        catalog's `provisioning.apply` command and the same Vault-delivered file, run by a
        one-shot Job against the managed endpoint as the master user. The Job's name carries
        a digest of everything it runs with (the file's content included), so a new client,
        a rotated password or a new image is a new Job, which runs again."""
        from components.managed_data import admin_env

        provisioning_file = self.secrets.provisioning_file(spec)
        command = launch.provisioning_command(spec, provisioning_file)
        fingerprint = self.secrets.provisioning_fingerprint(spec)
        admin = admin_env(endpoint)
        if command is None or fingerprint is None or not admin:
            return None
        namespace = self.naming.namespace_of(spec)
        base = f"{self.infra._name}-{spec.name}-provisioning"
        ns_resource = self.infra.namespaces[spec.tier]
        opts = pulumi.ResourceOptions(parent=parent, provider=self.provider)

        def in_namespace(manifest: dict[str, Any]) -> Any:
            return {**manifest["metadata"], "namespace": ns_resource.metadata.name}

        # The issuer's ServiceAccount: its Vault role (and policy) is bound to it.
        account_manifest = workloads.service_account(spec, namespace)
        account = k8s.core.v1.ServiceAccount(
            f"{self.infra._name}-{spec.name}",
            metadata=in_namespace(account_manifest),
            automount_service_account_token=account_manifest["automountServiceAccountToken"],
            opts=opts,
        )
        policy_manifest = network_policies.provisioning_policy(self.policy_inputs, spec)
        policy = k8s.networking.v1.NetworkPolicy(
            base, metadata=in_namespace(policy_manifest), spec=policy_manifest["spec"], opts=opts
        )
        env: dict[str, pulumi.Input[str]] = {**self._env(spec), **admin}
        tries = launch.provisioning_tries(spec)
        attempt = tries * launch.RETRY_INTERVAL_SECONDS + 120
        inputs = workloads.ProvisioningJobInputs(
            spec=spec,
            namespace=namespace,
            name="",
            image=self._image(spec),
            command=command,
            env=env,
            pod_annotations=self.secrets.kubernetes_pod_annotations(spec, self.address_of),
            deadline_seconds=(workloads.PROVISIONING_BACKOFF_LIMIT + 1) * attempt,
        )
        unnamed = workloads.provisioning_job(inputs)
        name = pulumi.Output.all(
            fingerprint, pulumi.Output.from_input(unnamed).apply(json.dumps)
        ).apply(lambda parts: _job_name(naming.provisioning_name(spec), parts))
        manifest = workloads.provisioning_job(dataclasses.replace(inputs, name=name))
        job = k8s.batch.v1.Job(
            base,
            metadata=in_namespace(manifest),
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    # Its egress, its identity and the server before its pod starts.
                    depends_on=self.readiness(
                        spec, [account, policy, *endpoint.resources], volume_claims=False
                    ),
                ),
            ),
        )
        if self.config.backup.enabled and endpoint.spec.database is not None:
            self._heartbeat(spec, env, in_namespace, opts, [account, policy, job])
        return job

    # ── backups and restores ─────────────────────────────────────────────────────────────

    def _restored_volume(
        self,
        spec: ServiceSpec,
        namespace: str,
        ns_resource: k8s.core.v1.Namespace,
        parent: pulumi.Resource,
    ) -> k8s.core.v1.PersistentVolume:
        """The first replica's volume, created from `restore.volumes[<service>]`."""
        from components.backup import STACK_TAG
        from components.kubernetes.restore import restored_volume

        infra = self.infra
        if infra.eks is None or infra.network is None:  # StackConfig refuses it too
            raise ConfigError(
                "stack configuration",
                [f"sutazai:restore.volumes.{spec.name}: needs a cluster of the stack's own"],
            )
        snapshot = self.config.restore.volumes[spec.name]
        zone: pulumi.Input[str] = (
            self.config.restore.availability_zone or infra.network.zone_names[0]
        )
        base = f"{infra._name}-{spec.name}-restored"
        volume = aws.ebs.Volume(
            base,
            availability_zone=zone,
            snapshot_id=snapshot,
            type="gp3",
            encrypted=True,
            kms_key_id=infra.eks.volumes_key.arn,
            tags={
                "Name": base,
                "sutazai:restored-from": snapshot,
                STACK_TAG: pulumi.get_stack(),
                **infra.backup_tags,
            },
            opts=pulumi.ResourceOptions(
                parent=parent, provider=infra.aws_provider, protect=infra.protect
            ),
        )
        manifest = restored_volume(
            spec,
            name=f"{self.naming.prefix}-{spec.name}-restored",
            namespace=ns_resource.metadata.name,
            volume_id=volume.id,
            zone=zone,
            storage_class=infra.cluster.storage_class,
            retain=infra.protect,
            snapshot_id=snapshot,
        )
        return k8s.core.v1.PersistentVolume(
            base,
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions(
                parent=parent,
                provider=self.provider,
                protect=infra.protect,
                depends_on=list(infra.cluster.storage_ready),
            ),
        )

    def _online_backup(
        self,
        spec: ServiceSpec,
        account: k8s.core.v1.ServiceAccount,
        workload: pulumi.Resource,
        in_namespace: Any,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """The service's snapshot CronJob, if its upstream documents an online backup."""
        from components.kubernetes import backup_jobs

        command = backup_jobs.ONLINE_BACKUPS.get(spec.name)
        bucket, eks = self.infra.backup_bucket, self.infra.eks
        if command is None or bucket is None or eks is None:
            return
        namespace = self.naming.namespace_of(spec)
        name = backup_jobs.backup_name(spec)
        base = f"{self.infra._name}-{name}"
        role = eks.irsa_role(name, namespace, spec.name, policy=bucket.writer_policy(spec.name))
        policies = []
        for policy in backup_jobs.backup_policies(
            spec,
            namespace,
            vault=self.policy_inputs.vault,
            vpc_cidr=str(self.config.network.vpc_cidr),
        ):
            policies.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{self.infra._name}-{policy['metadata']['name']}",
                    metadata=in_namespace(policy),
                    spec=policy["spec"],
                    opts=opts,
                )
            )
        env: dict[str, pulumi.Input[str]] = {
            "QDRANT_URL": f"http://{self.naming.host_of(spec)}:{spec.primary_port.port}",
            "BACKUP_BUCKET": bucket.bucket.bucket,
            "BACKUP_PREFIX": spec.name,
            "BACKUP_KMS_KEY_ARN": bucket.key.arn,
            "AWS_REGION": self.config.aws_region,
        }
        env_file = self.secrets.env_file(spec)
        if env_file is not None:
            env["QDRANT_ENV_FILE"] = env_file
        storage = spec.storage.size if spec.storage is not None else "1Gi"
        manifest = backup_jobs.cron_job(
            backup_jobs.CronJobInputs(
                spec=spec,
                namespace=namespace,
                name=name,
                labels=backup_jobs.backup_labels(spec),
                image=self.images.refs[BACKUP_IMAGE],
                command=["python", "-m", "sutazai_backup", command],
                env=env,
                schedule=self.config.backup.application_schedule,
                pod_annotations=self.secrets.kubernetes_pod_annotations(spec, self.address_of),
                role_arn=role.arn,
                # One collection's snapshot at a time passes through here.
                scratch_limit=storage,
            )
        )
        k8s.batch.v1.CronJob(
            base,
            metadata=in_namespace(manifest),
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=self.readiness(
                        spec, [account, role, workload, *policies], volume_claims=False
                    )
                ),
            ),
        )

    def _heartbeat(
        self,
        spec: ServiceSpec,
        env: dict[str, pulumi.Input[str]],
        in_namespace: Any,
        opts: pulumi.ResourceOptions,
        depends_on: list[pulumi.Resource],
    ) -> k8s.batch.v1.CronJob:
        """A heartbeat row into the managed PostgreSQL every few hours, as the issuer and
        with its provisioning Job's labels (so that Job's NetworkPolicy: DNS, RDS, Vault)."""
        from components.kubernetes import backup_jobs

        name = f"{spec.name}-heartbeat"
        manifest = backup_jobs.cron_job(
            backup_jobs.CronJobInputs(
                spec=spec,
                namespace=self.naming.namespace_of(spec),
                name=name,
                labels={**naming.provisioning_labels(spec), "sutazai.io/job": name},
                image=self.images.refs[BACKUP_IMAGE],
                command=["python", "-m", "sutazai_backup", "postgres-heartbeat"],
                env={**env, "PGDATABASE": spec.database or "", "HEARTBEAT_SOURCE": name},
                schedule=backup_jobs.HEARTBEAT_SCHEDULE,
                pod_annotations=self.secrets.kubernetes_pod_annotations(spec, self.address_of),
                deadline_seconds=600,
            )
        )
        return k8s.batch.v1.CronJob(
            f"{self.infra._name}-{name}",
            metadata=in_namespace(manifest),
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=self.readiness(spec, depends_on, volume_claims=False)
                ),
            ),
        )

    # ── workload identity ────────────────────────────────────────────────────────────────

    def _api_services(self) -> list[ServiceSpec]:
        return [s for s in self.catalog if is_api(self.catalog, s)]

    def _workload_identity(self) -> bool:
        """Projected ServiceAccount tokens, verified against the cluster's own issuer (its
        own cluster's, or the shared cluster stack's export), with authentication on."""
        return (
            self.infra.cluster.token_issuer is not None
            and self.config.edge.authentication == "required"
        )

    def _audience(self, api: ServiceSpec) -> str:
        """Per stack, so a token of another stack's workload on a shared cluster is refused."""
        return f"{self.naming.prefix}-{api.name}"

    def _identity_tokens(self, spec: ServiceSpec) -> dict[str, str]:
        """The projected tokens a pod gets: one per API service it calls (its identity
        there), and for the API itself one for the API server (to read its JWKS)."""
        if not self._workload_identity():
            return {}
        tokens = {
            f"{api.name}-token": self._audience(api)
            for api in workload_token_apis(self.catalog, spec)
        }
        if is_api(self.catalog, spec):
            tokens[KUBE_API_TOKEN_FILE] = ""  # the API server's own audience
        return tokens

    def _edge_env(self, spec: ServiceSpec) -> dict[str, pulumi.Input[str]]:
        """The edge in a service's env: an API service's issuers and limits (edge_env), a
        caller's token file for each API it calls."""
        env: dict[str, pulumi.Input[str]] = {}
        if self._workload_identity():
            for api in workload_token_apis(self.catalog, spec):
                env[token_file_variable(api)] = workloads.identity_file(f"{api.name}-token")
        if not is_api(self.catalog, spec):
            return env
        edge = self.infra.edge
        issuers: list[pulumi.Input[dict[str, object]]] = []
        if edge is not None and (user_issuer := edge.backend_issuer()) is not None:
            issuers.append(user_issuer)
        if self._workload_identity():
            token_issuer = self.infra.cluster.token_issuer
            assert token_issuer is not None
            audience = self._audience(spec)

            def workload_issuer(issuer: str) -> dict[str, object]:
                return {
                    "kind": "kubernetes",
                    "issuer": issuer,
                    "jwks_url": "https://kubernetes.default.svc/openid/v1/jwks",
                    "audiences": [audience],
                    "ca_file": workloads.identity_file("ca.crt"),
                    "token_file": workloads.identity_file(KUBE_API_TOKEN_FILE),
                }

            issuers.append(token_issuer.apply(workload_issuer))
        return {**env, **edge_env(self.config, issuers)}

    def _ingress(
        self,
        spec: ServiceSpec,
        base: str,
        in_namespace: Any,
        opts: pulumi.ResourceOptions,
    ) -> k8s.networking.v1.Ingress:
        from components.edge import OPERATIONAL_ACTION, access_log_attributes, alb_edge_annotations

        edge = self.infra.edge
        log_attributes = access_log_attributes(edge) if edge is not None else None
        annotations: dict[str, pulumi.Input[str]] = alb_annotations(
            spec,
            group=self.naming.prefix,
            certificate_arn=self.config.tls_certificate_arn,
            security_group=self.infra.cluster.load_balancer_security_group,
            deletion_protection=self.infra.protect,
            extra_attributes=log_attributes,
        )
        hidden = operational_paths(spec)
        if edge is not None:
            annotations |= alb_edge_annotations(
                edge, browser=serves_browser(self.catalog, spec), operational_paths=hidden
            )
        manifest = workloads.ingress(
            spec,
            self.naming.namespace_of(spec),
            self.hosts[spec.name],
            annotations,
            hidden_paths=hidden if edge is not None else [],
            hidden_backend=OPERATIONAL_ACTION,
        )
        ingress = k8s.networking.v1.Ingress(
            base,
            metadata=in_namespace(manifest),
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=list(self.infra.cluster.ingress_ready))
            ),
        )
        if self.infra.alarms is not None and not self._alb_alarms_done:
            # The group's one ALB exists once any of its Ingresses has its address.
            self.infra.alarms.load_balancer(load_balancer_name(self.naming.prefix), [ingress])
            self._alb_alarms_done = True
        return ingress

    def _log_reader_rbac(
        self, spec: ServiceSpec, base: str, opts: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """A catalog `kube-api-token` exception: read pods and their logs, in our namespaces."""
        rules: Any = [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        ]
        role_metadata: Any = {
            "name": f"{self.naming.prefix}-{spec.name}-pod-logs",
            "labels": naming.labels(spec),
        }
        role = k8s.rbac.v1.ClusterRole(
            f"{base}-pod-logs", metadata=role_metadata, rules=rules, opts=opts
        )
        role_ref: Any = {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role.metadata.name,
        }
        subjects: Any = [
            {
                "kind": "ServiceAccount",
                "name": self.naming.service_account_of(spec),
                "namespace": self.naming.namespace_of(spec),
            }
        ]
        bindings: list[pulumi.Resource] = [role]
        for tier, namespace in self.infra.namespaces.items():
            binding_metadata: Any = {
                "name": f"{spec.name}-pod-logs",
                "namespace": namespace.metadata.name,
                "labels": naming.labels(spec),
            }
            bindings.append(
                k8s.rbac.v1.RoleBinding(
                    f"{base}-pod-logs-{tier.value}",
                    metadata=binding_metadata,
                    role_ref=role_ref,
                    subjects=subjects,
                    opts=opts,
                )
            )
        return bindings


def load_balancer_name(group: str) -> str:
    """The ingress group's ALB name (at most 32 characters, no trailing hyphen)."""
    return group[:32].rstrip("-")


def alb_annotations(
    spec: ServiceSpec,
    *,
    group: str,
    certificate_arn: str,
    security_group: pulumi.Input[str] | None,
    deletion_protection: bool,
    extra_attributes: pulumi.Output[list[str]] | None = None,
) -> dict[str, pulumi.Input[str]]:
    """AWS Load Balancer Controller settings: one internet-facing HTTPS ALB for the stack,
    whose HTTP listener only redirects to HTTPS."""
    prefix = "alb.ingress.kubernetes.io"
    attributes = ["routing.http.drop_invalid_header_fields.enabled=true"]
    if deletion_protection:
        attributes.append("deletion_protection.enabled=true")
    annotations: dict[str, pulumi.Input[str]] = {
        f"{prefix}/scheme": "internet-facing",
        f"{prefix}/target-type": "ip",
        # HTTP only to redirect (ssl-redirect): a plain-HTTP visitor is sent to HTTPS.
        f"{prefix}/listen-ports": json.dumps([{"HTTP": HTTP}, {"HTTPS": HTTPS}]),
        f"{prefix}/ssl-redirect": str(HTTPS),
        f"{prefix}/ssl-policy": SSL_POLICY,
        f"{prefix}/group.name": group,
        # One name for the group's ALB, so its CloudWatch alarms can find it.
        f"{prefix}/load-balancer-name": load_balancer_name(group),
        f"{prefix}/backend-protocol": "HTTP",
        f"{prefix}/load-balancer-attributes": ",".join(attributes)
        if extra_attributes is None
        else extra_attributes.apply(lambda extra: ",".join([*attributes, *extra])),
    }
    probe = spec.health.readiness
    if probe.http is not None:
        annotations[f"{prefix}/healthcheck-path"] = probe.http
    if certificate_arn:
        annotations[f"{prefix}/certificate-arn"] = certificate_arn
    if security_group is not None:
        annotations[f"{prefix}/security-groups"] = security_group
        annotations[f"{prefix}/manage-backend-security-group-rules"] = "false"
    return annotations


def operational_paths(spec: ServiceSpec) -> list[str]:
    """Paths that only the cluster may reach: probes and the metrics endpoint."""
    paths = {
        probe.http
        for probe in (spec.health.liveness, spec.health.readiness)
        if probe is not None and probe.http
    }
    if spec.scrape is not None:
        paths.add(spec.scrape.path)
    return sorted(paths)
