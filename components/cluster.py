"""The EKS cluster: control plane, IRSA, a general and a GPU node group, and the add-ons.

* control plane: private endpoint (public only for `clusterPublicAccessCidrs`), every log
  type, secrets envelope-encrypted with a rotating KMS key, API-mode access entries, network
  interfaces in the management subnets;
* nodes: managed node groups in the application subnets, through launch templates that
  require IMDSv2 with a hop limit of 1 (pods use IRSA, never the node role) and encrypt the
  root volume; the GPU group runs an NVIDIA AMI, is tainted `nvidia.com/gpu=true:NoSchedule`
  and labelled `sutazai.io/node-pool=gpu`;
* add-ons: vpc-cni (NetworkPolicy enforcement on, IRSA), kube-proxy, coredns,
  aws-ebs-csi-driver (IRSA), the NVIDIA device plugin (the vendor DaemonSet, kube-system),
  the AWS Load Balancer Controller (rendered object by object, IRSA;
  components/kubernetes/load_balancer_controller.py), the cluster autoscaler (rendered,
  IRSA; components/kubernetes/autoscaler.py) and an encrypted gp3 StorageClass, which tags
  every volume it provisions with `volume_tags` (the backup selection's tags);
* access: EKS access entries only; `clusterAdminRoleArns` get AmazonEKSClusterAdminPolicy
  (cluster scope), and when any are listed the creator gets nothing implicit.

Every Kubernetes object here and in the renderer uses `self.k8s_provider` explicitly.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.backup import ebs_tag_parameters
from components.kubernetes import autoscaler, naming
from components.kubernetes import load_balancer_controller as lbc
from components.kubernetes.security import (
    HOST_PATH,
    READ_ONLY_ROOT,
    RUN_AS_ROOT,
    AddOn,
    Waiver,
    container_security_context,
    host_path_volume,
    mounts_api_token,
    pod_security_context,
)
from components.network import SegmentedNetwork, customer_key
from stacks.catalog import Segment
from stacks.config import NodeGroupConfig, StackConfig

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
SERVICE_CIDR = "172.20.0.0/16"
# The `kubernetes` Service: the first address of the service range.
KUBERNETES_SERVICE_IP = "172.20.0.1"
NVIDIA_DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
NVIDIA_DEVICE_PLUGIN = "nvidia-device-plugin"
ALB_CONTROLLER = "aws-load-balancer-controller"
STORAGE_CLASS = "sutazai-gp3"
KUBE_SYSTEM = "kube-system"
_POLICY = "arn:aws:iam::aws:policy"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def _assume(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": ["sts:AssumeRole", "sts:TagSession"]
                    if service == "eks.amazonaws.com"
                    else "sts:AssumeRole",
                }
            ],
        }
    )


@dataclass(frozen=True)
class EksClusterArgs:
    config: StackConfig
    network: SegmentedNetwork
    cluster_name: str
    protect: bool
    provider: aws.Provider | None = None
    log_retention_days: int = 365
    # Tags the EBS CSI driver puts on every volume it provisions (the backup selection's).
    volume_tags: dict[str, str] = field(default_factory=dict)


class EksCluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    k8s_provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    node_groups: dict[str, aws.eks.NodeGroup]
    load_balancer_controller: k8s.apps.v1.Deployment
    storage_class: k8s.storage.v1.StorageClass

    def __init__(
        self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sutazai:cluster:EksCluster", name, None, opts)
        self._name = name
        self._args = args
        self._aws = pulumi.ResourceOptions(parent=self, provider=args.provider)
        config = args.config
        network = args.network

        self.secrets_key = customer_key(
            f"{name}-secrets",
            "EKS envelope encryption of Kubernetes secrets",
            parent=self,
            provider=args.provider,
            protect=args.protect,
        )
        # EKS writes control-plane logs here; created first so retention and KMS apply.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=network.logs_key.arn,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, protect=args.protect),
        )
        role = aws.iam.Role(
            f"{name}-control-plane", assume_role_policy=_assume("eks.amazonaws.com"), opts=self._aws
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-control-plane",
            role=role.name,
            policy_arn=f"{_POLICY}/AmazonEKSClusterPolicy",
            opts=pulumi.ResourceOptions(parent=role, provider=args.provider),
        )
        public_cidrs = [str(c) for c in config.cluster_public_access_cidrs]
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=config.cluster_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=network.subnet_ids(Segment.MANAGEMENT.value),
                security_group_ids=[network.management_security_group.id],
                endpoint_private_access=True,
                endpoint_public_access=bool(public_cidrs),
                public_access_cidrs=public_cidrs or None,
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                service_ipv4_cidr=SERVICE_CIDR, ip_family="ipv4"
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.secrets_key.arn),
                resources=["secrets"],
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # With admins listed (clusterAdminRoleArns) they are the only ones: EKS would
                # otherwise make its own entry for the creator, which collides with ours when
                # the creator (the CI deploy role) is one of them.
                bootstrap_cluster_creator_admin_permissions=not config.cluster_admin_role_arns,
            ),
            # The managed add-ons below are the only networking/DNS the cluster gets.
            bootstrap_self_managed_addons=False,
            deletion_protection=args.protect,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                protect=args.protect,
                depends_on=[log_group, attachment],
                # Read by EKS at creation only; changing it later would replace the cluster.
                ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"],
            ),
        )
        self.cluster_security_group_id = self.cluster.vpc_config.cluster_security_group_id

        self._irsa()
        cni = self._addon(
            "vpc-cni", role=self._cni_role(), configuration={"enableNetworkPolicy": "true"}
        )
        proxy = self._addon("kube-proxy")
        self.node_groups = self._node_groups([cni, proxy])
        general: list[pulumi.Resource] = list(self.node_groups.values())
        coredns = self._addon("coredns", depends_on=general)
        ebs = self._addon("aws-ebs-csi-driver", role=self._ebs_role(), depends_on=general)
        self.ebs_addon = ebs

        self.admins = self._cluster_admins()
        self.kubeconfig = pulumi.Output.secret(self._kubeconfig())
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # The deploy role is one of the admins: its access exists before the first call.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[cni, proxy, coredns, *general, *self.admins]
            ),
        )
        self._k8s = pulumi.ResourceOptions(parent=self, provider=self.k8s_provider)
        self.storage_class = self._storage_class(ebs)
        self.device_plugin = k8s.apps.v1.DaemonSet(
            f"{name}-{NVIDIA_DEVICE_PLUGIN}",
            metadata=(plugin := nvidia_device_plugin())["metadata"],
            spec=plugin["spec"],
            opts=self._k8s,
        )
        self.load_balancer_controller = self._load_balancer_controller()
        self.cluster_autoscaler = self._cluster_autoscaler()

        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "endpoint": self.cluster.endpoint,
                "kubeconfig": self.kubeconfig,
                "oidcProviderArn": self.oidc_provider.arn,
            }
        )

    # ── identity ─────────────────────────────────────────────────────────────────────────

    def _irsa(self) -> None:
        issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer or "")  # type: ignore[index]
        # The `iss` of this cluster's ServiceAccount tokens (workload identity, IRSA).
        self.oidc_issuer: pulumi.Output[str] = issuer
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{self._name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            opts=self._aws,
        )
        self._issuer_host = issuer.apply(lambda url: url.removeprefix("https://"))

    def irsa_role(
        self,
        name: str,
        namespace: str,
        service_account: str,
        *,
        managed_policies: list[str] = (),  # type: ignore[assignment]
        policy: pulumi.Input[str] | None = None,
    ) -> aws.iam.Role:
        """An IAM role only `namespace/service_account` can assume (IRSA)."""
        subject = f"system:serviceaccount:{namespace}:{service_account}"
        trust = pulumi.Output.all(self.oidc_provider.arn, self._issuer_host).apply(
            lambda v: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Federated": v[0]},
                            "Action": "sts:AssumeRoleWithWebIdentity",
                            "Condition": {
                                "StringEquals": {
                                    f"{v[1]}:sub": subject,
                                    f"{v[1]}:aud": "sts.amazonaws.com",
                                }
                            },
                        }
                    ],
                }
            )
        )
        role = aws.iam.Role(f"{self._name}-{name}", assume_role_policy=trust, opts=self._aws)
        child = pulumi.ResourceOptions(parent=role, provider=self._args.provider)
        for arn in managed_policies:
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{name}-{arn.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=arn,
                opts=child,
            )
        if policy is not None:
            aws.iam.RolePolicy(f"{self._name}-{name}", role=role.id, policy=policy, opts=child)
        return role

    def _cluster_admins(self) -> list[aws.eks.AccessPolicyAssociation]:
        """Cluster admin for each `clusterAdminRoleArns` role, through EKS access entries."""
        associations = []
        for arn in self._args.config.cluster_admin_role_arns:
            account, role_name = arn.split(":")[4], arn.rsplit("/", 1)[-1]
            resource_name = f"{self._name}-admin-{account}-{role_name}"
            entry = aws.eks.AccessEntry(
                resource_name,
                cluster_name=self.cluster.name,
                principal_arn=arn,
                type="STANDARD",
                opts=self._aws,
            )
            associations.append(
                aws.eks.AccessPolicyAssociation(
                    resource_name,
                    cluster_name=self.cluster.name,
                    principal_arn=entry.principal_arn,
                    policy_arn=CLUSTER_ADMIN_POLICY,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=pulumi.ResourceOptions(parent=entry, provider=self._args.provider),
                )
            )
        return associations

    def _cni_role(self) -> aws.iam.Role:
        return self.irsa_role(
            "vpc-cni", KUBE_SYSTEM, "aws-node", managed_policies=[f"{_POLICY}/AmazonEKS_CNI_Policy"]
        )

    def _ebs_role(self) -> aws.iam.Role:
        self.volumes_key = customer_key(
            f"{self._name}-volumes",
            "EBS volumes of the cluster's persistent volume claims",
            parent=self,
            provider=self._args.provider,
            protect=self._args.protect,
        )
        key_policy = self.volumes_key.arn.apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                            "Resource": [arn],
                            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "kms:Encrypt",
                                "kms:Decrypt",
                                "kms:ReEncrypt*",
                                "kms:GenerateDataKey*",
                                "kms:DescribeKey",
                            ],
                            "Resource": [arn],
                        },
                    ],
                }
            )
        )
        return self.irsa_role(
            "ebs-csi",
            KUBE_SYSTEM,
            "ebs-csi-controller-sa",
            managed_policies=[f"{_POLICY}/service-role/AmazonEBSCSIDriverPolicy"],
            policy=key_policy,
        )

    # ── nodes ────────────────────────────────────────────────────────────────────────────

    def _node_groups(self, depends_on: list[pulumi.Resource]) -> dict[str, aws.eks.NodeGroup]:
        args, name = self._args, self._name
        role = aws.iam.Role(
            f"{name}-nodes", assume_role_policy=_assume("ec2.amazonaws.com"), opts=self._aws
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{policy}",
                role=role.name,
                policy_arn=f"{_POLICY}/{policy}",
                opts=pulumi.ResourceOptions(parent=role, provider=args.provider),
            )
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
        ]
        groups = args.config.node_groups
        return {
            naming.GENERAL_POOL: self._node_group(
                naming.GENERAL_POOL, groups.general, role, [*attachments, *depends_on], gpu=False
            ),
            naming.GPU_POOL: self._node_group(
                naming.GPU_POOL, groups.gpu, role, [*attachments, *depends_on], gpu=True
            ),
        }

    def _node_group(
        self,
        pool: str,
        group: NodeGroupConfig,
        role: aws.iam.Role,
        depends_on: list[pulumi.Resource],
        *,
        gpu: bool,
    ) -> aws.eks.NodeGroup:
        args, name = self._args, self._name
        template = aws.ec2.LaunchTemplate(
            f"{name}-{pool}",
            description=f"SutazAI {pool} nodes: IMDSv2 only, encrypted root volume",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            vpc_security_group_ids=[
                self.cluster_security_group_id,
                args.network.node_security_group.id,
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind,
                    tags={"Name": f"{name}-{pool}", "sutazai:node-pool": pool},
                )
                for kind in ("instance", "volume")
            ],
            update_default_version=True,
            opts=self._aws,
        )
        labels = {naming.NODE_POOL_LABEL: pool}
        taints = []
        if gpu:
            labels["nvidia.com/gpu.present"] = "true"
            taints.append(
                aws.eks.NodeGroupTaintArgs(
                    key=naming.GPU_RESOURCE, value="true", effect="NO_SCHEDULE"
                )
            )
        return aws.eks.NodeGroup(
            f"{name}-{pool}",
            cluster_name=self.cluster.name,
            node_role_arn=role.arn,
            subnet_ids=args.network.subnet_ids(Segment.APPLICATION.value),
            ami_type=group.ami_type,
            instance_types=list(group.instance_types),
            capacity_type="ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, max_size=group.max_size, desired_size=group.desired_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels=labels,
            taints=taints or None,
            # The autoscaler's discovery tags (EKS puts them on the group's Auto Scaling group).
            tags={"sutazai:node-pool": pool, **autoscaler.node_group_tags(args.cluster_name)},
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=depends_on,
                # The cluster autoscaler (deployed below) owns the current size after creation.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

    # ── add-ons ──────────────────────────────────────────────────────────────────────────

    def _addon(
        self,
        addon: str,
        *,
        role: aws.iam.Role | None = None,
        configuration: dict[str, Any] | None = None,
        depends_on: list[pulumi.Resource] | None = None,
    ) -> aws.eks.Addon:
        # The version EKS recommends for this Kubernetes version: changes only with it.
        version = aws.eks.get_addon_version_output(
            addon_name=addon,
            kubernetes_version=self._args.config.cluster_version,
            most_recent=False,
            opts=pulumi.InvokeOutputOptions(provider=self._args.provider),
        )
        return aws.eks.Addon(
            f"{self._name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            addon_version=version.version,
            service_account_role_arn=role.arn if role is not None else None,
            configuration_values=json.dumps(configuration) if configuration else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(
                parent=self, provider=self._args.provider, depends_on=depends_on or []
            ),
        )

    def _kubeconfig(self) -> pulumi.Output[str]:
        region = self._args.config.aws_region
        return pulumi.Output.all(
            self.cluster.endpoint,
            self.cluster.certificate_authority.apply(lambda ca: ca.data or ""),
            self.cluster.name,
        ).apply(
            lambda v: json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": v[2],
                            "cluster": {"server": v[0], "certificate-authority-data": v[1]},
                        }
                    ],
                    "contexts": [{"name": v[2], "context": {"cluster": v[2], "user": v[2]}}],
                    "current-context": v[2],
                    "users": [
                        {
                            "name": v[2],
                            "user": {
                                "exec": {
                                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                                    "command": "aws",
                                    "args": [
                                        "eks",
                                        "get-token",
                                        "--cluster-name",
                                        v[2],
                                        "--region",
                                        region,
                                        "--output",
                                        "json",
                                    ],
                                    "interactiveMode": "Never",
                                }
                            },
                        }
                    ],
                }
            )
        )

    def _storage_class(self, ebs: aws.eks.Addon) -> k8s.storage.v1.StorageClass:
        protect = self._args.protect
        return k8s.storage.v1.StorageClass(
            f"{self._name}-{STORAGE_CLASS}",
            metadata={
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            provisioner="ebs.csi.aws.com",
            parameters={
                "type": "gp3",
                "encrypted": "true",
                "kmsKeyId": self.volumes_key.arn,
                "csi.storage.k8s.io/fstype": "ext4",
                **ebs_tag_parameters(self._args.volume_tags),
            },
            # prod keeps the EBS volume when a claim (or the whole namespace) goes away.
            reclaim_policy="Retain" if protect else "Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.k8s_provider, protect=protect, depends_on=[ebs]
            ),
        )

    def _load_balancer_controller(self) -> k8s.apps.v1.Deployment:
        """The AWS Load Balancer Controller, object by object (load_balancer_controller.py),
        with its IRSA role and a webhook certificate from a CA generated here."""
        args, name = self._args, f"{self._name}-{ALB_CONTROLLER}"
        k8s_opts = self._k8s
        role = self.irsa_role(
            "alb-controller",
            KUBE_SYSTEM,
            ALB_CONTROLLER,
            policy=json.dumps(load_balancer_controller_policy()),
        )
        crds: list[pulumi.Resource] = [
            k8s.apiextensions.v1.CustomResourceDefinition(
                f"{name}-{crd['spec']['names']['plural']}",
                metadata=crd["metadata"],
                spec=crd["spec"],
                opts=k8s_opts,
            )
            for crd in lbc.custom_resource_definitions()
        ]
        tls_opts = pulumi.ResourceOptions(parent=self)
        ca_key = tls.PrivateKey(f"{name}-ca", algorithm="ECDSA", ecdsa_curve="P256", opts=tls_opts)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{ALB_CONTROLLER}-webhook-ca"),
            validity_period_hours=10 * 365 * 24,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=tls_opts,
        )
        key = tls.PrivateKey(
            f"{name}-webhook", algorithm="ECDSA", ecdsa_curve="P256", opts=tls_opts
        )
        request = tls.CertRequest(
            f"{name}-webhook",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=lbc.webhook_dns_names()[0]),
            dns_names=lbc.webhook_dns_names(),
            opts=tls_opts,
        )
        # A year, renewed by the first `pulumi up` in its last 30 days (the controller
        # reloads the mounted files).
        cert = tls.LocallySignedCert(
            f"{name}-webhook",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=365 * 24,
            early_renewal_hours=30 * 24,
            allowed_uses=["key_encipherment", "digital_signature", "server_auth"],
            opts=tls_opts,
        )
        secret = k8s.core.v1.Secret(
            f"{name}-tls",
            metadata={
                "name": lbc.WEBHOOK_SECRET,
                "namespace": KUBE_SYSTEM,
                "labels": {naming.APP_LABEL: ALB_CONTROLLER},
            },
            type="kubernetes.io/tls",
            string_data={
                "ca.crt": ca.cert_pem,
                "tls.crt": cert.cert_pem,
                "tls.key": pulumi.Output.secret(key.private_key_pem),
            },
            opts=k8s_opts,
        )
        ca_bundle = ca.cert_pem.apply(lambda pem: base64.b64encode(pem.encode()).decode())
        account_manifest = lbc.service_account(role.arn)
        cluster_role: Any = lbc.cluster_role()
        cluster_binding: Any = lbc.binding("ClusterRole")
        leader_role: Any = lbc.leader_election_role()
        leader_binding: Any = lbc.binding("Role")
        service: Any = lbc.webhook_service()
        access: list[pulumi.Resource] = [
            k8s.core.v1.ServiceAccount(
                name,
                metadata=account_manifest["metadata"],
                automount_service_account_token=account_manifest["automountServiceAccountToken"],
                opts=k8s_opts,
            ),
            k8s.rbac.v1.ClusterRole(
                name, metadata=cluster_role["metadata"], rules=cluster_role["rules"], opts=k8s_opts
            ),
            k8s.rbac.v1.ClusterRoleBinding(
                name,
                metadata=cluster_binding["metadata"],
                role_ref=cluster_binding["roleRef"],
                subjects=cluster_binding["subjects"],
                opts=k8s_opts,
            ),
            k8s.rbac.v1.Role(
                name, metadata=leader_role["metadata"], rules=leader_role["rules"], opts=k8s_opts
            ),
            k8s.rbac.v1.RoleBinding(
                name,
                metadata=leader_binding["metadata"],
                role_ref=leader_binding["roleRef"],
                subjects=leader_binding["subjects"],
                opts=k8s_opts,
            ),
            k8s.core.v1.Service(
                f"{name}-webhook", metadata=service["metadata"], spec=service["spec"], opts=k8s_opts
            ),
            secret,
            *crds,
            role,
        ]
        manifest = lbc.deployment(
            cluster_name=self.cluster.name,
            region=args.config.aws_region,
            vpc_id=args.network.vpc.id,
        )
        controller = k8s.apps.v1.Deployment(
            name,
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=access)),
        )
        budget: Any = lbc.disruption_budget()
        k8s.policy.v1.PodDisruptionBudget(
            name, metadata=budget["metadata"], spec=budget["spec"], opts=k8s_opts
        )
        # Registered once the webhook server runs: an Ingress admitted before would fail.
        after_controller = pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[controller])
        )
        mutating: Any = lbc.mutating_webhooks(ca_bundle)
        validating: Any = lbc.validating_webhooks(ca_bundle)
        k8s.admissionregistration.v1.MutatingWebhookConfiguration(
            name,
            metadata=mutating["metadata"],
            webhooks=mutating["webhooks"],
            opts=after_controller,
        )
        k8s.admissionregistration.v1.ValidatingWebhookConfiguration(
            name,
            metadata=validating["metadata"],
            webhooks=validating["webhooks"],
            opts=after_controller,
        )
        ingress_class: Any = lbc.ingress_class()
        k8s.networking.v1.IngressClass(
            name,
            metadata=ingress_class["metadata"],
            spec=ingress_class["spec"],
            opts=after_controller,
        )
        return controller

    def _cluster_autoscaler(self) -> k8s.apps.v1.Deployment:
        """The cluster autoscaler (components/kubernetes/autoscaler.py) with its IRSA role."""
        args, name = self._args, f"{self._name}-{autoscaler.NAME}"
        # StackConfig allows only EKS_VERSIONS, each with an autoscaler build (a test checks).
        manifest = autoscaler.deployment(
            cluster_name=args.cluster_name,
            region=args.config.aws_region,
            cluster_version=args.config.cluster_version,
        )
        role = self.irsa_role(
            autoscaler.NAME,
            autoscaler.NAMESPACE,
            autoscaler.NAME,
            policy=autoscaler.policy_json(
                args.cluster_name, [g.arn for g in self.node_groups.values()]
            ),
        )
        account_manifest = autoscaler.service_account(role.arn)
        account = k8s.core.v1.ServiceAccount(
            name,
            metadata=account_manifest["metadata"],
            automount_service_account_token=account_manifest["automountServiceAccountToken"],
            opts=self._k8s,
        )
        cluster_role: Any = autoscaler.cluster_role()
        cluster_binding: Any = autoscaler.binding("ClusterRole")
        role_in_namespace: Any = autoscaler.role()
        binding: Any = autoscaler.binding("Role")
        access: list[pulumi.Resource] = [
            account,
            k8s.rbac.v1.ClusterRole(
                name, metadata=cluster_role["metadata"], rules=cluster_role["rules"], opts=self._k8s
            ),
            k8s.rbac.v1.ClusterRoleBinding(
                name,
                metadata=cluster_binding["metadata"],
                role_ref=cluster_binding["roleRef"],
                subjects=cluster_binding["subjects"],
                opts=self._k8s,
            ),
            k8s.rbac.v1.Role(
                name,
                metadata=role_in_namespace["metadata"],
                rules=role_in_namespace["rules"],
                opts=self._k8s,
            ),
            k8s.rbac.v1.RoleBinding(
                name,
                metadata=binding["metadata"],
                role_ref=binding["roleRef"],
                subjects=binding["subjects"],
                opts=self._k8s,
            ),
        ]
        return k8s.apps.v1.Deployment(
            name,
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(
                self._k8s, pulumi.ResourceOptions(depends_on=[*access, role])
            ),
        )

    # ── views ────────────────────────────────────────────────────────────────────────────

    @property
    def api_endpoint(self) -> pulumi.Output[str]:
        return self.cluster.endpoint

    @property
    def certificate_authority(self) -> pulumi.Output[str]:
        return self.cluster.certificate_authority.apply(lambda ca: ca.data or "")


DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
DEVICE_PLUGIN = AddOn(
    name=NVIDIA_DEVICE_PLUGIN,
    uid=0,
    gid=0,
    waivers=(
        Waiver(
            RUN_AS_ROOT,
            "creates its gRPC socket in the root-owned kubelet directory "
            f"{DEVICE_PLUGIN_DIR} to register nvidia.com/gpu",
        ),
        Waiver(
            HOST_PATH,
            f"registers with the kubelet through {DEVICE_PLUGIN_DIR}; AL2023 NVIDIA AMIs do "
            "not ship the plugin",
        ),
        Waiver(
            READ_ONLY_ROOT,
            "run as NVIDIA ships it (deployments/static): its root filesystem is not "
            "documented as read-only-safe, and a broken plugin takes every GPU out of scheduling",
        ),
    ),
    host_paths=(DEVICE_PLUGIN_DIR,),
)


def nvidia_device_plugin() -> dict[str, Any]:
    """NVIDIA's static device-plugin DaemonSet (v0.17.1), on the GPU nodes only.

    The plugin registers `nvidia.com/gpu` with the kubelet through a socket in the host's
    /var/lib/kubelet/device-plugins, so it needs that hostPath and runs as root: it lives in
    kube-system, outside the restricted namespaces, and is the one rendered workload with host
    access. Its waivers (`DEVICE_PLUGIN`, with their reasons) are the only relaxations; the
    rest comes from the one hardening function: no privilege escalation, no capabilities,
    seccomp RuntimeDefault, no API token.
    """
    labels = {naming.APP_LABEL: NVIDIA_DEVICE_PLUGIN, "app.kubernetes.io/part-of": "sutazai"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NVIDIA_DEVICE_PLUGIN, "namespace": KUBE_SYSTEM, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {naming.APP_LABEL: NVIDIA_DEVICE_PLUGIN}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "automountServiceAccountToken": mounts_api_token(DEVICE_PLUGIN),
                    "nodeSelector": {naming.NODE_POOL_LABEL: naming.GPU_POOL},
                    "tolerations": [
                        {"key": naming.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "securityContext": pod_security_context(DEVICE_PLUGIN),
                    "containers": [
                        {
                            "name": NVIDIA_DEVICE_PLUGIN,
                            "image": NVIDIA_DEVICE_PLUGIN_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"cpu": "200m", "memory": "256Mi"},
                            },
                            "securityContext": container_security_context(DEVICE_PLUGIN),
                            "volumeMounts": [
                                {"name": "device-plugins", "mountPath": DEVICE_PLUGIN_DIR}
                            ],
                        }
                    ],
                    "volumes": [
                        host_path_volume(DEVICE_PLUGIN, "device-plugins", DEVICE_PLUGIN_DIR)
                    ],
                },
            },
        },
    }


def load_balancer_controller_policy() -> dict[str, Any]:
    """IAM for the AWS Load Balancer Controller: AWS's published policy, scoped by the tags
    the controller puts on what it creates (`elbv2.k8s.aws/cluster`)."""
    owned = {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    tagging_new = {
        "Null": {
            "aws:RequestTag/elbv2.k8s.aws/cluster": "true",
            "aws:ResourceTag/elbv2.k8s.aws/cluster": "false",
        }
    }
    elb = "arn:aws:elasticloadbalancing:*:*"

    def allow(actions: list[str], resource: Any = "*", condition: Any = None) -> dict[str, Any]:
        statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
        if condition:
            statement["Condition"] = condition
        return statement

    return {
        "Version": "2012-10-17",
        "Statement": [
            allow(
                ["iam:CreateServiceLinkedRole"],
                condition={
                    "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}
                },
            ),
            allow(
                [
                    "ec2:DescribeAccountAttributes",
                    "ec2:DescribeAddresses",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInternetGateways",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeVpcPeeringConnections",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeInstances",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeTags",
                    "ec2:GetCoipPoolUsage",
                    "ec2:DescribeCoipPools",
                    "ec2:GetSecurityGroupsForVpc",
                    "ec2:DescribeIpamPools",
                    "ec2:DescribeRouteTables",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeListenerCertificates",
                    "elasticloadbalancing:DescribeSSLPolicies",
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetGroupAttributes",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "elasticloadbalancing:DescribeTags",
                    "elasticloadbalancing:DescribeTrustStores",
                    "elasticloadbalancing:DescribeListenerAttributes",
                    "elasticloadbalancing:DescribeCapacityReservation",
                ]
            ),
            allow(
                [
                    "cognito-idp:DescribeUserPoolClient",
                    "acm:ListCertificates",
                    "acm:DescribeCertificate",
                    "iam:ListServerCertificates",
                    "iam:GetServerCertificate",
                    "waf-regional:GetWebACL",
                    "waf-regional:GetWebACLForResource",
                    "waf-regional:AssociateWebACL",
                    "waf-regional:DisassociateWebACL",
                    "wafv2:GetWebACL",
                    "wafv2:GetWebACLForResource",
                    "wafv2:AssociateWebACL",
                    "wafv2:DisassociateWebACL",
                    "shield:GetSubscriptionState",
                    "shield:DescribeProtection",
                    "shield:CreateProtection",
                    "shield:DeleteProtection",
                ]
            ),
            allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
            allow(["ec2:CreateSecurityGroup"]),
            allow(
                ["ec2:CreateTags"],
                "arn:aws:ec2:*:*:security-group/*",
                {
                    "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                    "Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"},
                },
            ),
            allow(
                ["ec2:CreateTags", "ec2:DeleteTags"],
                "arn:aws:ec2:*:*:security-group/*",
                tagging_new,
            ),
            allow(
                [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:DeleteSecurityGroup",
                ],
                condition=owned,
            ),
            allow(
                [
                    "elasticloadbalancing:CreateLoadBalancer",
                    "elasticloadbalancing:CreateTargetGroup",
                ],
                condition={"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}},
            ),
            allow(
                [
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:CreateRule",
                    "elasticloadbalancing:DeleteRule",
                ]
            ),
            allow(
                ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                [
                    f"{elb}:targetgroup/*/*",
                    f"{elb}:loadbalancer/net/*/*",
                    f"{elb}:loadbalancer/app/*/*",
                ],
                tagging_new,
            ),
            allow(
                ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                [
                    f"{elb}:listener/net/*/*/*",
                    f"{elb}:listener/app/*/*/*",
                    f"{elb}:listener-rule/net/*/*/*",
                    f"{elb}:listener-rule/app/*/*/*",
                ],
            ),
            allow(
                [
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyListenerAttributes",
                    "elasticloadbalancing:ModifyCapacityReservation",
                    "elasticloadbalancing:ModifyIpPools",
                ],
                condition=owned,
            ),
            allow(
                ["elasticloadbalancing:AddTags"],
                [
                    f"{elb}:targetgroup/*/*",
                    f"{elb}:loadbalancer/net/*/*",
                    f"{elb}:loadbalancer/app/*/*",
                ],
                {
                    "StringEquals": {
                        "elasticloadbalancing:CreateAction": [
                            "CreateTargetGroup",
                            "CreateLoadBalancer",
                        ]
                    },
                    "Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"},
                },
            ),
            allow(
                [
                    "elasticloadbalancing:RegisterTargets",
                    "elasticloadbalancing:DeregisterTargets",
                ],
                f"{elb}:targetgroup/*/*",
            ),
            allow(
                [
                    "elasticloadbalancing:SetWebAcl",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:AddListenerCertificates",
                    "elasticloadbalancing:RemoveListenerCertificates",
                    "elasticloadbalancing:ModifyRule",
                    "elasticloadbalancing:SetRulePriorities",
                ]
            ),
        ],
    }
