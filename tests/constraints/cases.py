"""A valid and an invalid value for every field rule of stacks.constraints.RULES.

Looked up by (resource type, selector), then by (type family, selector) and then by the
selector alone; test_rules fails for a rule with no case, so a new rule comes with one.
Each invalid value breaks exactly the rule's documented constraint (length, character set,
enum, range), not merely its type.
"""

from __future__ import annotations

from typing import Any

LONG = "a" * 300
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}'

# (good, bad) by selector, for every type.
BY_FIELD: dict[str, tuple[Any, Any]] = {
    "tags{keys}": ("sutazai:stack", "aws:stack"),
    "tags{}": ("prod", "x" * 257),
    "tagSpecifications[].tags{keys}": ("Name", "aws:name"),
    "tagSpecifications[].tags{}": ("node", "x" * 257),
    "description": ("SutazAI data subnets", LONG),
    "cidrBlock": ("10.0.0.0/24", "10.0.0.0/33"),
    "cidrIpv4": ("10.30.8.0/24", "10.30.8.0/99"),
    "destinationCidrBlock": ("0.0.0.0/0", "0.0.0.0"),
    "ipProtocol": ("tcp", "tcpp"),
    "clusterName": ("sutazai-prod", "-sutazai"),
    "engine": ("redis", "memcache"),
    "policyArn": ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", "AmazonEKSClusterPolicy"),
    "policy": (POLICY, '{"Statement": []}'),
    "port": (6379, 0),
    "finalSnapshotIdentifier": ("sutazai-prod-final", "sutazai--final"),
    "maintenanceWindow": ("sun:05:30-sun:06:30", "sun:05:30-sun:05:45"),
    "labels[].label": ("ai.sutazai.stack", ""),
    "ingress[].description": ("from the ALB", "the ALB's"),
    "egress[].description": ("to the nodes", "to the nodes; ok? no"),
    "ingress[].ruleNo": (100, 32767),
    "egress[].ruleNo": (100, 0),
    "ingress[].action": ("allow", "permit"),
    "egress[].action": ("deny", "block"),
    "ingress[].protocol": ("-1", "everything"),
    "egress[].protocol": ("6", "256"),
    "ingress[].fromPort": (0, 65536),
    "egress[].fromPort": (1024, -2),
    "ingress[].toPort": (65535, 70000),
    "egress[].toPort": (5432, -1),
    "ingress[].cidrBlock": ("10.40.0.0/16", "10.40.0.0/16/1"),
    "egress[].cidrBlock": ("10.30.8.0/24", "vpc"),
    "path": ("sutazai-prod", "sys/sutazai"),
    "maxLeaseTtlSeconds": (3600, -1),
    "name": ("sutazai-prod-x", "-bad name-"),
}

# (good, bad) by (type, selector).
BY_TYPE: dict[tuple[str, str], tuple[Any, Any]] = {
    ("aws:cloudwatch/logGroup:LogGroup", "name"): ("/aws/eks/sutazai-prod/cluster", "/aws/eks/a b"),
    ("aws:cloudwatch/logGroup:LogGroup", "retentionInDays"): (365, 366),
    ("aws:ec2/eip:Eip", "domain"): ("vpc", "classic"),
    ("aws:ec2/flowLog:FlowLog", "trafficType"): ("ALL", "SOME"),
    ("aws:ec2/flowLog:FlowLog", "maxAggregationInterval"): (600, 300),
    ("aws:ec2/flowLog:FlowLog", "logDestinationType"): ("s3", "cloudwatch"),
    ("aws:ec2/flowLog:FlowLog", "logDestination"): (
        "arn:aws:logs:us-east-1:123456789012:log-group:x",
        "log-group:x",
    ),
    ("aws:ec2/launchTemplate:LaunchTemplate", "name"): ("sutazai-general", "ab"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "description"): ("nodes", "x" * 256),
    ("aws:ec2/launchTemplate:LaunchTemplate", "metadataOptions.httpTokens"): ("required", "on"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "metadataOptions.httpEndpoint"): ("enabled", "yes"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "metadataOptions.httpPutResponseHopLimit"): (1, 65),
    ("aws:ec2/launchTemplate:LaunchTemplate", "blockDeviceMappings[].ebs.volumeType"): (
        "gp3",
        "gp4",
    ),
    ("aws:ec2/launchTemplate:LaunchTemplate", "blockDeviceMappings[].ebs.volumeSize"): (80, 0),
    ("aws:ec2/launchTemplate:LaunchTemplate", "tagSpecifications[].resourceType"): (
        "instance",
        "launch-template",
    ),
    ("aws:ec2/natGateway:NatGateway", "connectivityType"): ("public", "internet"),
    ("aws:ec2/securityGroup:SecurityGroup", "name"): ("sutazai-prod-data", "sg-data"),
    ("aws:ec2/securityGroup:SecurityGroup", "description"): (
        "Internet-facing ALB: HTTPS in, ports of the ingress services out",
        "Internet-facing ALB: HTTPS in, the ingress services' ports out",
    ),
    ("aws:ec2/vpc:Vpc", "cidrBlock"): ("10.40.0.0/16", "10.0.0.0/8"),
    ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repository"): (
        "sutazai/backend",
        "Sutazai/Backend",
    ),
    ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "policy"): (
        '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": '
        '"imageCountMoreThan", "countNumber": 30}, "action": {"type": "expire"}}]}',
        '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "all", "countType": '
        '"imageCountMoreThan", "countNumber": 30}, "action": {"type": "expire"}}]}',
    ),
    ("aws:ecr/repository:Repository", "name"): ("sutazai/dev/backend", "sutazai//backend"),
    ("aws:ecr/repository:Repository", "imageTagMutability"): ("IMMUTABLE", "LOCKED"),
    ("aws:ecr/repository:Repository", "encryptionConfigurations[].encryptionType"): ("KMS", "SSE"),
    ("aws:eks/accessEntry:AccessEntry", "type"): ("STANDARD", "ADMIN"),
    ("aws:eks/accessEntry:AccessEntry", "principalArn"): (
        "arn:aws:iam::123456789012:role/deploy",
        "arn:aws:iam::123456789012:group/deploy",
    ),
    ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "accessScope.type"): (
        "namespace",
        "account",
    ),
    ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "policyArn"): (
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        "arn:aws:iam::aws:policy/AmazonEKSClusterAdminPolicy",
    ),
    ("aws:eks/addon:Addon", "addonName"): ("vpc-cni", ""),
    ("aws:eks/addon:Addon", "resolveConflictsOnCreate"): ("OVERWRITE", "PRESERVE"),
    ("aws:eks/addon:Addon", "resolveConflictsOnUpdate"): ("PRESERVE", "KEEP"),
    ("aws:eks/addon:Addon", "configurationValues"): ('{"replicaCount": 2}', "replicaCount: [2"),
    ("aws:eks/cluster:Cluster", "name"): ("sutazai-prod", "sutazai.prod"),
    ("aws:eks/cluster:Cluster", "version"): ("1.31", "1.31.2"),
    ("aws:eks/cluster:Cluster", "enabledClusterLogTypes"): (["api", "audit"], ["api", "kubelet"]),
    ("aws:eks/cluster:Cluster", "encryptionConfig.resources"): (["secrets"], ["configmaps"]),
    ("aws:eks/cluster:Cluster", "kubernetesNetworkConfig.serviceIpv4Cidr"): (
        "172.20.0.0/16",
        "172.20.0.0/26",
    ),
    ("aws:eks/cluster:Cluster", "accessConfig.authenticationMode"): ("API", "IAM"),
    ("aws:eks/nodeGroup:NodeGroup", "nodeGroupName"): ("sutazai-gpu", "g" * 64),
    ("aws:eks/nodeGroup:NodeGroup", "labels{keys}"): (
        "sutazai.io/node-pool",
        "sutazai.io/node pool",
    ),
    ("aws:eks/nodeGroup:NodeGroup", "labels{}"): ("gpu", "gpu-"),
    ("aws:eks/nodeGroup:NodeGroup", "taints[].key"): ("nvidia.com/gpu", "nvidia.com/"),
    ("aws:eks/nodeGroup:NodeGroup", "taints[].value"): ("true", "t" * 64),
    ("aws:eks/nodeGroup:NodeGroup", "taints[].effect"): ("NO_SCHEDULE", "NoSchedule"),
    ("aws:eks/nodeGroup:NodeGroup", "amiType"): ("AL2023_x86_64_NVIDIA", "AL2023_NVIDIA"),
    ("aws:eks/nodeGroup:NodeGroup", "capacityType"): ("SPOT", "RESERVED"),
    ("aws:eks/nodeGroup:NodeGroup", "instanceTypes"): (["g5.xlarge"], ["m6i.large"] * 21),
    ("aws:eks/nodeGroup:NodeGroup", "updateConfig.maxUnavailable"): (1, 0),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "replicationGroupId"): (
        "sutazai-prod-data-redis",
        "sutazai-prod-data-redis-with-a-longer-name",  # 42 characters
    ),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "description"): ("redis", ""),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "snapshotWindow"): (
        "02:00-03:00",
        "02:00-02:30",
    ),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "maintenanceWindow"): (
        "sun:23:30-mon:00:30",
        "sun:05:30-mon:06:30",  # 25 hours
    ),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "snapshotRetentionLimit"): (7, 36),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "numCacheClusters"): (2, 7),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "transitEncryptionMode"): (
        "required",
        "strict",
    ),
    ("aws:elasticache/subnetGroup:SubnetGroup", "name"): ("sutazai-redis", "Sutazai_Redis"),
    ("aws:elasticache/subnetGroup:SubnetGroup", "description"): ("redis", ""),
    ("aws:elasticache/user:User", "userId"): ("sutazai-prod-redis-backend", "sutazai-prod-redis-"),
    ("aws:elasticache/user:User", "userName"): ("default", ""),
    ("aws:elasticache/user:User", "authenticationMode.type"): ("password", "token"),
    ("aws:elasticache/user:User", "authenticationMode.passwords"): (["a" * 16], ["a" * 16] * 3),
    ("aws:elasticache/userGroup:UserGroup", "userGroupId"): ("sutazai-redis", "9-redis"),
    ("aws:elasticache/userGroup:UserGroup", "userIds"): (["default-user"], ["u"] * 101),
    ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "url"): (
        "https://oidc.eks.us-east-1.amazonaws.com/id/X",
        "http://oidc.example.com",
    ),
    ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "clientIdLists"): (
        ["sts.amazonaws.com"],
        [""],
    ),
    ("aws:iam/role:Role", "name"): ("sutazai-prod-nodes", "sutazai prod nodes"),
    ("aws:iam/role:Role", "path"): ("/sutazai/", "sutazai"),
    ("aws:iam/role:Role", "description"): ("nodes", "x" * 1001),
    ("aws:iam/role:Role", "maxSessionDuration"): (3600, 60),
    ("aws:iam/role:Role", "assumeRolePolicy"): (
        POLICY,
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "'
        + "x" * 2048
        + '"}]}',
    ),
    ("aws:iam/rolePolicy:RolePolicy", "name"): ("sutazai-flow-logs", "sutazai/flow-logs"),
    ("aws:kms/alias:Alias", "name"): ("alias/sutazai-prod-data", "alias/aws/sutazai"),
    ("aws:kms/key:Key", "description"): ("data", "x" * 8193),
    ("aws:kms/key:Key", "deletionWindowInDays"): (30, 31),
    ("aws:kms/key:Key", "policy"): ("{}", "[]"),
    ("aws:rds/instance:Instance", "identifier"): ("sutazai-prod-data-postgres", "1sutazai"),
    ("aws:rds/instance:Instance", "dbName"): ("sutazai", "sutazai-db"),
    ("aws:rds/instance:Instance", "username"): ("postgres", "rdsadmin"),
    ("aws:rds/instance:Instance", "backupWindow"): ("03:00-04:00", "03:00-03:15"),
    ("aws:rds/instance:Instance", "maintenanceWindow"): (
        "sun:05:30-sun:06:30",
        "sun:5:30-sun:6:30",
    ),
    ("aws:rds/instance:Instance", "backupRetentionPeriod"): (14, 36),
    ("aws:rds/instance:Instance", "monitoringInterval"): (60, 45),
    ("aws:rds/instance:Instance", "performanceInsightsRetentionPeriod"): (31, 30),
    ("aws:rds/instance:Instance", "port"): (5432, 1000),
    ("aws:rds/instance:Instance", "storageType"): ("gp3", "ssd"),
    ("aws:rds/instance:Instance", "allocatedStorage"): (50, 10),
    ("aws:rds/instance:Instance", "enabledCloudwatchLogsExports"): (["postgresql"], ["audit"]),
    ("aws:rds/instance:Instance", "instanceClass"): ("db.r6g.large", "r6g.large"),
    ("aws:rds/parameterGroup:ParameterGroup", "name"): ("sutazai-postgres", "sutazai-postgres-"),
    ("aws:rds/parameterGroup:ParameterGroup", "description"): ("postgres", ""),
    ("aws:rds/parameterGroup:ParameterGroup", "family"): ("postgres17", "Postgres 17"),
    ("aws:rds/parameterGroup:ParameterGroup", "parameters[].applyMethod"): ("immediate", "now"),
    ("aws:rds/subnetGroup:SubnetGroup", "name"): ("sutazai postgres", "default"),
    ("aws:rds/subnetGroup:SubnetGroup", "description"): ("postgres", ""),
    ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "description"): (
        "to the pods of backend, frontend",
        "to the backend's pods",
    ),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "description"): (
        "Kubernetes API from the nodes",
        "Kubernetes API from the nodes <- all",
    ),
    ("aws:s3/bucket:Bucket", "bucket"): ("sutazai-prod-logs", "sutazai-prod-logs-s3alias"),
    ("aws:s3/bucketV2:BucketV2", "bucket"): ("sutazai.logs", "192.168.1.1"),
    ("aws:sqs/queue:Queue", "name"): ("sutazai-jobs.fifo", "sutazai.jobs"),
    ("aws:sqs/queue:Queue", "messageRetentionSeconds"): (345600, 30),
    ("aws:sqs/queue:Queue", "visibilityTimeoutSeconds"): (30, 43201),
    ("aws:sqs/queue:Queue", "delaySeconds"): (0, 901),
    ("aws:sqs/queue:Queue", "maxMessageSize"): (262144, 512),
    ("aws:sqs/queue:Queue", "receiveWaitTimeSeconds"): (20, 21),
    ("aws:wafv2/webAcl:WebAcl", "name"): ("sutazai-prod-alb", "sutazai prod"),
    ("aws:wafv2/webAcl:WebAcl", "scope"): ("REGIONAL", "GLOBAL"),
    ("aws:wafv2/webAcl:WebAcl", "description"): ("ALB", ""),
    ("aws:wafv2/webAcl:WebAcl", "visibilityConfig.metricName"): ("sutazai-alb", "All"),
    ("aws:wafv2/webAcl:WebAcl", "rules[].name"): ("common-rules", "common rules"),
    ("aws:wafv2/webAcl:WebAcl", "rules[].priority"): (0, -1),
    ("aws:wafv2/webAcl:WebAcl", "rules[].visibilityConfig.metricName"): ("common", "com mon"),
    ("aws:wafv2/webAclAssociation:WebAclAssociation", "resourceArn"): (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1",
        "loadbalancer/app/x",
    ),
    ("aws:wafv2/webAclAssociation:WebAclAssociation", "webAclArn"): (
        "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/x/1",
        "webacl/x",
    ),
    ("aws:backup/vault:Vault", "name"): ("sutazai-prod", "s"),
    ("aws:backup/plan:Plan", "name"): ("sutazai-prod.daily", "sutazai prod"),
    ("aws:backup/plan:Plan", "rules[].ruleName"): ("daily", "d" * 51),
    ("aws:backup/plan:Plan", "rules[].targetVaultName"): ("sutazai-prod", "sutazai.prod"),
    ("aws:backup/plan:Plan", "rules[].schedule"): ("cron(0 5 * * ? *)", "0 5 * * *"),
    ("aws:backup/plan:Plan", "rules[].startWindow"): (60, 30),
    ("aws:backup/selection:Selection", "name"): ("sutazai-rds", "sutazai/rds"),
    ("aws:backup/selection:Selection", "iamRoleArn"): (
        "arn:aws:iam::123456789012:role/backup",
        "arn:aws:iam::123456789012:user/backup",
    ),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "name"): ("sutazai-5xx", ""),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "alarmDescription"): ("5xx", "x" * 1025),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "comparisonOperator"): (
        "GreaterThanThreshold",
        ">",
    ),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "evaluationPeriods"): (3, 0),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "period"): (300, 90),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "statistic"): ("Sum", "p99"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "treatMissingData"): ("notBreaching", "zero"),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "rules[].applyServerSideEncryptionByDefault.sseAlgorithm",
    ): ("AES256", "SSE-S3"),
    ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "rule.objectOwnership"): (
        "BucketOwnerEnforced",
        "Owner",
    ),
    ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "rules[].id"): (
        "expire-access-logs",
        "x" * 256,
    ),
    ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "rules[].status"): (
        "Enabled",
        "On",
    ),
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "rules[].expiration.days",
    ): (90, 0),
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "rules[].abortIncompleteMultipartUpload.daysAfterInitiation",
    ): (1, 0),
    ("aws:cognito/userPool:UserPool", "name"): ("sutazai-prod-users", "sutazai/users"),
    ("aws:cognito/userPool:UserPool", "passwordPolicy.minimumLength"): (14, 5),
    ("aws:cognito/userPool:UserPool", "passwordPolicy.temporaryPasswordValidityDays"): (3, 366),
    ("aws:cognito/userPool:UserPool", "mfaConfiguration"): ("OPTIONAL", "REQUIRED"),
    ("aws:cognito/userPool:UserPool", "deletionProtection"): ("ACTIVE", "ON"),
    ("aws:cognito/userPool:UserPool", "accountRecoverySetting.recoveryMechanisms[].name"): (
        "verified_email",
        "email",
    ),
    ("aws:cognito/userPoolDomain:UserPoolDomain", "domain"): (
        "sutazai-prod-sutazai-example-com",
        "sutazai-cognito-login",
    ),
    ("aws:cognito/userPoolClient:UserPoolClient", "name"): ("sutazai-prod-alb", "alb/client"),
    ("aws:cognito/userPoolClient:UserPoolClient", "allowedOauthFlows"): (["code"], ["password"]),
    ("aws:cognito/userPoolClient:UserPoolClient", "callbackUrls"): (
        ["https://sutazai.example.com/oauth2/idpresponse"],
        ["http://sutazai.example.com/oauth2/idpresponse"],
    ),
    ("aws:cognito/userPoolClient:UserPoolClient", "logoutUrls"): (
        ["https://sutazai.example.com/"],
        ["sutazai.example.com"],
    ),
    ("aws:cognito/userPoolClient:UserPoolClient", "accessTokenValidity"): (60, 0),
    ("aws:cognito/userPoolClient:UserPoolClient", "idTokenValidity"): (60, 86401),
    ("aws:cognito/userPoolClient:UserPoolClient", "refreshTokenValidity"): (12, -1),
    ("aws:cognito/userPoolClient:UserPoolClient", "preventUserExistenceErrors"): (
        "ENABLED",
        "ON",
    ),
    ("pulumi:providers:aws", "region"): ("us-east-1", "us-east"),
    # docker
    ("docker:index/container:Container", "name"): ("sutazai-dev-backend", "sutazai dev"),
    ("docker:index/container:Container", "image"): (
        "localhost/sutazai/dev/backend:dev-6f7bc59da0e2",
        "Sutazai/Backend:dev",
    ),
    ("docker:index/container:Container", "memory"): (512, 4),
    ("docker:index/container:Container", "cpuShares"): (1024, 1),
    ("docker:index/container:Container", "restart"): ("unless-stopped", "sometimes"),
    ("docker:index/container:Container", "ports[].internal"): (8080, 0),
    ("docker:index/container:Container", "ports[].external"): (18080, 65536),
    ("docker:index/container:Container", "ports[].ip"): ("127.0.0.1", "localhost"),
    ("docker:index/container:Container", "ports[].protocol"): ("tcp", "http"),
    ("docker:index/container:Container", "envs"): (["A=1"], ["=1"]),
    ("docker:index/container:Container", "user"): ("10001:10001", "10001:"),
    ("docker:index/container:Container", "uploads[].file"): ("/run/secrets/x", "run/secrets/x"),
    ("docker:index/container:Container", "volumes[].containerPath"): ("/data", "data"),
    ("docker:index/container:Container", "healthcheck.tests"): (["CMD", "true"], ["curl", "x"]),
    ("docker:index/container:Container", "healthcheck.interval"): ("10s", "10"),
    ("docker:index/container:Container", "healthcheck.timeout"): ("3s", "three"),
    ("docker:index/container:Container", "healthcheck.startPeriod"): ("1m30s", "90"),
    ("docker:index/container:Container", "capabilities.drops"): (["ALL"], ["all"]),
    ("docker:index/network:Network", "name"): ("sutazai-dev-data", "   "),
    ("docker:index/network:Network", "driver"): ("bridge", "vxlan"),
    ("docker:index/remoteImage:RemoteImage", "name"): ("redis:7.4.11-alpine", "redis:7.4:alpine"),
    ("docker:index/volume:Volume", "name"): ("sutazai-dev-postgres-data", "x"),
    ("docker-build:index:Image", "tags"): (
        ["123456789012.dkr.ecr.us-east-1.amazonaws.com/sutazai/backend:1.0.0-d374907a5e87"],
        ["sutazai/backend:" + "t" * 129],
    ),
    ("docker-build:index:Image", "platforms"): (["linux/amd64"], ["amd64"]),
    ("docker-build:index:Image", "buildArgs{keys}"): ("BASE_IMAGE", "BASE-IMAGE"),
    ("docker-build:index:Image", "network"): ("default", "bridge"),
    # vault
    ("vault:index/mount:Mount", "type"): ("kv", "kv3"),
    ("vault:index/mount:Mount", "options.version"): ("2", "3"),
    ("vault:index/mount:Mount", "defaultLeaseTtlSeconds"): (0, -5),
    ("vault:index/authBackend:AuthBackend", "path"): ("sutazai-prod-kubernetes", "auth/k8s"),
    ("vault:index/authBackend:AuthBackend", "type"): ("kubernetes", "k8s"),
    ("vault:index/policy:Policy", "name"): ("sutazai-prod-backend", "Sutazai-Prod-Backend"),
    ("vault:index/policy:Policy", "policy"): ('path "a/b" { capabilities = ["read"] }', ""),
    ("vault:kubernetes/authBackendRole:AuthBackendRole", "roleName"): ("backend", "back end"),
    ("vault:kubernetes/authBackendRole:AuthBackendRole", "boundServiceAccountNames"): (
        ["backend"],
        ["Backend"],
    ),
    ("vault:kubernetes/authBackendRole:AuthBackendRole", "boundServiceAccountNamespaces"): (
        ["sutazai-core"],
        ["sutazai.core"],
    ),
    ("vault:kubernetes/authBackendRole:AuthBackendRole", "tokenTtl"): (3600, -1),
    ("vault:kubernetes/authBackendRole:AuthBackendRole", "tokenMaxTtl"): (86400, 1.5),
    ("vault:kubernetes/authBackendRole:AuthBackendRole", "tokenPolicies"): (
        ["sutazai-prod-backend"],
        ["root"],
    ),
    ("vault:kubernetes/authBackendConfig:AuthBackendConfig", "kubernetesHost"): (
        "https://eks.example.com",
        "eks.example.com",
    ),
    ("vault:database/secretBackendConnection:SecretBackendConnection", "pluginName"): (
        "postgresql-database-plugin",
        "postgresql",
    ),
    ("vault:database/secretBackendRole:SecretBackendRole", "defaultTtl"): (3600, -3600),
    ("vault:database/secretBackendRole:SecretBackendRole", "maxTtl"): (86400, "1d"),
    ("vault:database/secretBackendRole:SecretBackendRole", "creationStatements"): (["CREATE"], []),
    ("vault:kv/secretV2:SecretV2", "name"): ("postgres/password", "/postgres/password"),
    ("pulumi:providers:vault", "address"): ("https://vault:8200", "vault:8200"),
    ("pulumi:providers:vault", "maxLeaseTtlSeconds"): ("14400", "4h"),
    ("random:index/randomPassword:RandomPassword", "length"): (32, 0),
    ("pulumi:pulumi:StackReference", "name"): ("sutazai-org/sutazai/dev-cluster", "a/b/c/d"),
}

# Kubernetes: by selector with the pod-template prefix removed ("pod:" + the rest), and
# metadata.name per kind.
KUBERNETES: dict[str, tuple[Any, Any]] = {
    "metadata.annotations{keys}": ("vault.hashicorp.com/role", "vault.hashicorp.com/role/x"),
    "metadata.labels{keys}": ("app.kubernetes.io/name", "app.kubernetes.io/" + "n" * 64),
    "metadata.labels{}": ("backend", "back end"),
    "metadata.namespace": ("sutazai-core", "sutazai_core"),
    "pod:metadata.annotations{keys}": ("vault.hashicorp.com/agent-inject", "-inject"),
    "pod:metadata.labels{keys}": ("app.kubernetes.io/name", "Ünicode"),
    "pod:metadata.labels{}": ("backend", "v" * 64),
    "pod:spec.containers[].name": ("backend", "Backend"),
    "pod:spec.initContainers[].name": ("init", "init_db"),
    "pod:spec.containers[].ports[].name": ("http", "http-metrics-port"),
    "pod:spec.initContainers[].ports[].name": ("metrics", "8080"),
    "pod:spec.containers[].ports[].containerPort": (8080, 0),
    "pod:spec.initContainers[].ports[].containerPort": (9090, 65536),
    "pod:spec.containers[].ports[].protocol": ("TCP", "tcp"),
    "pod:spec.initContainers[].ports[].protocol": ("UDP", "HTTP"),
    "pod:spec.containers[].env[].name": ("DATABASE_URL_FILE", "1DATABASE"),
    "pod:spec.initContainers[].env[].name": ("PGHOST", "PG HOST"),
    "pod:spec.containers[].imagePullPolicy": ("IfNotPresent", "IfMissing"),
    "pod:spec.initContainers[].imagePullPolicy": ("Always", "always"),
    "pod:spec.volumes[].name": ("rw-tmp", "rw_tmp"),
    "pod:spec.serviceAccountName": ("backend", "Backend"),
    "pod:spec.restartPolicy": ("OnFailure", "Sometimes"),
    "pod:spec.nodeSelector{keys}": ("sutazai.io/node-pool", "sutazai.io/node pool"),
    "pod:spec.nodeSelector{}": ("gpu", "-gpu"),
    "pod:spec.tolerations[].key": ("nvidia.com/gpu", "nvidia.com/gpu/x"),
    "pod:spec.tolerations[].operator": ("Exists", "Has"),
    "pod:spec.tolerations[].effect": ("NoSchedule", "NO_SCHEDULE"),
    "webhooks[].name": ("vault.hashicorp.com", "vault-injector"),
    "webhooks[].sideEffects": ("None", "Some"),
    "webhooks[].timeoutSeconds": (10, 31),
    "webhooks[].failurePolicy": ("Fail", "Retry"),
    "webhooks[].matchPolicy": ("Exact", "Fuzzy"),
    "webhooks[].reinvocationPolicy": ("Never", "Always"),
    "spec.volumeClaimTemplates[].metadata.name": ("data", "Data"),
    "spec.podManagementPolicy": ("Parallel", "Serial"),
    "spec.persistentVolumeClaimRetentionPolicy.whenDeleted": ("Retain", "Keep"),
    "spec.persistentVolumeClaimRetentionPolicy.whenScaled": ("Delete", "Drop"),
    "spec.backoffLimit": (6, -1),
    "spec.concurrencyPolicy": ("Forbid", "Queue"),
    "data{keys}": ("etc-prometheus-prometheus.yml", "etc/prometheus.yml"),
    "binaryData{keys}": ("model.bin", "model bin"),
    "spec.ports[].name": ("http", "HTTP"),
    "spec.ports[].port": (80, 0),
    "spec.ports[].targetPort": ("http", "http_port"),
    "spec.ports[].protocol": ("TCP", "ICMP"),
    "spec.type": ("ClusterIP", "Internal"),
    "spec.selector{keys}": ("app.kubernetes.io/name", "app.kubernetes.io/name/"),
    "spec.selector{}": ("backend", "back/end"),
    "spec.rules[].host": ("api.sutazai.example.com", "api_sutazai.example.com"),
    "spec.rules[].http.paths[].pathType": ("Prefix", "Glob"),
    "spec.rules[].http.paths[].backend.service.name": ("backend", "1backend"),
    "spec.ingressClassName": ("alb", "ALB"),
    "spec.policyTypes": (["Ingress", "Egress"], ["Ingress", "Both"]),
    "spec.podSelector.matchLabels{keys}": ("app.kubernetes.io/name", "app kubernetes"),
    "spec.podSelector.matchLabels{}": ("backend", "backend!"),
    "rules[].verbs": (["get"], [""]),
    "provisioner": ("ebs.csi.aws.com", "ebs csi"),
    "reclaimPolicy": ("Retain", "Recycle"),
    "volumeBindingMode": ("WaitForFirstConsumer", "Lazy"),
    # helm.sh/v3 Release
    "helm:name": ("aws-load-balancer-controller", "a" * 54),
    "helm:namespace": ("kube-system", "Kube-System"),
    "helm:version": ("1.14.0", "latest"),
    "helm:values": ({"replicaCount": 2}, {"bad": {1, 2}}),
}

# metadata.name by kind: a valid name, and one that breaks that kind's rule.
KUBERNETES_NAMES: dict[str, tuple[str, str]] = {
    "Namespace": ("sutazai-core", "sutazai.core"),
    "Service": ("backend", "1backend"),
    "StatefulSet": ("postgres", "s" * 53),
    "CronJob": ("backup", "c" * 53),
    "Job": ("postgres-provisioning-673d73801f", "j" * 64),
    "Role": ("cluster-autoscaler", "a/b"),
    "ClusterRole": ("sutazai-alloy-pod-logs", "%admin"),
    "RoleBinding": ("cluster-autoscaler", ".."),
    "ClusterRoleBinding": ("system:sutazai-vault", "a/b"),
}
DEFAULT_KUBERNETES_NAME = ("sutazai-prod-vault-injector-cfg", "Sutazai_Vault")


def case_for(type_: str, field: str) -> tuple[Any, Any] | None:
    if type_.startswith("kubernetes:"):
        kind = type_.rsplit(":", 1)[-1]
        if type_.startswith("kubernetes:helm.sh/"):
            return KUBERNETES.get(f"helm:{field}")
        if field == "metadata.name":
            return KUBERNETES_NAMES.get(kind, DEFAULT_KUBERNETES_NAME)
        for prefix in ("spec.jobTemplate.spec.template.", "spec.template."):
            if field.startswith(prefix):
                return KUBERNETES.get("pod:" + field[len(prefix) :])
        return KUBERNETES.get(field)
    return BY_TYPE.get((type_, field)) or BY_FIELD.get(field)
