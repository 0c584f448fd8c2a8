"""Hardened, engine-shaped fixtures (camelCase inputs, numbers as floats, secret envelopes).

Each function returns a fresh copy; tests mutate one field at a time.
"""

from __future__ import annotations

from typing import Any

from policies.sutazai_policies.stack import STATEFUL_TYPES

from .harness import UNKNOWN, secret, urn_for

DIGEST = "sha256:" + "3f" * 32
IMAGE = f"ghcr.io/sutazai/backend:1.4.2@{DIGEST}"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DOCKER_CONTAINER = "docker:index/container:Container"
# Where each built-in workload kind keeps its pod spec (test data; the pack finds pods by shape).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
K8S_WORKLOAD_TYPES = sorted(POD_SPEC_PATHS)

API_VERSION_KIND = {
    "kubernetes:core/v1:Pod": ("v1", "Pod"),
    "kubernetes:core/v1:ReplicationController": ("v1", "ReplicationController"),
    "kubernetes:apps/v1:Deployment": ("apps/v1", "Deployment"),
    "kubernetes:apps/v1:StatefulSet": ("apps/v1", "StatefulSet"),
    "kubernetes:apps/v1:DaemonSet": ("apps/v1", "DaemonSet"),
    "kubernetes:apps/v1:ReplicaSet": ("apps/v1", "ReplicaSet"),
    "kubernetes:batch/v1:Job": ("batch/v1", "Job"),
    "kubernetes:batch/v1:CronJob": ("batch/v1", "CronJob"),
}


def hardened_container(name: str = "api", image: str = IMAGE) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8000.0, "protocol": "TCP"}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001.0,
            "runAsGroup": 10001.0,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            # seccompProfile comes from the pod-level securityContext (as PSS allows).
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {
                "name": "POSTGRES_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "backend-db", "key": "password"}},
            },
            {"name": "POSTGRES_PASSWORD_FILE", "value": "/vault/secrets/postgres"},
            {"name": "REDIS_PASSWORD", "value": secret("generated-by-random")},
            {"name": "API_TOKEN_HEADER", "value": ""},
        ],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def hardened_pod_spec() -> dict[str, Any]:
    return {
        "serviceAccountName": "backend",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001.0,
            "runAsGroup": 10001.0,
            "fsGroup": 10001.0,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [hardened_container("migrate")],
        "containers": [hardened_container("api")],
        "volumes": [
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "config", "configMap": {"name": "backend-config"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "backend-data"}},
            {"name": "creds", "secret": {"secretName": "backend-db"}},
            {"name": "token", "projected": {"sources": []}},
        ],
    }


def workload(
    type_: str, pod_spec: dict[str, Any] | None = None, name: str = "backend"
) -> dict[str, Any]:
    """Inputs for any pod-template kind, with the pod spec where Kubernetes keeps it."""
    spec = pod_spec if pod_spec is not None else hardened_pod_spec()
    api_version, kind = API_VERSION_KIND[type_]
    labels = {"app.kubernetes.io/name": name}
    metadata = {"name": name, "namespace": "sutazai-core", "labels": labels}
    template = {"metadata": {"labels": labels}, "spec": spec}
    body: dict[str, Any]
    if kind == "Pod":
        body = spec
    elif kind == "CronJob":
        spec["restartPolicy"] = "OnFailure"
        body = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec["restartPolicy"] = "Never"
        body = {"backoffLimit": 2.0, "template": template}
    else:
        body = {"replicas": 2.0, "selector": {"matchLabels": labels}, "template": template}
        if kind == "StatefulSet":
            body["serviceName"] = name
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": body}


def pod_path(type_: str) -> tuple[str, ...]:
    return POD_SPEC_PATHS[type_]


def gpu_deployment() -> dict[str, Any]:
    spec = hardened_pod_spec()
    spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 1.0
    spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    spec["nodeSelector"] = {"sutazai.ai/node-group": "gpu"}
    return workload(DEPLOYMENT, spec, name="ollama")


def namespace(name: str = "sutazai-core") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def default_deny(namespace_name: Any = "sutazai-core") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": namespace_name},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def allow_policy(namespace_name: str = "sutazai-core") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "backend-to-postgres", "namespace": namespace_name},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "backend"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "postgres"}}}]}],
        },
    }


def docker_container() -> dict[str, Any]:
    return {
        "name": "sutazai-backend",
        "image": f"sutazai/backend:1.4.2@{DIGEST}",
        "user": "10001:10001",
        "readOnly": True,
        "capabilities": {"drops": ["ALL"]},
        "securityOpts": ["no-new-privileges:true"],
        "memory": 512.0,
        "privileged": False,
        "networkMode": "bridge",
        "networksAdvanced": [{"name": "sutazai-application"}],
        "tmpfs": {"/tmp": "rw,size=64m"},
        "envs": [
            "LOG_LEVEL=info",
            "POSTGRES_PASSWORD_FILE=/run/secrets/postgres",
            secret("POSTGRES_PASSWORD=generated"),
            "REDIS_URL=redis://redis:6379/0",
        ],
        "restart": "unless-stopped",
    }


# ---------------------------------------------------------------- AWS


def security_group() -> dict[str, Any]:
    return {
        "vpcId": "vpc-0abc",
        "description": "public load balancer",
        "ingress": [
            {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]},
            {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "ipv6CidrBlocks": ["::/0"]},
            {
                "protocol": "tcp",
                "fromPort": 5432.0,
                "toPort": 5432.0,
                "cidrBlocks": ["10.0.0.0/16"],
            },
        ],
        "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
    }


def security_group_rule() -> dict[str, Any]:
    return {
        "type": "ingress",
        "securityGroupId": "sg-1",
        "protocol": "tcp",
        "fromPort": 443.0,
        "toPort": 443.0,
        "cidrBlocks": ["0.0.0.0/0"],
    }


def sg_ingress_rule() -> dict[str, Any]:
    return {
        "securityGroupId": "sg-1",
        "ipProtocol": "tcp",
        "fromPort": 443.0,
        "toPort": 443.0,
        "cidrIpv4": "0.0.0.0/0",
    }


def rds_instance() -> dict[str, Any]:
    return {
        "engine": "postgres",
        "engineVersion": "17.6",
        "instanceClass": "db.t4g.medium",
        "allocatedStorage": 50.0,
        "storageEncrypted": True,
        "kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/abc",
        "backupRetentionPeriod": 7.0,
        "deletionProtection": True,
        "multiAz": True,
        "username": "postgres",
        "manageMasterUserPassword": True,
        "skipFinalSnapshot": False,
    }


def rds_cluster() -> dict[str, Any]:
    return {
        "engine": "aurora-postgresql",
        "storageEncrypted": True,
        "backupRetentionPeriod": 14.0,
        "deletionProtection": True,
        "masterUsername": "postgres",
        "manageMasterUserPassword": True,
    }


def elasticache() -> dict[str, Any]:
    return {
        "description": "redis",
        "engine": "redis",
        "nodeType": "cache.t4g.small",
        "atRestEncryptionEnabled": True,
        "transitEncryptionEnabled": True,
        "authToken": secret("generated"),
    }


def ebs_volume() -> dict[str, Any]:
    return {"availabilityZone": "eu-west-1a", "size": 100.0, "type": "gp3", "encrypted": True}


def eks_cluster() -> dict[str, Any]:
    return {
        "roleArn": "arn:aws:iam::123456789012:role/eks",
        "version": "1.33",
        "vpcConfig": {
            "subnetIds": ["subnet-a", "subnet-b"],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
        },
    }


def ecr_repository() -> dict[str, Any]:
    return {
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfigurations": [{"encryptionType": "KMS"}],
    }


def kms_key() -> dict[str, Any]:
    return {"description": "sutazai data", "enableKeyRotation": True, "deletionWindowInDays": 30.0}


# ---------------------------------------------------------------- realistic plans


def _res(
    stack: str,
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    protect: bool = False,
    parent: str = "",
    provider: str = "",
) -> dict[str, Any]:
    return {
        "urn": urn_for(type_, name, stack, parent_type="sutazai:index:SutazAI" if parent else None),
        "type": type_,
        "name": name,
        "inputs": inputs,
        # prod protects every class whose loss loses data or access
        "protect": protect or (stack == "prod" and type_ in STATEFUL_TYPES),
        "parent": parent,
        "provider": provider,
    }


def prod_plan() -> dict[str, Any]:
    """A realistic slice of the prod stack, engine-shaped, that must pass prod.json."""
    s = "prod"
    stack_urn = urn_for("pulumi:pulumi:Stack", "sutazai-prod", s)
    root = urn_for("sutazai:index:SutazAI", "sutazai", s)
    k8s_provider = urn_for("pulumi:providers:kubernetes", "eks", s) + "::04da6b54-80e4-46f7-96ec"
    aws_provider = urn_for("pulumi:providers:aws", "default_7_51_1", s) + "::c0ffee"
    statefulset = workload("kubernetes:apps/v1:StatefulSet", name="qdrant")
    statefulset["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "storage"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "20Gi"}},
            },
        }
    ]
    resources = [
        {**_res(s, "pulumi:pulumi:Stack", "sutazai-prod", {}), "urn": stack_urn},
        {**_res(s, "sutazai:index:SutazAI", "sutazai", {}, parent=stack_urn), "urn": root},
        _res(
            s,
            NAMESPACE,
            "sutazai-core",
            namespace("sutazai-core"),
            parent=root,
            provider=k8s_provider,
        ),
        _res(
            s,
            NAMESPACE,
            "sutazai-data",
            namespace("sutazai-data"),
            parent=root,
            provider=k8s_provider,
        ),
        _res(s, NETWORK_POLICY, "core-default-deny", default_deny("sutazai-core"), parent=root),
        _res(s, NETWORK_POLICY, "data-default-deny", default_deny("sutazai-data"), parent=root),
        _res(s, NETWORK_POLICY, "backend-to-postgres", allow_policy(), parent=root),
        _res(s, DEPLOYMENT, "backend", workload(DEPLOYMENT), parent=root, provider=k8s_provider),
        _res(s, DEPLOYMENT, "ollama", gpu_deployment(), parent=root, provider=k8s_provider),
        _res(s, "kubernetes:apps/v1:StatefulSet", "qdrant", statefulset, parent=root),
        _res(
            s,
            "kubernetes:batch/v1:CronJob",
            "backup",
            workload("kubernetes:batch/v1:CronJob", name="backup"),
        ),
        _res(
            s,
            "kubernetes:core/v1:PersistentVolumeClaim",
            "ollama-models",
            {
                "metadata": {"name": "ollama-models", "namespace": "sutazai-core"},
                "spec": {"storageClassName": "gp3"},
            },
            protect=True,
        ),
        _res(
            s,
            "kubernetes:storage.k8s.io/v1:StorageClass",
            "gp3",
            {
                "metadata": {
                    "name": "gp3",
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "ebs.csi.aws.com",
                "reclaimPolicy": "Retain",
                # Every volume it provisions carries the backup selection's tag.
                "parameters": {
                    "type": "gp3",
                    "encrypted": "true",
                    "tagSpecification_1": "sutazai:backup=prod",
                },
            },
        ),
        _res(
            s,
            "aws:backup/selection:Selection",
            "backup-tagged",
            {
                "planId": "plan-id",
                "iamRoleArn": "arn:aws:iam::123456789012:role/backup",
                "resources": ["arn:aws:ec2:*:*:volume/*", "arn:aws:rds:*:*:db:*"],
                "selectionTags": [
                    {"type": "STRINGEQUALS", "key": "sutazai:backup", "value": "prod"}
                ],
            },
            provider=aws_provider,
        ),
        _res(s, "aws:eks/cluster:Cluster", "sutazai", eks_cluster(), provider=aws_provider),
        _res(
            s, "aws:ec2/securityGroup:SecurityGroup", "alb", security_group(), provider=aws_provider
        ),
        _res(
            s,
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "alb-https",
            sg_ingress_rule(),
        ),
        _res(
            s,
            "aws:rds/instance:Instance",
            "postgres",
            {**rds_instance(), "tags": {"sutazai:backup": "prod"}},
            protect=True,
            provider=aws_provider,
        ),
        _res(
            s,
            "aws:elasticache/replicationGroup:ReplicationGroup",
            "redis",
            {**elasticache(), "snapshotRetentionLimit": 7},
            protect=True,
        ),
        _res(s, "aws:kms/key:Key", "data", kms_key(), protect=True),
        _res(s, "aws:ecr/repository:Repository", "backend", ecr_repository()),
        _res(
            s,
            "aws:ebs/volume:Volume",
            "scratch",
            {**ebs_volume(), "tags": {"sutazai:backup": "prod"}},
            protect=True,
        ),
        _res(
            s,
            "aws:s3/bucket:Bucket",
            "artifacts",
            {"bucket": "sutazai-artifacts-prod", "forceDestroy": False},
            protect=True,
        ),
        _res(s, "aws:s3/bucket:Bucket", "logs", {"forceDestroy": False}, protect=True),
        _res(
            s,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "artifacts-sse",
            {
                "bucket": "sutazai-artifacts-prod",
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
        ),
        _res(
            s,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "artifacts-pab",
            {
                "bucket": "sutazai-artifacts-prod",
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        # the auto-named bucket: linked through the engine's property dependencies (preview:
        # the id is unknown) and through its auto-name prefix
        {
            **_res(
                s,
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "logs-sse",
                {
                    "bucket": UNKNOWN,
                    "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
                },
            ),
            "propertyDependencies": {"bucket": [urn_for("aws:s3/bucket:Bucket", "logs", s)]},
        },
        _res(
            s,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "logs-pab",
            {
                "bucket": "logs-7d1e2f3",
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        _res(s, "vault:index/mount:Mount", "kv", {"path": "sutazai", "type": "kv-v2"}),
        _res(
            s,
            "random:index/randomPassword:RandomPassword",
            "postgres",
            {"length": 32.0, "special": False},
        ),
    ]
    return {"stack": s, "project": "sutazai", "resources": resources}


def dev_plan() -> dict[str, Any]:
    """A realistic slice of the dev (local Docker) stack that must pass dev.json."""
    s = "dev"
    root = urn_for("sutazai:index:SutazAI", "sutazai", s)
    postgres = docker_container()
    postgres.update(name="sutazai-postgres", image=f"postgres:17.6-alpine@{DIGEST}", user="70:70")
    return {
        "stack": s,
        "project": "sutazai",
        "resources": [
            {**_res(s, "sutazai:index:SutazAI", "sutazai", {}), "urn": root},
            _res(
                s,
                "docker:index/network:Network",
                "sutazai-data",
                {"name": "sutazai-data", "internal": True},
            ),
            _res(
                s, "docker:index/volume:Volume", "postgres-data", {"name": "sutazai-postgres-data"}
            ),
            _res(
                s,
                "docker-build:index:Image",
                "backend",
                {
                    "tags": ["sutazai/backend:1.4.2"],
                    "push": False,
                    "context": {"location": "service-code/backend"},
                    "buildArgs": {"PYTHON_VERSION": "3.11.14"},
                },
            ),
            _res(s, DOCKER_CONTAINER, "backend", docker_container(), parent=root),
            _res(s, DOCKER_CONTAINER, "postgres", postgres, parent=root),
        ],
    }
