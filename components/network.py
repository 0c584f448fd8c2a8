"""The segmented VPC: public, application, data and management subnets in every zone.

* public: internet-facing load balancers and the NAT gateways only (`kubernetes.io/role/elb`)
* application: the EKS nodes; private, out through NAT (`kubernetes.io/role/internal-elb`)
* data: RDS and ElastiCache; one route table with the local route and the Vault routes only,
  a NACL that admits the VPC (and the Vault servers on PostgreSQL's port) alone: no path to or
  from the internet
* management: the EKS control-plane network interfaces; private

Security groups follow the catalog: a data security group per managed service admits exactly
that service's ports, from the node security group only, and only when the catalog's
`network_edges` give it clients; the node group admits the load balancer on the ports of the
services marked `ingress`. Nothing in the data or management groups is open to 0.0.0.0/0.
The load balancer admits HTTPS (443) and HTTP (80) from the internet; its HTTP listener only
redirects to HTTPS (the ingress's `ssl-redirect`), so port 80 carries no content.

The external Vault (`vault_cidrs`) gets exactly two ways in: the EKS API (443, for its
Kubernetes auth method's TokenReviews) through the management group, and RDS PostgreSQL
(its database secrets engine creates the short-lived users) through that service's data
group and the data NACL. Nothing else admits those CIDRs. The replies go back over
`vault_route_target` (a transit gateway `tgw-...` or VPC peering connection `pcx-...`): the
data, application and management route tables each get one route per Vault CIDR through it,
and nothing else. Without a target (a stack without a VPC of its own) no such route exists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.catalog import Catalog, Segment, ServiceSpec
from stacks.config import NetworkConfig
from stacks.errors import ConfigError

WORLD = "0.0.0.0/0"
HTTPS = 443
HTTP = 80
# Replies to connections the data subnets accept (the NACL is stateless).
EPHEMERAL_PORTS = (1024, 65535)
# Vault route targets: a transit gateway (`transit_gateway_id`) or a VPC peering connection
# (`vpc_peering_connection_id`), told apart by their ID prefix.
TRANSIT_GATEWAY, PEERING_CONNECTION = "tgw-", "pcx-"


def customer_key(
    name: str,
    description: str,
    *,
    parent: pulumi.Resource,
    provider: aws.Provider | None,
    protect: bool,
    policy: pulumi.Input[str] | None = None,
) -> aws.kms.Key:
    """A customer-managed KMS key with yearly rotation (protected in prod)."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, protect=protect),
    )
    aws.kms.Alias(
        name,
        name=f"alias/{name}",
        target_key_id=key.key_id,
        opts=pulumi.ResourceOptions(parent=key, provider=provider),
    )
    return key


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    catalog: Catalog
    # Services that run as AWS managed services in this stack (RDS, ElastiCache).
    managed: Sequence[ServiceSpec]
    region: str
    cluster_name: str
    # One NAT gateway per zone (prod) or a single one (cheaper, not zone-redundant).
    nat_per_zone: bool
    protect: bool
    provider: aws.Provider | None = None
    flow_log_retention_days: int = 365
    # Where the external Vault servers live (config `vaultCidrs`): they reach the EKS API and
    # RDS PostgreSQL (the database secrets engine), nothing else.
    vault_cidrs: Sequence[str] = ()
    # How the VPC reaches those CIDRs (config `vaultRouteTarget`): a transit gateway (tgw-...)
    # or a VPC peering connection (pcx-...). Empty: no routes to Vault.
    vault_route_target: str = ""

    def __post_init__(self) -> None:
        target = self.vault_route_target
        if target and not target.startswith((TRANSIT_GATEWAY, PEERING_CONNECTION)):
            raise ValueError(
                f"vault_route_target {target!r}: "
                "expected a transit gateway (tgw-...) or a VPC peering connection (pcx-...)"
            )


def _zone(names: Sequence[str] | None, index: int, wanted: int, region: str) -> str:
    """The index-th available zone; a clear config error when the region has too few."""
    available = list(names or [])
    if len(available) < wanted:
        raise ConfigError(
            "stack configuration",
            [
                f"sutazai:network.availabilityZones: {wanted} zones, but {region} has "
                f"{len(available)} available ({', '.join(available) or 'none'}); lower it to "
                f"{len(available)} or pick another region"
            ],
        )
    return available[index]


class SegmentedNetwork(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    subnets: dict[str, list[aws.ec2.Subnet]]
    node_security_group: aws.ec2.SecurityGroup
    load_balancer_security_group: aws.ec2.SecurityGroup
    management_security_group: aws.ec2.SecurityGroup
    data_security_groups: dict[str, aws.ec2.SecurityGroup]
    logs_key: aws.kms.Key

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sutazai:network:SegmentedNetwork", name, None, opts)
        self._name = name
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        cfg = args.config

        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(provider=args.provider)
        )
        self.zone_names = [
            zones.names.apply(
                lambda names, i=i: _zone(names, i, cfg.availability_zones, args.region)
            )
            for i in range(cfg.availability_zones)
        ]

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(cfg.vpc_cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=self._opts,
        )
        # The default security group admits nothing: every group here is explicit.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags={"Name": f"{name}-default-closed"},
            opts=self._opts,
        )

        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        plans: dict[str, tuple[list, dict[str, str]]] = {
            "public": (cfg.public_subnets, {"kubernetes.io/role/elb": "1", **cluster_tag}),
            Segment.APPLICATION.value: (
                cfg.application_subnets,
                {"kubernetes.io/role/internal-elb": "1", **cluster_tag},
            ),
            Segment.DATA.value: (cfg.data_subnets, {}),
            Segment.MANAGEMENT.value: (cfg.management_subnets, {}),
        }
        self.subnets = {}
        self.cidrs: dict[str, tuple[str, ...]] = {}
        for segment, (cidrs, tags) in plans.items():
            self.cidrs[segment] = tuple(str(c) for c in cidrs)
            self.subnets[segment] = [
                aws.ec2.Subnet(
                    f"{name}-{segment}-{i}",
                    vpc_id=self.vpc.id,
                    cidr_block=str(cidr),
                    availability_zone=self.zone_names[i],
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{name}-{segment}-{i}", "sutazai:segment": segment, **tags},
                    opts=self._opts,
                )
                for i, cidr in enumerate(cidrs)
            ]

        self._routes()
        self._data_nacl()
        self._flow_logs()
        self._security_groups()

        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "subnetIds": {k: [s.id for s in v] for k, v in self.subnets.items()},
            }
        )

    # ── routing ──────────────────────────────────────────────────────────────────────────

    def _routes(self) -> None:
        name, opts = self._name, self._opts
        zones = len(self.subnets["public"])
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": name}, opts=opts
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"}, opts=opts
        )
        aws.ec2.Route(
            f"{name}-public-internet",
            route_table_id=public_rt.id,
            destination_cidr_block=WORLD,
            gateway_id=igw.id,
            opts=opts,
        )
        for i, subnet in enumerate(self.subnets["public"]):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=opts
            )

        nat_count = zones if self._args.nat_per_zone else 1
        self.nat_gateways = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(
                f"{name}-nat-{i}", domain="vpc", tags={"Name": f"{name}-nat-{i}"}, opts=opts
            )
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=self.subnets["public"][i].id,
                    connectivity_type="public",
                    tags={"Name": f"{name}-nat-{i}"},
                    opts=pulumi.ResourceOptions.merge(
                        opts, pulumi.ResourceOptions(depends_on=[igw])
                    ),
                )
            )

        # application and management: private, out through the NAT of their zone.
        for segment in (Segment.APPLICATION.value, Segment.MANAGEMENT.value):
            for i, subnet in enumerate(self.subnets[segment]):
                table = aws.ec2.RouteTable(
                    f"{name}-{segment}-{i}",
                    vpc_id=self.vpc.id,
                    tags={"Name": f"{name}-{segment}-{i}"},
                    opts=opts,
                )
                aws.ec2.Route(
                    f"{name}-{segment}-{i}-nat",
                    route_table_id=table.id,
                    destination_cidr_block=WORLD,
                    nat_gateway_id=self.nat_gateways[i % nat_count].id,
                    opts=opts,
                )
                aws.ec2.RouteTableAssociation(
                    f"{name}-{segment}-{i}", subnet_id=subnet.id, route_table_id=table.id, opts=opts
                )
                self._vault_routes(f"{name}-{segment}-{i}", table)

        # data: the local route and the Vault routes only; never the internet gateway or NAT.
        self.data_route_table = aws.ec2.RouteTable(
            f"{name}-data",
            vpc_id=self.vpc.id,
            tags={"Name": f"{name}-data-isolated"},
            opts=opts,
        )
        self._vault_routes(f"{name}-data", self.data_route_table)
        for i, subnet in enumerate(self.subnets[Segment.DATA.value]):
            aws.ec2.RouteTableAssociation(
                f"{name}-data-{i}",
                subnet_id=subnet.id,
                route_table_id=self.data_route_table.id,
                opts=opts,
            )

    def _vault_routes(self, prefix: str, table: aws.ec2.RouteTable) -> None:
        """One route per Vault CIDR through `vault_route_target` (none without a target)."""
        target = self._args.vault_route_target
        if not target:
            return
        for j, cidr in enumerate(self._args.vault_cidrs):
            aws.ec2.Route(
                f"{prefix}-vault-{j}",
                route_table_id=table.id,
                destination_cidr_block=str(cidr),
                transit_gateway_id=target if target.startswith(TRANSIT_GATEWAY) else None,
                vpc_peering_connection_id=(
                    target if target.startswith(PEERING_CONNECTION) else None
                ),
                opts=self._opts,
            )

    def vault_database_specs(self) -> list[ServiceSpec]:
        """Managed services Vault's database secrets engine connects to (RDS PostgreSQL)."""
        return [
            s
            for s in self._args.managed
            if s.managed_in_prod is not None and s.managed_in_prod.kind == "rds-postgresql"
        ]

    def _data_nacl(self) -> None:
        vpc_cidr = str(self._args.config.vpc_cidr)
        ingress = [
            aws.ec2.NetworkAclIngressArgs(
                rule_no=100,
                protocol="-1",
                action="allow",
                cidr_block=vpc_cidr,
                from_port=0,
                to_port=0,
            )
        ]
        egress = [
            aws.ec2.NetworkAclEgressArgs(
                rule_no=100,
                protocol="-1",
                action="allow",
                cidr_block=vpc_cidr,
                from_port=0,
                to_port=0,
            )
        ]
        # Vault's database engine: in on PostgreSQL's port, replies out on ephemeral ports.
        ports = sorted({p.port for s in self.vault_database_specs() for p in s.ports})
        rule_no = 110
        for cidr in self._args.vault_cidrs if ports else ():
            for port in ports:
                ingress.append(
                    aws.ec2.NetworkAclIngressArgs(
                        rule_no=rule_no,
                        protocol="tcp",
                        action="allow",
                        cidr_block=str(cidr),
                        from_port=port,
                        to_port=port,
                    )
                )
                egress.append(
                    aws.ec2.NetworkAclEgressArgs(
                        rule_no=rule_no,
                        protocol="tcp",
                        action="allow",
                        cidr_block=str(cidr),
                        from_port=EPHEMERAL_PORTS[0],
                        to_port=EPHEMERAL_PORTS[1],
                    )
                )
                rule_no += 10
        aws.ec2.NetworkAcl(
            f"{self._name}-data",
            vpc_id=self.vpc.id,
            subnet_ids=[s.id for s in self.subnets[Segment.DATA.value]],
            ingress=ingress,
            egress=egress,
            tags={"Name": f"{self._name}-data-vpc-only"},
            opts=self._opts,
        )

    # ── flow logs ────────────────────────────────────────────────────────────────────────

    def _flow_logs(self) -> None:
        name, args = self._name, self._args
        identity = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=args.provider)
        )
        partition = aws.get_partition_output(
            opts=pulumi.InvokeOutputOptions(provider=args.provider)
        )
        policy = pulumi.Output.all(identity.account_id, partition.partition).apply(
            lambda v: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministers",
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:{v[1]}:iam::{v[0]}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "CloudWatchLogsEncrypt",
                            "Effect": "Allow",
                            "Principal": {"Service": f"logs.{args.region}.amazonaws.com"},
                            "Action": [
                                "kms:Encrypt*",
                                "kms:Decrypt*",
                                "kms:ReEncrypt*",
                                "kms:GenerateDataKey*",
                                "kms:Describe*",
                            ],
                            "Resource": "*",
                            "Condition": {
                                "ArnLike": {
                                    "kms:EncryptionContext:aws:logs:arn": (
                                        f"arn:{v[1]}:logs:{args.region}:{v[0]}:*"
                                    )
                                }
                            },
                        },
                    ],
                }
            )
        )
        self.logs_key = customer_key(
            f"{name}-logs",
            "SutazAI log groups (VPC flow logs, EKS control plane)",
            parent=self,
            provider=args.provider,
            protect=args.protect,
            policy=policy,
        )
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/sutazai/{name}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=self.logs_key.arn,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, protect=args.protect),
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=self._opts,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogGroups",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=role, provider=args.provider),
        )
        aws.ec2.FlowLog(
            f"{name}-vpc",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=self._opts,
        )

    # ── security groups ──────────────────────────────────────────────────────────────────

    def _group(self, segment: str, description: str) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._name}-{segment}",
            vpc_id=self.vpc.id,
            description=description,
            tags={"Name": f"{self._name}-{segment}", "sutazai:segment": segment},
            opts=self._opts,
        )

    def _rule(
        self,
        name: str,
        group: aws.ec2.SecurityGroup,
        *,
        direction: str,
        port: int | None,
        to_port: int | None = None,
        peer: aws.ec2.SecurityGroup | None = None,
        cidr: str | None = None,
        protocol: str = "tcp",
        description: str,
    ) -> None:
        cls = (
            aws.vpc.SecurityGroupIngressRule
            if direction == "ingress"
            else aws.vpc.SecurityGroupEgressRule
        )
        cls(
            f"{self._name}-{name}",
            security_group_id=group.id,
            ip_protocol=protocol,
            from_port=port,
            to_port=to_port if to_port is not None else port,
            referenced_security_group_id=peer.id if peer is not None else None,
            cidr_ipv4=cidr,
            description=description,
            opts=pulumi.ResourceOptions(parent=group, provider=self._args.provider),
        )

    def _security_groups(self) -> None:
        catalog = self._args.catalog
        self.node_security_group = self._group(
            Segment.APPLICATION.value, "EKS nodes and pods (application segment)"
        )
        self.load_balancer_security_group = self._group(
            "public-alb", "Internet-facing ALB: HTTPS in, ports of the ingress services out"
        )
        self.management_security_group = self._group(
            Segment.MANAGEMENT.value, "EKS control-plane interfaces (management segment)"
        )

        # The load balancer: HTTPS from anywhere, HTTP only to be redirected to HTTPS (its
        # port-80 listener forwards nothing), and on to the pods of `ingress` services.
        self._rule(
            "alb-https-in",
            self.load_balancer_security_group,
            direction="ingress",
            port=HTTPS,
            cidr=WORLD,
            description="HTTPS from the internet",
        )
        self._rule(
            "alb-http-redirect-in",
            self.load_balancer_security_group,
            direction="ingress",
            port=HTTP,
            cidr=WORLD,
            description="HTTP from the internet: redirected to HTTPS only",
        )
        ingress_ports = sorted({s.primary_port.port for s in catalog if s.ingress})
        for port in ingress_ports:
            users = ", ".join(s.name for s in catalog if s.ingress and s.primary_port.port == port)
            self._rule(
                f"alb-to-nodes-{port}",
                self.load_balancer_security_group,
                direction="egress",
                port=port,
                peer=self.node_security_group,
                description=f"to the pods of {users}",
            )
            self._rule(
                f"nodes-from-alb-{port}",
                self.node_security_group,
                direction="ingress",
                port=port,
                peer=self.load_balancer_security_group,
                description=f"ALB to {users}",
            )
        # Nodes reach the internet through NAT (images, AWS APIs, model downloads).
        self._rule(
            "nodes-out",
            self.node_security_group,
            direction="egress",
            port=None,
            protocol="-1",
            cidr=WORLD,
            description="egress through NAT",
        )

        # Management: the API endpoint for the nodes; the control plane calls kubelets and
        # admission webhooks on the nodes.
        self._rule(
            "mgmt-api-from-nodes",
            self.management_security_group,
            direction="ingress",
            port=HTTPS,
            peer=self.node_security_group,
            description="Kubernetes API from the nodes",
        )
        self._rule(
            "mgmt-to-nodes",
            self.management_security_group,
            direction="egress",
            port=0,
            to_port=65535,
            peer=self.node_security_group,
            description="kubelet and admission webhooks on the nodes",
        )
        self._rule(
            "nodes-from-mgmt",
            self.node_security_group,
            direction="ingress",
            port=0,
            to_port=65535,
            peer=self.management_security_group,
            description="control plane to kubelet and webhooks",
        )
        # The external Vault reviews service-account tokens (Kubernetes auth) at the API.
        for i, cidr in enumerate(self._args.vault_cidrs):
            self._rule(
                f"mgmt-api-from-vault-{i}",
                self.management_security_group,
                direction="ingress",
                port=HTTPS,
                cidr=str(cidr),
                description="Kubernetes API from Vault (TokenReview for its Kubernetes auth)",
            )

        # Data: one group per managed service, exactly its ports, from the nodes only, and only
        # when the catalog graph gives it clients.
        self.data_security_groups = {}
        for spec in self._args.managed:
            group = self._group(
                f"data-{spec.name}", f"{spec.name} (managed): its ports from the nodes only"
            )
            self.data_security_groups[spec.name] = group
            clients = catalog.clients_of(spec.name)
            if not clients:
                continue
            for port in spec.ports:
                self._rule(
                    f"data-{spec.name}-{port.name}-from-nodes",
                    group,
                    direction="ingress",
                    port=port.port,
                    protocol=port.protocol.lower(),
                    peer=self.node_security_group,
                    description=f"{spec.name}:{port.port} for {', '.join(clients)}",
                )
        # Vault's database secrets engine creates and drops the short-lived PostgreSQL users.
        for spec in self.vault_database_specs():
            group = self.data_security_groups[spec.name]
            for i, cidr in enumerate(self._args.vault_cidrs):
                for port in spec.ports:
                    self._rule(
                        f"data-{spec.name}-{port.name}-from-vault-{i}",
                        group,
                        direction="ingress",
                        port=port.port,
                        protocol=port.protocol.lower(),
                        cidr=str(cidr),
                        description=f"{spec.name}:{port.port} for Vault (database secrets engine)",
                    )

    # ── views ────────────────────────────────────────────────────────────────────────────

    def subnet_ids(self, segment: str) -> list[pulumi.Output[str]]:
        return [s.id for s in self.subnets[segment]]
