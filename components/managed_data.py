"""Managed data services for prod: catalog services with `managed_in_prod` become AWS services.

* `rds-postgresql`: RDS PostgreSQL, Multi-AZ, KMS-encrypted storage, 14 days of backups
  (point-in-time recovery) plus AWS Backup through its `backup_tags`, created from a snapshot
  when a restore names one, deletion protection and a final snapshot, IAM database auth,
  Performance Insights, a parameter group that forces TLS. The master password is the
  service's own generated secret from the Secrets component (in Vault, where the database
  secrets engine uses it to hand out short-lived users); without one, RDS manages it in
  Secrets Manager. Clients reach it through PgBouncer, a normal catalog workload
  (`pooled_by`), the only client the data security group admits.
* `elasticache-redis`: a Redis replication group with automatic failover across zones,
  at-rest (KMS) and in-transit encryption, daily snapshots kept
  `backup.elasticacheSnapshotRetentionDays` (AWS Backup does not cover it), and RBAC: the
  `default` user takes the service's generated password (the AUTH secret), and every client
  in the catalog graph gets its own user with the credential the Secrets component generated
  for it.

Both live in the data subnets (no route to the internet) behind their own security group from
`SegmentedNetwork`. Everything stateful here is `protect`ed when the stack protects.

RDS gets its client roles the way the in-cluster server does, from the same Vault-delivered
provisioning file and the catalog's `provisioning.apply` command: the Kubernetes renderer runs
it in a one-shot Job as the master user (`admin_env`), since nothing runs next to RDS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_aws as aws

from components.network import SegmentedNetwork, customer_key
from components.vault.layout import own_password_secret
from components.vault.provisioning import REDIS_CLIENT_RULES
from stacks.catalog import Catalog, Segment, ServiceSpec
from stacks.wiring import connection_facts

BACKUP_RETENTION_DAYS = 14
SNAPSHOT_RETENTION_DAYS = 7
POSTGRES_INSTANCE_CLASS = "db.r6g.large"
REDIS_NODE_TYPE = "cache.r7g.large"


POSTGRES_MASTER_USER = "postgres"
# The same rules as the in-cluster server's ACL file (components/vault/provisioning.py).
REDIS_CLIENT_ACCESS = f"on {REDIS_CLIENT_RULES}"
REDIS_DEFAULT_ACCESS = "on ~* &* +@all"
_ELASTICACHE_ID = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,38}[a-zA-Z0-9]$")


def elasticache_id(text: str) -> str:
    """An ElastiCache user / user group id: 1-40 letters, digits and single hyphens,
    starting with a letter, not ending with a hyphen."""
    candidate = re.sub(r"-{2,}", "-", re.sub(r"[^a-zA-Z0-9-]+", "-", text))[:40].rstrip("-")
    if not _ELASTICACHE_ID.match(candidate):
        raise ValueError(f"{text!r} makes no valid ElastiCache id ({candidate!r})")
    return candidate


class ManagedCredentials(Protocol):
    """Generated credentials (the Secrets component) the managed services are created with."""

    def secret_value(self, owner: str, name: str) -> pulumi.Output[str]: ...

    def client_credential(self, client: str, peer: str) -> tuple[str, pulumi.Output[str]]: ...


@dataclass(frozen=True)
class ManagedDataArgs:
    services: Sequence[ServiceSpec]
    catalog: Catalog
    network: SegmentedNetwork
    protect: bool
    credentials: ManagedCredentials | None = None
    provider: aws.Provider | None = None
    # Tags AWS Backup's selection picks the databases by (components/backup.py).
    backup_tags: Mapping[str, str] = field(default_factory=dict)
    snapshot_retention_days: int = SNAPSHOT_RETENTION_DAYS
    # Service -> RDS snapshot (id or ARN) its instance is created from (a restore).
    restore_snapshots: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ManagedEndpoint:
    spec: ServiceSpec
    host: pulumi.Output[str]
    port: int
    resources: list[pulumi.Resource]


def provisioned_by_job(spec: ServiceSpec) -> bool:
    """A managed service whose clients a one-shot Job provisions in the cluster (it has an
    admin tool, see admin_env, and the catalog's `provisioning.apply`)."""
    managed = spec.managed_in_prod
    return (
        managed is not None
        and managed.kind == "rds-postgresql"
        and spec.provisioning is not None
        and bool(spec.provisioning.apply)
    )


def admin_env(endpoint: ManagedEndpoint) -> dict[str, pulumi.Input[str]]:
    """How an admin tool reaches the managed server as its master user (libpq's variables
    for RDS, which the catalog's apply command honours); {} for a kind without one.

    TLS is the service's managed `connection` fact (`sslmode: require`, rds.force_ssl).
    """
    managed = endpoint.spec.managed_in_prod
    if managed is None or managed.kind != "rds-postgresql":
        return {}
    facts = connection_facts(endpoint.spec, managed=True)
    return {
        "PGHOST": endpoint.host,
        "PGPORT": str(endpoint.port),
        "PGUSER": POSTGRES_MASTER_USER,
        "PGSSLMODE": facts.get("sslmode", "require"),
        "PGCONNECT_TIMEOUT": "10",
    }


def storage_gib(spec: ServiceSpec, default: int = 50) -> int:
    if spec.storage is None:
        return default
    match = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|Ti)", spec.storage.size)
    if match is None:
        return default
    amount, unit = int(match.group(1)), match.group(2)
    factor = {"Ki": 1 / 1024**2, "Mi": 1 / 1024, "Gi": 1, "Ti": 1024}[unit]
    return max(20, int(amount * factor))


class ManagedData(pulumi.ComponentResource):
    endpoints: dict[str, ManagedEndpoint]

    def __init__(
        self, name: str, args: ManagedDataArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sutazai:data:ManagedData", name, None, opts)
        self._name = name
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self._stateful = pulumi.ResourceOptions(
            parent=self, provider=args.provider, protect=args.protect
        )
        self.endpoints = {}
        self.key = customer_key(
            f"{name}-data",
            "SutazAI managed data: RDS storage, Performance Insights, ElastiCache",
            parent=self,
            provider=args.provider,
            protect=args.protect,
        )
        for spec in args.services:
            assert spec.managed_in_prod is not None
            if spec.managed_in_prod.kind == "rds-postgresql":
                self.endpoints[spec.name] = self._postgres(spec)
            else:
                self.endpoints[spec.name] = self._redis(spec)
        self.register_outputs({name: endpoint.host for name, endpoint in self.endpoints.items()})

    def _subnets(self) -> list[pulumi.Output[str]]:
        return self._args.network.subnet_ids(Segment.DATA.value)

    def _security_group(self, spec: ServiceSpec) -> pulumi.Output[str]:
        return self._args.network.data_security_groups[spec.name].id

    # ── RDS PostgreSQL ───────────────────────────────────────────────────────────────────

    def _postgres(self, spec: ServiceSpec) -> ManagedEndpoint:
        assert spec.managed_in_prod is not None
        name, args = f"{self._name}-{spec.name}", self._args
        version = spec.managed_in_prod.engine_version
        major = version.split(".")[0]
        subnets = aws.rds.SubnetGroup(
            name,
            subnet_ids=self._subnets(),
            description=f"{spec.name}: data subnets only",
            opts=self._opts,
        )
        parameters = aws.rds.ParameterGroup(
            name,
            family=f"postgres{major}",
            description=f"{spec.name}: TLS only, connection logging",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
                aws.rds.ParameterGroupParameterArgs(
                    name="password_encryption", value="scram-sha-256"
                ),
            ],
            opts=self._opts,
        )
        monitoring = aws.iam.Role(
            f"{name}-monitoring",
            assume_role_policy=(
                '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                '{"Service":"monitoring.rds.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
            ),
            opts=self._opts,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-monitoring",
            role=monitoring.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            opts=pulumi.ResourceOptions(parent=monitoring, provider=args.provider),
        )
        storage = storage_gib(spec)
        password = self._master_password(spec)
        instance = aws.rds.Instance(
            name,
            identifier=name,
            engine="postgres",
            engine_version=version,
            instance_class=POSTGRES_INSTANCE_CLASS,
            allocated_storage=storage,
            max_allocated_storage=storage * 4,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=self.key.arn,
            multi_az=True,
            # The catalog's `connection.database` (required of a managed PostgreSQL).
            db_name=spec.database,
            username=POSTGRES_MASTER_USER,
            password=password,
            # Without a generated secret to share with Vault, RDS keeps it in Secrets Manager.
            manage_master_user_password=True if password is None else None,
            master_user_secret_kms_key_id=self.key.key_id if password is None else None,
            iam_database_authentication_enabled=True,
            port=spec.primary_port.port,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self._security_group(spec)],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            backup_retention_period=BACKUP_RETENTION_DAYS,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=args.protect,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{name}-final",
            performance_insights_enabled=True,
            performance_insights_kms_key_id=self.key.arn,
            performance_insights_retention_period=7,
            monitoring_interval=60,
            monitoring_role_arn=monitoring.arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            auto_minor_version_upgrade=True,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            # A restore: the instance is created from this snapshot (read at creation only;
            # changing it replaces the instance, which `protect` refuses in prod).
            snapshot_identifier=args.restore_snapshots.get(spec.name),
            tags=dict(args.backup_tags) or None,
            apply_immediately=False,
            opts=self._stateful,
        )
        return ManagedEndpoint(
            spec=spec, host=instance.address, port=spec.primary_port.port, resources=[instance]
        )

    def _master_password(self, spec: ServiceSpec) -> pulumi.Output[str] | None:
        """The service's generated password (shared with Vault), if the catalog has one."""
        credentials, secret = self._args.credentials, own_password_secret(spec)
        if credentials is not None and secret is not None:
            return pulumi.Output.secret(credentials.secret_value(spec.name, secret))
        return None

    # ── ElastiCache Redis ────────────────────────────────────────────────────────────────

    def _redis(self, spec: ServiceSpec) -> ManagedEndpoint:
        assert spec.managed_in_prod is not None
        name = f"{self._name}-{spec.name}"
        subnets = aws.elasticache.SubnetGroup(
            name,
            subnet_ids=self._subnets(),
            description=f"{spec.name}: data subnets only",
            opts=self._opts,
        )
        users = self._redis_users(spec, name)
        user_group = aws.elasticache.UserGroup(
            name,
            user_group_id=elasticache_id(name),
            engine="redis",
            user_ids=[u.user_id for u in users],
            opts=self._opts,
        )
        group = aws.elasticache.ReplicationGroup(
            name,
            replication_group_id=elasticache_id(name),
            description=f"SutazAI {spec.name}: {spec.description}"[:255],
            engine="redis",
            engine_version=spec.managed_in_prod.engine_version,
            node_type=REDIS_NODE_TYPE,
            port=spec.primary_port.port,
            num_cache_clusters=max(2, spec.replicas),
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=self.key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            user_group_ids=[user_group.user_group_id],
            subnet_group_name=subnets.name,
            security_group_ids=[self._security_group(spec)],
            # Not an AWS Backup resource: ElastiCache keeps its own daily snapshots.
            snapshot_retention_limit=self._args.snapshot_retention_days,
            snapshot_window="02:00-03:00",
            maintenance_window="sun:05:30-sun:06:30",
            final_snapshot_identifier=f"{name}-final",
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            opts=self._stateful,
        )
        return ManagedEndpoint(
            spec=spec,
            host=group.primary_endpoint_address,
            port=spec.primary_port.port,
            resources=[group],
        )

    def _redis_users(self, spec: ServiceSpec, name: str) -> list[aws.elasticache.User]:
        """`default` with the service's own password; one user per client of the graph, with
        the credential Vault holds for it (what REDIS_USERNAME + REDIS_PASSWORD_FILE name)."""
        credentials, secret = self._args.credentials, own_password_secret(spec)
        if credentials is None or secret is None:
            raise ValueError(
                f"{spec.name}: a managed Redis needs generated credentials (the Secrets "
                "component and a *_PASSWORD secret in the catalog)"
            )
        clients = self._args.catalog.clients_of(spec.name)
        ids = [elasticache_id(f"{name}-{c}") for c in ["default", *clients]]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{spec.name}: ElastiCache user ids collide: {sorted(ids)}")
        users = [
            aws.elasticache.User(
                f"{name}-default",
                user_id=elasticache_id(f"{name}-default"),
                user_name="default",
                engine="redis",
                access_string=REDIS_DEFAULT_ACCESS,
                authentication_mode=aws.elasticache.UserAuthenticationModeArgs(
                    type="password",
                    passwords=[pulumi.Output.secret(credentials.secret_value(spec.name, secret))],
                ),
                opts=self._opts,
            )
        ]
        for client in clients:
            # Static: ElastiCache has no engine for short-lived users (a KeyError says so).
            username, password = credentials.client_credential(client, spec.name)
            users.append(
                aws.elasticache.User(
                    f"{name}-{client}",
                    user_id=elasticache_id(f"{name}-{client}"),
                    user_name=username,
                    engine="redis",
                    access_string=REDIS_CLIENT_ACCESS,
                    authentication_mode=aws.elasticache.UserAuthenticationModeArgs(
                        type="password", passwords=[pulumi.Output.secret(password)]
                    ),
                    opts=self._opts,
                )
            )
        return users
