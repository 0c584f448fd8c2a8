"""AWS: names, descriptions, enums and cross-field rules, one table per resource type.

Each rule cites the API reference that enforces it (the service's Create*/Put* action) or the
pulumi-aws docs for auto-names. Add a type: write its table in `RULES` below (the check
reports any registered type without one).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from typing import Any

from stacks.constraints.checks import (
    all_of,
    charset,
    count,
    each,
    integer,
    label_value,
    length,
    matches,
    none_of,
    not_prefixed,
    one_of,
    qualified_name,
    string,
)
from stacks.constraints.core import (
    AWS_AUTONAME,
    AWS_AUTONAME_LOWER,
    S3_AUTONAME,
    AutoName,
    Check,
    Resource,
    Rule,
    TypeRules,
    Violation,
)
from stacks.constraints.tags import default_tags_of, tag_count, tag_rules

# ── shared grammars ──────────────────────────────────────────────────────────────────────

# EC2 CreateSecurityGroup: GroupName and GroupDescription, "up to 255 characters; for a VPC:
# a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*". The same set applies to the
# description of security group rules (AuthorizeSecurityGroupIngress IpRange.Description,
# ModifySecurityGroupRules SecurityGroupRuleRequest.Description).
SG_TEXT = all_of(
    length(0, 255),
    charset(r"a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*", "a-z A-Z 0-9 space ._-:/()#,@[]+=&;{}!$*"),
)


def _rds_identifier(maximum: int) -> Check:
    # RDS CreateDBInstance DBInstanceIdentifier / FinalDBSnapshotIdentifier, CreateDBParameter-
    # Group DBParameterGroupName: 1-N letters, digits or hyphens; first a letter; no hyphen at
    # the end and no two in a row. ElastiCache uses the same shape (CreateReplicationGroup).
    return all_of(
        length(1, maximum),
        matches(
            r"[A-Za-z](-?[A-Za-z0-9])*",
            "letters, digits and single hyphens, starting with a letter, not ending in '-'",
        ),
    )


def _port(value: Any) -> str | None:
    return integer(0, 65535)(value)


def _cidr(value: Any) -> str | None:
    try:
        if "/" not in value:
            raise ValueError(value)
        ipaddress.ip_network(value)
    except (TypeError, ValueError):
        return "must be a CIDR block such as 10.0.0.0/16"
    return None


def _json_document(maximum: int | None = None, what: str = "document") -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a JSON {what} string, got {type(value).__name__}"
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            return f"must be valid JSON ({exc.msg})"
        if not isinstance(parsed, dict):
            return f"must be a JSON object ({what})"
        if maximum is not None and len(re.sub(r"\s", "", value)) > maximum:
            return f"a {what} is at most {maximum} characters without whitespace"
        return None

    return check


def _iam_policy(maximum: int) -> Check:
    base = _json_document(maximum, "policy document")

    def check(value: Any) -> str | None:
        problem = base(value)
        if problem:
            return problem
        document = json.loads(value)
        # IAM JSON policy reference, "Version" and "Statement" elements.
        if document.get("Version") not in ("2012-10-17", "2008-10-17"):
            return "a policy's Version is 2012-10-17"
        statements = document.get("Statement")
        if not statements:
            return "a policy needs at least one Statement"
        for statement in statements if isinstance(statements, list) else [statements]:
            if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
                return "each Statement has Effect Allow or Deny"
        return None

    return check


_WINDOW = re.compile(r"(?P<h1>\d\d):(?P<m1>\d\d)-(?P<h2>\d\d):(?P<m2>\d\d)")
_WEEKLY = re.compile(
    r"(?P<d1>mon|tue|wed|thu|fri|sat|sun):(?P<h1>\d\d):(?P<m1>\d\d)-"
    r"(?P<d2>mon|tue|wed|thu|fri|sat|sun):(?P<h2>\d\d):(?P<m2>\d\d)"
)
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEK = 7 * 24 * 60


def _minutes(hour: str, minute: str) -> int | None:
    h, m = int(hour), int(minute)
    return h * 60 + m if h < 24 and m < 60 else None


def daily_window(value: Any) -> tuple[int, int] | None:
    """'hh24:mi-hh24:mi' as (start, end) minutes of the day (end may wrap), or None."""
    match = _WINDOW.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    start, end = _minutes(match["h1"], match["m1"]), _minutes(match["h2"], match["m2"])
    return None if start is None or end is None else (start, end)


def weekly_window(value: Any) -> tuple[int, int] | None:
    """'ddd:hh24:mi-ddd:hh24:mi' as (start, end) minutes of the week, or None."""
    match = _WEEKLY.fullmatch(value.lower()) if isinstance(value, str) else None
    if match is None:
        return None
    start, end = _minutes(match["h1"], match["m1"]), _minutes(match["h2"], match["m2"])
    if start is None or end is None:
        return None
    return _DAYS.index(match["d1"]) * 1440 + start, _DAYS.index(match["d2"]) * 1440 + end


def _span(start: int, end: int, period: int) -> int:
    return (end - start) % period


def daily(minimum_minutes: int) -> Check:
    def check(value: Any) -> str | None:
        window = daily_window(value)
        if window is None:
            return "must be a UTC window hh24:mi-hh24:mi"
        if _span(*window, 1440) < minimum_minutes:
            return f"a window is at least {minimum_minutes} minutes"
        return None

    return check


def weekly(minimum_minutes: int, maximum_minutes: int = WEEK) -> Check:
    def check(value: Any) -> str | None:
        window = weekly_window(value)
        if window is None:
            return "must be a UTC window ddd:hh24:mi-ddd:hh24:mi (ddd: mon..sun)"
        span = _span(*window, WEEK)
        if not minimum_minutes <= span <= maximum_minutes:
            return f"a window is {minimum_minutes}-{maximum_minutes} minutes"
        return None

    return check


def windows_apart(daily_field: str, weekly_field: str) -> Any:
    """A daily backup/snapshot window must not overlap the weekly maintenance window."""

    def check(resource: Resource) -> Iterator[Violation]:
        day = daily_window(resource.inputs.get(daily_field))
        week = weekly_window(resource.inputs.get(weekly_field))
        if day is None or week is None:
            return
        w_start, w_span = week[0], _span(*week, WEEK)
        d_span = _span(*day, 1440)
        for weekday in range(7):
            d_start = weekday * 1440 + day[0]
            # Two arcs on the week's circle overlap if either start lies inside the other.
            if (d_start - w_start) % WEEK < w_span or (w_start - d_start) % WEEK < d_span:
                yield resource.violation(
                    daily_field,
                    resource.inputs.get(daily_field),
                    f"must not overlap {weekly_field} {resource.inputs.get(weekly_field)!r}",
                )
                return

    return check


def ports_ordered(from_field: str = "fromPort", to_field: str = "toPort") -> Any:
    def check(resource: Resource) -> Iterator[Violation]:
        # For icmp the two are a type and a code, not a range.
        if resource.inputs.get("ipProtocol") not in ("tcp", "udp", "6", "17"):
            return
        low, high = resource.inputs.get(from_field), resource.inputs.get(to_field)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            yield resource.violation(from_field, low, f"must not be above {to_field} ({high})")

    return check


# EC2 AuthorizeSecurityGroupIngress IpPermission: IpProtocol tcp, udp, icmp, icmpv6, -1
# or a protocol number 0-255; ports 0-65535 (tcp/udp) or -1 (icmp type/code, all).
def _ip_protocol(value: Any) -> str | None:
    if value in ("tcp", "udp", "icmp", "icmpv6", "-1", "all"):
        return None
    if isinstance(value, str) and value.isdigit() and 0 <= int(value) <= 255:
        return None
    return "must be tcp, udp, icmp, icmpv6, -1 or a protocol number 0-255"


def _one_peer(resource: Resource) -> Iterator[Violation]:
    # AWS::EC2::SecurityGroupIngress (vpc/securityGroupIngressRule): exactly one of
    # cidrIpv4, cidrIpv6, prefixListId, referencedSecurityGroupId.
    peers = [
        k
        for k in ("cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId")
        if resource.inputs.get(k)
    ]
    if len(peers) != 1:
        yield resource.violation(
            "cidrIpv4|cidrIpv6|prefixListId|referencedSecurityGroupId",
            peers,
            "exactly one peer per rule",
        )


def _tcp_udp_ports(resource: Resource) -> Iterator[Violation]:
    protocol = resource.inputs.get("ipProtocol")
    for key in ("fromPort", "toPort"):
        value = resource.inputs.get(key)
        if protocol in ("tcp", "udp", "6", "17") and value is None:
            yield resource.violation(key, value, "tcp and udp rules name their ports")
        elif protocol in ("tcp", "udp", "6", "17") and not (
            isinstance(value, int) and 0 <= value <= 65535
        ):
            yield resource.violation(key, value, "a tcp/udp port is 0-65535")
        elif (
            protocol not in ("tcp", "udp", "6", "17")
            and value is not None
            and not (isinstance(value, int) and -1 <= value <= 255)
        ):
            yield resource.violation(key, value, "an icmp type/code is -1..255")


SECURITY_GROUP_RULE = TypeRules(
    rules=[
        Rule("description", SG_TEXT),
        Rule("ipProtocol", _ip_protocol),
        Rule("cidrIpv4", _cidr),
        *tag_rules(ec2=True),
    ],
    checks=[_one_peer, _tcp_udp_ports, ports_ordered(), tag_count()],
)


def _nacl_entries(selector: str) -> list[Rule]:
    # EC2 CreateNetworkAclEntry: RuleNumber 1-32766, RuleAction allow|deny, a protocol
    # number or -1, ports 0-65535.
    return [
        Rule(f"{selector}[].ruleNo", integer(1, 32766)),
        Rule(f"{selector}[].action", one_of("allow", "deny")),
        Rule(f"{selector}[].protocol", _ip_protocol),
        Rule(f"{selector}[].fromPort", _port),
        Rule(f"{selector}[].toPort", _port),
        Rule(f"{selector}[].cidrBlock", _cidr),
    ]


def _nacl_unique_rule_numbers(resource: Resource) -> Iterator[Violation]:
    for direction in ("ingress", "egress"):
        numbers = [e.get("ruleNo") for e in resource.inputs.get(direction) or []]
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
        if duplicates:
            yield resource.violation(direction, duplicates, "rule numbers are unique per direction")


# EKS CreateCluster name / CreateNodegroup nodegroupName: 1-100 (cluster) or 1-63 (node
# group) characters, "^[0-9A-Za-z][A-Za-z0-9\-_]*".
def _eks_name(maximum: int) -> Check:
    return all_of(
        length(1, maximum),
        matches(r"[0-9A-Za-z][A-Za-z0-9\-_]*", "alphanumeric first, then A-Z a-z 0-9 - _"),
    )


EKS_CLUSTER_NAME = _eks_name(100)
CODEBUILD_PROJECT_NAME = all_of(
    length(2, 255),
    matches(
        r"[A-Za-z0-9][A-Za-z0-9_-]{1,254}", "letters, digits, - and _, first a letter or digit"
    ),
)
NODE_GROUP_AUTONAME = AutoName(7, prefix_field="nodeGroupNamePrefix")

# IAM identifiers (IAM User Guide, "IAM identifiers" / CreateRole RoleName): 1-64 of
# [\w+=,.@-]; PutRolePolicy PolicyName 1-128 of the same set.
IAM_CHARS = r"[\w+=,.@-]+"


def _iam_name(maximum: int) -> Check:
    return all_of(length(1, maximum), matches(IAM_CHARS, "letters, digits and +=,.@_-"))


_ARN = r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}|aws)?:.+"

# ECR CreateRepository repositoryName: 2-256, (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+
# (?:[._-][a-z0-9]+)*.
ECR_NAME = all_of(
    length(2, 256),
    matches(
        r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        "lowercase path segments of a-z 0-9 separated by single . _ - or /",
    ),
)

# ElastiCache CreateUser / CreateUserGroup: UserId and UserGroupId match
# [a-zA-Z][a-zA-Z0-9\-]* ("must begin with a letter ... cannot end with a hyphen or contain
# two consecutive hyphens").
ELASTICACHE_ID = matches(
    r"[a-zA-Z](-?[a-zA-Z0-9])*",
    "letters, digits and single hyphens, starting with a letter, not ending in '-'",
)


def _ecr_lifecycle(value: Any) -> str | None:
    problem = _json_document(None, "lifecycle policy")(value)
    if problem:
        return problem
    # ECR lifecycle policy parameters: rulePriority unique positive integers; countType
    # imageCountMoreThan | sinceImagePushed; tagStatus tagged | untagged | any.
    rules = json.loads(value).get("rules") or []
    priorities = [r.get("rulePriority") for r in rules if isinstance(r, dict)]
    if (
        not rules
        or len(set(priorities)) != len(priorities)
        or not all(isinstance(p, int) and p > 0 for p in priorities)
    ):
        return "rules need unique positive rulePriority values"
    for rule in rules:
        selection = rule.get("selection") or {}
        if selection.get("tagStatus") not in ("tagged", "untagged", "any"):
            return "selection.tagStatus is tagged, untagged or any"
        if selection.get("countType") not in ("imageCountMoreThan", "sinceImagePushed"):
            return "selection.countType is imageCountMoreThan or sinceImagePushed"
    return None


def _scaling(resource: Resource) -> Iterator[Violation]:
    # EKS NodegroupScalingConfig: minSize >= 0, maxSize >= 1, min <= desired <= max.
    scaling = resource.inputs.get("scalingConfig") or {}
    low, want, high = (scaling.get(k) for k in ("minSize", "desiredSize", "maxSize"))
    if not all(isinstance(v, int) for v in (low, want, high)):
        yield resource.violation("scalingConfig", scaling, "minSize, desiredSize, maxSize set")
    elif not (0 <= low <= want <= high and high >= 1):  # type: ignore[operator]
        yield resource.violation(
            "scalingConfig", scaling, "0 <= minSize <= desiredSize <= maxSize, maxSize >= 1"
        )


def _json_or_absent(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return "must be a JSON (or YAML-as-JSON) document"
    return None


def _elasticache_user_group(resource: Resource) -> Iterator[Violation]:
    # ElastiCache CreateUserGroup: the user IDs exist, and the group contains a user named
    # "default" (Redis OSS/Valkey RBAC).
    users = {u.inputs.get("userId"): u for u in resource.plan.of_type("aws:elasticache/user:User")}
    ids = resource.inputs.get("userIds") or []
    for index, user_id in enumerate(ids):
        if user_id not in users:
            yield resource.violation(
                f"userIds[{index}]", user_id, "names no aws:elasticache/user:User in the plan"
            )
    if ids and not any(users.get(i) and users[i].inputs.get("userName") == "default" for i in ids):
        yield resource.violation("userIds", ids, "a user group contains a user named 'default'")


def _max_above_allocated(resource: Resource) -> Iterator[Violation]:
    # RDS CreateDBInstance MaxAllocatedStorage: larger than AllocatedStorage (or absent).
    allocated, ceiling = (
        resource.inputs.get(k) for k in ("allocatedStorage", "maxAllocatedStorage")
    )
    if isinstance(ceiling, int) and ceiling and isinstance(allocated, int) and ceiling <= allocated:
        yield resource.violation(
            "maxAllocatedStorage", ceiling, f"must be above allocatedStorage ({allocated})"
        )


def _provider_default_tags(resource: Resource) -> Iterator[Violation]:
    tags = default_tags_of(resource.inputs)
    from stacks.constraints.tags import MAX_TAGS, tag_key, tag_value

    for key, value in tags.items():
        for problem in (tag_key(key), tag_value(value)):
            if problem:
                yield resource.violation(f"defaultTags.tags.{key}", value, problem)
    if len(tags) > MAX_TAGS:
        yield resource.violation("defaultTags.tags", len(tags), f"at most {MAX_TAGS} tags")


# S3 bucket naming rules (S3 User Guide, "General purpose bucket naming rules"): 3-63
# lowercase letters, digits, '.' and '-', a letter or digit at both ends, no '..', not an
# IP address, and reserved prefixes/suffixes.
def _bucket_name(value: Any) -> str | None:
    problem = all_of(
        length(3, 63),
        matches(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", "lowercase a-z 0-9 . - with alphanumeric ends"),
    )(value)
    if problem:
        return problem
    if ".." in value:
        return "no two adjacent periods"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
        return "not formatted as an IP address"
    if value.startswith(("xn--", "sthree-", "amzn-s3-demo-")):
        return "xn--, sthree- and amzn-s3-demo- prefixes are reserved"
    if value.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")):
        return "-s3alias, --ol-s3, .mrap, --x-s3 and --table-s3 suffixes are reserved"
    return None


def _fifo_name(resource: Resource) -> Iterator[Violation]:
    # SQS CreateQueue: a FIFO queue's name ends in .fifo, a standard queue's does not.
    name, fifo = resource.inputs.get("name"), bool(resource.inputs.get("fifoQueue"))
    if isinstance(name, str) and name.endswith(".fifo") != fifo:
        yield resource.violation("name", name, "ends in .fifo exactly when fifoQueue is true")


def _waf_priorities(resource: Resource) -> Iterator[Violation]:
    priorities = [r.get("priority") for r in resource.inputs.get("rules") or []]
    duplicates = sorted({p for p in priorities if priorities.count(p) > 1}, key=str)
    if duplicates:
        yield resource.violation("rules[].priority", duplicates, "rule priorities are unique")


def _alarm_period(value: Any) -> str | None:
    # PutMetricAlarm Period: 10, 20, 30 (high resolution) or a multiple of 60.
    if isinstance(value, int) and (value in (10, 20, 30) or (value >= 60 and value % 60 == 0)):
        return None
    return "must be 10, 20, 30 or a multiple of 60 seconds"


# WAFv2: Name 1-128 of [\w\-]; MetricName 1-255 of [\w#:.\-/], not All or Default_Action.
WAF_NAME = all_of(length(1, 128), matches(r"[\w\-]+", "letters, digits, _ and -"))
WAF_METRIC = all_of(
    length(1, 255),
    matches(r"[\w#:.\-/]+", "letters, digits and _ # : . - /"),
    none_of("All", "Default_Action", meaning="All and Default_Action are reserved metric names"),
)
# AWS Backup: vault names 2-50 of [a-zA-Z0-9\-_]; plan, rule and selection names 1-50 of
# [a-zA-Z0-9\-_.].
BACKUP_VAULT_NAME = all_of(length(2, 50), matches(r"[a-zA-Z0-9\-_]+", "A-Z a-z 0-9 - _"))
BACKUP_NAME = all_of(length(1, 50), matches(r"[a-zA-Z0-9\-_.]+", "A-Z a-z 0-9 - _ ."))

PERFORMANCE_INSIGHTS_DAYS = (7, 731, *range(31, 31 * 24, 31))
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip

EC2_TEXT_255 = length(0, 255)

RULES: dict[str, TypeRules] = {
    # CloudWatch Logs CreateLogGroup: logGroupName 1-512 of [\.\-_/#A-Za-z0-9];
    # PutRetentionPolicy retentionInDays from a fixed list.
    "aws:cloudwatch/logGroup:LogGroup": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(length(1, 512), charset(r"\.\-_/#A-Za-z0-9", "A-Z a-z 0-9 . - _ / #")),
                AWS_AUTONAME,
                unique=True,
            ),
            Rule("retentionInDays", one_of(*LOG_RETENTION_DAYS)),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": TypeRules(
        rules=[
            Rule("ingress[].description", SG_TEXT),
            Rule("egress[].description", SG_TEXT),
            *tag_rules(ec2=True),
        ],
        checks=[tag_count()],
    ),
    # EC2 AllocateAddress Domain: vpc | standard.
    "aws:ec2/eip:Eip": TypeRules(
        rules=[Rule("domain", one_of("vpc", "standard")), *tag_rules(ec2=True)],
        checks=[tag_count()],
    ),
    # EC2 CreateFlowLogs: TrafficType ACCEPT|REJECT|ALL, MaxAggregationInterval 60|600,
    # LogDestinationType cloud-watch-logs|s3|kinesis-data-firehose.
    "aws:ec2/flowLog:FlowLog": TypeRules(
        rules=[
            Rule("trafficType", one_of("ACCEPT", "REJECT", "ALL")),
            Rule("maxAggregationInterval", one_of(60, 600)),
            Rule("logDestinationType", one_of("cloud-watch-logs", "s3", "kinesis-data-firehose")),
            Rule("logDestination", string(matches(_ARN, "an ARN"))),
            *tag_rules(ec2=True),
        ],
        checks=[tag_count()],
    ),
    "aws:ec2/internetGateway:InternetGateway": TypeRules(
        rules=tag_rules(ec2=True), checks=[tag_count()]
    ),
    # EC2 CreateLaunchTemplate: LaunchTemplateName 3-128 of [a-zA-Z0-9\(\)\.\-/_]+,
    # VersionDescription up to 255; MetadataOptions HttpTokens optional|required,
    # HttpPutResponseHopLimit 1-64; EBS VolumeType gp2|gp3|io1|io2|sc1|st1|standard, gp3
    # 1-16384 GiB; TagSpecification ResourceType for launch templates: instance, volume,
    # network-interface, spot-instances-request.
    "aws:ec2/launchTemplate:LaunchTemplate": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(length(3, 128), matches(r"[a-zA-Z0-9().\-/_]+", "A-Z a-z 0-9 ( ) . - / _")),
                AWS_AUTONAME,
                unique=True,
            ),
            Rule("description", EC2_TEXT_255),
            Rule("metadataOptions.httpTokens", one_of("optional", "required")),
            Rule("metadataOptions.httpEndpoint", one_of("enabled", "disabled")),
            Rule("metadataOptions.httpPutResponseHopLimit", integer(1, 64)),
            Rule(
                "blockDeviceMappings[].ebs.volumeType",
                one_of("gp2", "gp3", "io1", "io2", "sc1", "st1", "standard"),
            ),
            Rule("blockDeviceMappings[].ebs.volumeSize", integer(1, 16384)),
            Rule(
                "tagSpecifications[].resourceType",
                one_of("instance", "volume", "network-interface", "spot-instances-request"),
            ),
            *tag_rules("tagSpecifications[].tags", ec2=True),
            *tag_rules(ec2=True),
        ],
        checks=[tag_count()],
    ),
    # EC2 CreateNatGateway ConnectivityType public|private.
    "aws:ec2/natGateway:NatGateway": TypeRules(
        rules=[Rule("connectivityType", one_of("public", "private")), *tag_rules(ec2=True)],
        checks=[tag_count()],
    ),
    "aws:ec2/networkAcl:NetworkAcl": TypeRules(
        rules=[*_nacl_entries("ingress"), *_nacl_entries("egress"), *tag_rules(ec2=True)],
        checks=[_nacl_unique_rule_numbers, tag_count()],
    ),
    # EC2 CreateRoute DestinationCidrBlock: an IPv4 CIDR.
    "aws:ec2/route:Route": TypeRules(rules=[Rule("destinationCidrBlock", _cidr)]),
    "aws:ec2/routeTable:RouteTable": TypeRules(rules=tag_rules(ec2=True), checks=[tag_count()]),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": TypeRules(
        nothing_to_check="only IDs of a route table and a subnet (no name, no tags)"
    ),
    # EC2 CreateSecurityGroup: GroupName up to 255, not starting with "sg-"; name and
    # description in SG_TEXT's character set. pulumi-aws auto-names `name`.
    "aws:ec2/securityGroup:SecurityGroup": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 255), SG_TEXT, not_prefixed(["sg-"], "a group name never starts sg-")
                ),
                AWS_AUTONAME,
                unique=True,
            ),
            Rule("description", SG_TEXT),
            Rule("ingress[].description", SG_TEXT),
            Rule("egress[].description", SG_TEXT),
            *tag_rules(ec2=True),
        ],
        checks=[tag_count()],
    ),
    # EC2 CreateSubnet CidrBlock; CreateVpc CidrBlock between /16 and /28.
    "aws:ec2/subnet:Subnet": TypeRules(
        rules=[Rule("cidrBlock", _cidr), *tag_rules(ec2=True)], checks=[tag_count()]
    ),
    "aws:ec2/vpc:Vpc": TypeRules(
        rules=[
            Rule(
                "cidrBlock",
                all_of(
                    _cidr,
                    matches(r"[0-9.]+/(1[6-9]|2[0-8])", "an IPv4 CIDR between /16 and /28"),
                ),
            ),
            *tag_rules(ec2=True),
        ],
        checks=[tag_count()],
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": TypeRules(
        rules=[Rule("repository", ECR_NAME), Rule("policy", _ecr_lifecycle)]
    ),
    # ECR CreateRepository: repositoryName (ECR_NAME), imageTagMutability, encryptionType.
    "aws:ecr/repository:Repository": TypeRules(
        rules=[
            Rule("name", ECR_NAME, AWS_AUTONAME_LOWER, unique=True),
            Rule(
                "imageTagMutability",
                one_of(
                    "MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"
                ),
            ),
            Rule("encryptionConfigurations[].encryptionType", one_of("AES256", "KMS", "KMS_DSSE")),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # EKS CreateAccessEntry type STANDARD|EC2_LINUX|EC2_WINDOWS|FARGATE_LINUX|EC2|HYBRID_LINUX|
    # HYPERPOD_LINUX; principalArn an IAM ARN.
    "aws:eks/accessEntry:AccessEntry": TypeRules(
        rules=[
            Rule("clusterName", EKS_CLUSTER_NAME),
            Rule(
                "type",
                one_of(
                    "STANDARD",
                    "EC2_LINUX",
                    "EC2_WINDOWS",
                    "FARGATE_LINUX",
                    "EC2",
                    "HYBRID_LINUX",
                    "HYPERPOD_LINUX",
                ),
            ),
            Rule(
                "principalArn", matches(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+", "an IAM ARN")
            ),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # EKS AssociateAccessPolicy: accessScope.type cluster|namespace; policyArn an EKS
    # cluster access policy.
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": TypeRules(
        rules=[
            Rule("clusterName", EKS_CLUSTER_NAME),
            Rule("accessScope.type", one_of("cluster", "namespace")),
            Rule(
                "policyArn",
                matches(
                    r"arn:aws[a-z-]*:eks::aws:cluster-access-policy/[A-Za-z]+",
                    "an EKS cluster access policy ARN",
                ),
            ),
        ]
    ),
    # EKS CreateAddon: resolveConflicts NONE|OVERWRITE|PRESERVE (on create: NONE|OVERWRITE),
    # configurationValues a JSON or YAML document.
    "aws:eks/addon:Addon": TypeRules(
        rules=[
            Rule("clusterName", EKS_CLUSTER_NAME),
            Rule("addonName", length(1, 100)),
            Rule("resolveConflictsOnCreate", one_of("NONE", "OVERWRITE")),
            Rule("resolveConflictsOnUpdate", one_of("NONE", "OVERWRITE", "PRESERVE")),
            Rule("configurationValues", _json_or_absent),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # EKS CreateCluster: name (EKS_CLUSTER_NAME), logging types, encryption resources
    # ["secrets"], serviceIpv4Cidr a private block /12-/24.
    "aws:eks/cluster:Cluster": TypeRules(
        rules=[
            Rule("name", EKS_CLUSTER_NAME, AWS_AUTONAME, unique=True),
            Rule("version", matches(r"1\.\d{2}", "a Kubernetes minor version such as 1.31")),
            Rule(
                "enabledClusterLogTypes",
                each(one_of("api", "audit", "authenticator", "controllerManager", "scheduler")),
            ),
            Rule("encryptionConfig.resources", each(one_of("secrets"))),
            Rule(
                "kubernetesNetworkConfig.serviceIpv4Cidr",
                all_of(_cidr, matches(r"[0-9.]+/(1[2-9]|2[0-4])", "a /12 to /24 block")),
            ),
            Rule(
                "accessConfig.authenticationMode", one_of("API", "API_AND_CONFIG_MAP", "CONFIG_MAP")
            ),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # EKS CreateNodegroup: nodegroupName 1-63; labels are Kubernetes labels; taints: key a
    # label key, value up to 63, effect NO_SCHEDULE|NO_EXECUTE|PREFER_NO_SCHEDULE; amiType
    # and capacityType enums; updateConfig.maxUnavailable 1-100.
    "aws:eks/nodeGroup:NodeGroup": TypeRules(
        rules=[
            Rule("nodeGroupName", _eks_name(63), NODE_GROUP_AUTONAME, unique=True),
            Rule("clusterName", EKS_CLUSTER_NAME),
            Rule("labels{keys}", qualified_name),
            Rule("labels{}", label_value),
            Rule("taints[].key", qualified_name),
            Rule("taints[].value", label_value),
            Rule("taints[].effect", one_of("NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE")),
            Rule(
                "amiType",
                one_of(
                    "AL2_x86_64",
                    "AL2_x86_64_GPU",
                    "AL2_ARM_64",
                    "CUSTOM",
                    "BOTTLEROCKET_ARM_64",
                    "BOTTLEROCKET_x86_64",
                    "BOTTLEROCKET_ARM_64_NVIDIA",
                    "BOTTLEROCKET_x86_64_NVIDIA",
                    "AL2023_x86_64_STANDARD",
                    "AL2023_ARM_64_STANDARD",
                    "AL2023_x86_64_NEURON",
                    "AL2023_x86_64_NVIDIA",
                    "AL2023_ARM_64_NVIDIA",
                    "WINDOWS_CORE_2019_x86_64",
                    "WINDOWS_FULL_2019_x86_64",
                    "WINDOWS_CORE_2022_x86_64",
                    "WINDOWS_FULL_2022_x86_64",
                ),
            ),
            Rule("capacityType", one_of("ON_DEMAND", "SPOT", "CAPACITY_BLOCK")),
            Rule("instanceTypes", count(20, "instance types")),
            Rule("updateConfig.maxUnavailable", integer(1, 100)),
            *tag_rules(),
        ],
        checks=[_scaling, tag_count()],
    ),
    # ElastiCache CreateReplicationGroup: ReplicationGroupId 1-40 (RDS-identifier shape,
    # stored lowercase); description required; SnapshotWindow hh24:mi-hh24:mi of at least
    # 60 minutes; PreferredMaintenanceWindow ddd:hh24:mi-ddd:hh24:mi of at least 60 minutes
    # (and the two do not overlap); SnapshotRetentionLimit up to 35; NumCacheClusters 1-6;
    # FinalSnapshotIdentifier the snapshot-name shape; TransitEncryptionMode
    # preferred|required; engine redis|valkey.
    "aws:elasticache/replicationGroup:ReplicationGroup": TypeRules(
        rules=[
            Rule("replicationGroupId", _rds_identifier(40), AWS_AUTONAME_LOWER, unique=True),
            Rule("description", length(1, 255)),
            Rule("snapshotWindow", daily(60)),
            Rule("maintenanceWindow", weekly(60, 24 * 60)),
            Rule("snapshotRetentionLimit", integer(0, 35)),
            Rule("numCacheClusters", integer(1, 6)),
            Rule("finalSnapshotIdentifier", _rds_identifier(255)),
            Rule("transitEncryptionMode", one_of("preferred", "required")),
            Rule("engine", one_of("redis", "valkey")),
            Rule("port", integer(1, 65535)),
            *tag_rules(),
        ],
        checks=[windows_apart("snapshotWindow", "maintenanceWindow"), tag_count()],
    ),
    # ElastiCache CreateCacheSubnetGroup: CacheSubnetGroupName up to 255 letters, digits or
    # hyphens (stored lowercase); CacheSubnetGroupDescription required.
    "aws:elasticache/subnetGroup:SubnetGroup": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(length(1, 255), matches(r"[a-z0-9-]+", "lowercase letters, digits, '-'")),
                AWS_AUTONAME_LOWER,
                unique=True,
            ),
            Rule("description", length(1, 255)),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # ElastiCache CreateUser: UserId (ELASTICACHE_ID, 1-40), UserName 1-120, engine
    # redis|valkey, AuthenticationMode.Type password|no-password-required|iam.
    "aws:elasticache/user:User": TypeRules(
        rules=[
            Rule("userId", all_of(length(1, 40), ELASTICACHE_ID), unique=True),
            Rule("userName", length(1, 120)),
            Rule("engine", one_of("redis", "valkey")),
            Rule("authenticationMode.type", one_of("password", "no-password-required", "iam")),
            Rule("authenticationMode.passwords", count(2, "passwords")),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    "aws:elasticache/userGroup:UserGroup": TypeRules(
        rules=[
            Rule("userGroupId", all_of(length(1, 40), ELASTICACHE_ID), unique=True),
            Rule("engine", one_of("redis", "valkey")),
            Rule("userIds", count(100, "users")),
            *tag_rules(),
        ],
        checks=[_elasticache_user_group, tag_count()],
    ),
    # IAM CreateOpenIDConnectProvider: Url https, up to 255; ClientIDList items 1-255, at
    # most 100.
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": TypeRules(
        rules=[
            Rule("url", all_of(length(1, 255), matches(r"https://.+", "an https:// URL"))),
            Rule("clientIdLists", all_of(count(100, "client IDs"), each(length(1, 255)))),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # IAM CreateRole: RoleName 1-64 (IAM_CHARS), pulumi-aws auto-names it; Description up to
    # 1000; MaxSessionDuration 3600-43200; the trust policy at most 2048 characters (IAM
    # quotas: "role trust policy length", the default quota).
    "aws:iam/role:Role": TypeRules(
        rules=[
            Rule("name", _iam_name(64), AWS_AUTONAME, unique=True),
            Rule("path", matches(r"/([\x21-\x7e]*/)?", "/ or /path/ of printable ASCII")),
            Rule("description", length(0, 1000)),
            Rule("maxSessionDuration", integer(3600, 43200)),
            Rule("assumeRolePolicy", _iam_policy(2048)),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # IAM PutRolePolicy: PolicyName 1-128 (IAM_CHARS), auto-named; a role's inline policies
    # total at most 10240 characters (IAM quotas), so one is at most that.
    "aws:iam/rolePolicy:RolePolicy": TypeRules(
        rules=[Rule("name", _iam_name(128), AWS_AUTONAME), Rule("policy", _iam_policy(10240))]
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": TypeRules(
        rules=[
            Rule(
                "policyArn", matches(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+", "a policy ARN")
            )
        ]
    ),
    # KMS CreateAlias: AliasName 1-256, ^alias/[a-zA-Z0-9/_-]+$, never alias/aws/.
    "aws:kms/alias:Alias": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 256),
                    matches(r"alias/[a-zA-Z0-9/_-]+", "alias/ then A-Z a-z 0-9 / _ -"),
                    not_prefixed(["alias/aws/"], "alias/aws/ is reserved for AWS managed keys"),
                ),
                unique=True,
            )
        ]
    ),
    # KMS CreateKey: Description up to 8192, Policy up to 32768; ScheduleKeyDeletion
    # PendingWindowInDays 7-30.
    "aws:kms/key:Key": TypeRules(
        rules=[
            Rule("description", length(0, 8192)),
            Rule("deletionWindowInDays", integer(7, 30)),
            Rule("policy", _json_document(32768, "key policy")),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # RDS CreateDBInstance: DBInstanceIdentifier 1-63 (stored lowercase, auto-named);
    # DBName for PostgreSQL 1-63 letters, digits, underscores, starting with a letter;
    # MasterUsername the same shape, 1-63; windows of at least 30 minutes, not overlapping;
    # BackupRetentionPeriod 0-35; MonitoringInterval 0,1,5,10,15,30,60;
    # PerformanceInsightsRetentionPeriod 7, 731 or a multiple of 31 up to 713;
    # Port 1150-65535; MaxAllocatedStorage above AllocatedStorage.
    "aws:rds/instance:Instance": TypeRules(
        rules=[
            Rule("identifier", _rds_identifier(63), AWS_AUTONAME_LOWER, unique=True),
            Rule("finalSnapshotIdentifier", _rds_identifier(255)),
            Rule(
                "dbName",
                all_of(length(1, 63), matches(r"[A-Za-z][A-Za-z0-9_]*", "letters, digits, _")),
            ),
            Rule(
                "username",
                all_of(
                    length(1, 63),
                    matches(r"[A-Za-z][A-Za-z0-9_]*", "letters, digits, _"),
                    none_of("rdsadmin", meaning="rdsadmin is reserved"),
                    not_prefixed(["rds_"], "rds_* names are reserved"),
                ),
            ),
            Rule("backupWindow", daily(30)),
            Rule("maintenanceWindow", weekly(30)),
            Rule("backupRetentionPeriod", integer(0, 35)),
            Rule("monitoringInterval", one_of(0, 1, 5, 10, 15, 30, 60)),
            Rule("performanceInsightsRetentionPeriod", one_of(*PERFORMANCE_INSIGHTS_DAYS)),
            Rule("port", integer(1150, 65535)),
            Rule("storageType", one_of("gp2", "gp3", "io1", "io2", "standard")),
            Rule("allocatedStorage", integer(20, 65536)),
            Rule(
                "enabledCloudwatchLogsExports",
                each(one_of("postgresql", "upgrade", "iam-db-auth-error")),
            ),
            Rule("instanceClass", matches(r"db\.[a-z0-9-]+\.[a-z0-9]+", "db.<family>.<size>")),
            *tag_rules(),
        ],
        checks=[
            windows_apart("backupWindow", "maintenanceWindow"),
            _max_above_allocated,
            tag_count(),
        ],
    ),
    # RDS CreateDBParameterGroup: name 1-255 (the identifier shape, stored lowercase,
    # auto-named); description required; parameters' ApplyMethod immediate|pending-reboot.
    "aws:rds/parameterGroup:ParameterGroup": TypeRules(
        rules=[
            Rule("name", _rds_identifier(255), AWS_AUTONAME_LOWER, unique=True),
            Rule("description", length(1, 255)),
            Rule("family", matches(r"[a-z0-9.-]+", "a parameter group family such as postgres17")),
            Rule("parameters[].applyMethod", one_of("immediate", "pending-reboot")),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # RDS CreateDBSubnetGroup: DBSubnetGroupName up to 255 letters, digits, periods,
    # underscores, spaces or hyphens, not "default" (stored lowercase, auto-named);
    # DBSubnetGroupDescription required.
    "aws:rds/subnetGroup:SubnetGroup": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 255),
                    matches(r"[a-z0-9._ -]+", "lowercase letters, digits, . _ space -"),
                    none_of("default", meaning="'default' is reserved"),
                ),
                AWS_AUTONAME_LOWER,
                unique=True,
            ),
            Rule("description", length(1, 255)),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # S3 CreateBucket: the bucket name (_bucket_name); pulumi-aws auto-names `bucket`
    # lowercase.
    "aws:s3/bucket:Bucket": TypeRules(
        rules=[Rule("bucket", _bucket_name, S3_AUTONAME, unique=True), *tag_rules()],
        checks=[tag_count()],
    ),
    "aws:s3/bucketV2:BucketV2": TypeRules(
        rules=[Rule("bucket", _bucket_name, S3_AUTONAME, unique=True), *tag_rules()],
        checks=[tag_count()],
    ),
    # SQS CreateQueue: QueueName 1-80 of letters, digits, - and _ (plus .fifo);
    # MessageRetentionPeriod 60-1209600, VisibilityTimeout 0-43200, DelaySeconds 0-900,
    # MaximumMessageSize 1024-1048576, ReceiveMessageWaitTimeSeconds 0-20.
    "aws:sqs/queue:Queue": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 80),
                    matches(r"[A-Za-z0-9_-]+(\.fifo)?", "letters, digits, - and _ (then .fifo)"),
                ),
                AWS_AUTONAME,
                unique=True,
            ),
            Rule("messageRetentionSeconds", integer(60, 1209600)),
            Rule("visibilityTimeoutSeconds", integer(0, 43200)),
            Rule("delaySeconds", integer(0, 900)),
            Rule("maxMessageSize", integer(1024, 1048576)),
            Rule("receiveWaitTimeSeconds", integer(0, 20)),
            *tag_rules(),
        ],
        checks=[_fifo_name, tag_count()],
    ),
    # WAFv2 CreateWebACL: Name, Scope REGIONAL|CLOUDFRONT, Description 1-256, metric names,
    # rule names and unique priorities.
    "aws:wafv2/webAcl:WebAcl": TypeRules(
        rules=[
            Rule("name", WAF_NAME, AWS_AUTONAME, unique=True),
            Rule("scope", one_of("REGIONAL", "CLOUDFRONT")),
            Rule("description", length(1, 256)),
            Rule("visibilityConfig.metricName", WAF_METRIC),
            Rule("rules[].name", WAF_NAME),
            Rule("rules[].priority", integer(0, 2**31 - 1)),
            Rule("rules[].visibilityConfig.metricName", WAF_METRIC),
            *tag_rules(),
        ],
        checks=[_waf_priorities, tag_count()],
    ),
    "aws:wafv2/webAclAssociation:WebAclAssociation": TypeRules(
        rules=[
            Rule("resourceArn", matches(_ARN, "an ARN")),
            Rule("webAclArn", matches(_ARN, "an ARN")),
        ]
    ),
    # CodeBuild CreateProject: name 2-255 of letters, digits, - and _ (first a letter or
    # digit); timeoutInMinutes 5-2160, queuedTimeoutInMinutes 5-480; environment and source
    # types from the API's enums. CreateWebhook: buildType, filter types.
    "aws:codebuild/project:Project": TypeRules(
        rules=[
            Rule("name", CODEBUILD_PROJECT_NAME, AWS_AUTONAME, unique=True),
            Rule("description", length(0, 255)),
            Rule("buildTimeout", integer(5, 2160)),
            Rule("queuedTimeout", integer(5, 480)),
            Rule(
                "environment.type",
                one_of(
                    "LINUX_CONTAINER",
                    "LINUX_GPU_CONTAINER",
                    "ARM_CONTAINER",
                    "WINDOWS_SERVER_2019_CONTAINER",
                    "WINDOWS_SERVER_2022_CONTAINER",
                    "LINUX_LAMBDA_CONTAINER",
                    "ARM_LAMBDA_CONTAINER",
                    "LINUX_EC2",
                    "ARM_EC2",
                    "WINDOWS_EC2",
                    "MAC_ARM",
                ),
            ),
            Rule("environment.imagePullCredentialsType", one_of("CODEBUILD", "SERVICE_ROLE")),
            Rule(
                "source.type",
                one_of(
                    "CODECOMMIT",
                    "CODEPIPELINE",
                    "GITHUB",
                    "GITHUB_ENTERPRISE",
                    "GITLAB",
                    "GITLAB_SELF_MANAGED",
                    "BITBUCKET",
                    "S3",
                    "NO_SOURCE",
                ),
            ),
            Rule("artifacts.type", one_of("CODEPIPELINE", "S3", "NO_ARTIFACTS")),
            Rule("vpcConfig.subnets", count(16, "subnets")),
            Rule("vpcConfig.securityGroupIds", count(5, "security groups")),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    "aws:codebuild/webhook:Webhook": TypeRules(
        rules=[
            Rule("projectName", CODEBUILD_PROJECT_NAME),
            Rule("buildType", one_of("BUILD", "BUILD_BATCH", "RUNNER_BUILDKITE_BUILD")),
            Rule(
                "filterGroups[].filters[].type",
                one_of(
                    "EVENT",
                    "BASE_REF",
                    "HEAD_REF",
                    "ACTOR_ACCOUNT_ID",
                    "FILE_PATH",
                    "COMMIT_MESSAGE",
                    "WORKFLOW_NAME",
                    "TAG_NAME",
                    "RELEASE_NAME",
                    "REPOSITORY_NAME",
                    "ORGANIZATION_NAME",
                ),
            ),
            Rule(
                "pullRequestBuildPolicy.requiresCommentApproval",
                one_of("DISABLED", "ALL_PULL_REQUESTS", "FORK_PULL_REQUESTS"),
            ),
        ]
    ),
    # AWS Backup CreateBackupVault / CreateBackupPlan / CreateBackupSelection.
    "aws:backup/vault:Vault": TypeRules(
        rules=[Rule("name", BACKUP_VAULT_NAME, AWS_AUTONAME, unique=True), *tag_rules()],
        checks=[tag_count()],
    ),
    "aws:backup/plan:Plan": TypeRules(
        rules=[
            Rule("name", BACKUP_NAME, AWS_AUTONAME, unique=True),
            Rule("rules[].ruleName", BACKUP_NAME),
            Rule("rules[].targetVaultName", BACKUP_VAULT_NAME),
            Rule("rules[].schedule", matches(r"(cron|rate)\(.+\)", "cron(...) or rate(...)")),
            Rule("rules[].startWindow", integer(60, 2**31 - 1)),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # PutBackupVaultLockConfiguration: days as integers, ChangeableForDays >= 3.
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": TypeRules(
        rules=[
            Rule("backupVaultName", BACKUP_VAULT_NAME),
            Rule("minRetentionDays", integer(1, 36500)),
            Rule("maxRetentionDays", integer(1, 36500)),
            Rule("changeableForDays", integer(3, 36500)),
        ]
    ),
    # CreateVolume: volume type enum, snapshot id form.
    "aws:ebs/volume:Volume": TypeRules(
        rules=[
            Rule("type", one_of("gp2", "gp3", "io1", "io2", "sc1", "st1", "standard")),
            Rule("snapshotId", matches(r"snap-([0-9a-f]{8}|[0-9a-f]{17})", "snap-<8 or 17 hex>")),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # PutBucketVersioning: Enabled | Suspended (Disabled only before it was ever enabled).
    "aws:s3/bucketVersioning:BucketVersioning": TypeRules(
        rules=[Rule("versioningConfiguration.status", one_of("Enabled", "Suspended", "Disabled"))]
    ),
    "aws:backup/selection:Selection": TypeRules(
        rules=[
            Rule("name", BACKUP_NAME, AWS_AUTONAME),
            Rule("iamRoleArn", matches(r"arn:aws[a-z-]*:iam::\d{12}:role/.+", "an IAM role ARN")),
        ]
    ),
    # CloudWatch PutMetricAlarm: AlarmName 1-255, AlarmDescription up to 1024, operator,
    # statistic and missing-data enums, EvaluationPeriods >= 1, Period (_alarm_period).
    # SNS CreateTopic: Name 1-256 ASCII letters, digits, '-' and '_' (a FIFO topic's ends in
    # .fifo; ours are standard); SetTopicAttributes Policy: an access policy in the IAM policy
    # language (Version, Statement), at most 30 KiB.
    "aws:sns/topic:Topic": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(length(1, 256), charset(r"\-_A-Za-z0-9", "A-Z a-z 0-9 - _")),
                AWS_AUTONAME,
                unique=True,
            ),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    "aws:sns/topicPolicy:TopicPolicy": TypeRules(
        rules=[Rule("policy", _iam_policy(30 * 1024))],
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": TypeRules(
        rules=[
            Rule("name", length(1, 255), AWS_AUTONAME, unique=True),
            Rule("alarmDescription", length(0, 1024)),
            Rule(
                "comparisonOperator",
                one_of(
                    "GreaterThanOrEqualToThreshold",
                    "GreaterThanThreshold",
                    "LessThanThreshold",
                    "LessThanOrEqualToThreshold",
                    "LessThanLowerOrGreaterThanUpperThreshold",
                    "LessThanLowerThreshold",
                    "GreaterThanUpperThreshold",
                ),
            ),
            Rule("evaluationPeriods", integer(1, 2**31 - 1)),
            Rule("period", _alarm_period),
            Rule("statistic", one_of("SampleCount", "Average", "Sum", "Minimum", "Maximum")),
            Rule("treatMissingData", one_of("breaching", "notBreaching", "ignore", "missing")),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    # S3 bucket sub-resources (PutBucketEncryption, PutPublicAccessBlock,
    # PutBucketOwnershipControls, PutBucketLifecycleConfiguration, PutBucketPolicy): enums,
    # lifecycle rule ids up to 255 and status Enabled|Disabled, a policy document of at most
    # 20 KB.
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        TypeRules(
            rules=[
                Rule(
                    "rules[].applyServerSideEncryptionByDefault.sseAlgorithm",
                    one_of("AES256", "aws:kms", "aws:kms:dsse"),
                )
            ]
        )
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": TypeRules(
        nothing_to_check="four booleans and the bucket's id"
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": TypeRules(
        rules=[
            Rule(
                "rule.objectOwnership",
                one_of("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"),
            )
        ]
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": TypeRules(
        rules=[
            Rule("rules[].id", length(1, 255)),
            Rule("rules[].status", one_of("Enabled", "Disabled")),
            Rule("rules[].expiration.days", integer(1, 2**31 - 1)),
            Rule(
                "rules[].abortIncompleteMultipartUpload.daysAfterInitiation", integer(1, 2**31 - 1)
            ),
        ]
    ),
    "aws:s3/bucketPolicy:BucketPolicy": TypeRules(rules=[Rule("policy", _iam_policy(20480))]),
    # Cognito: CreateUserPool PoolName 1-128 of [\w\s+=,.@-]; PasswordPolicy MinimumLength
    # 6-99, TemporaryPasswordValidityDays 0-365; MfaConfiguration OFF|ON|OPTIONAL.
    # CreateUserPoolDomain Domain 1-63 of [a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])? (a prefix
    # domain; "aws", "amazon" and "cognito" are reserved in it). CreateUserPoolClient
    # ClientName 1-128 of [\w\s+=,.@-]; OAuth flows code|implicit|client_credentials;
    # callback and logout URLs https (or http://localhost), at most 100; token validity.
    "aws:cognito/userPool:UserPool": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 128), matches(r"[\w\s+=,.@-]+", "letters, digits, spaces and +=,.@_-")
                ),
                AWS_AUTONAME,
                unique=True,
            ),
            Rule("passwordPolicy.minimumLength", integer(6, 99)),
            Rule("passwordPolicy.temporaryPasswordValidityDays", integer(0, 365)),
            Rule("mfaConfiguration", one_of("OFF", "ON", "OPTIONAL")),
            Rule("deletionProtection", one_of("ACTIVE", "INACTIVE")),
            Rule(
                "accountRecoverySetting.recoveryMechanisms[].name",
                one_of("verified_email", "verified_phone_number", "admin_only"),
            ),
            *tag_rules(),
        ],
        checks=[tag_count()],
    ),
    "aws:cognito/userPoolDomain:UserPoolDomain": TypeRules(
        rules=[
            Rule(
                "domain",
                all_of(
                    length(1, 63),
                    matches(
                        r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?", "lowercase a-z 0-9 and inner '-'"
                    ),
                    lambda v: (
                        "may not contain aws, amazon or cognito"
                        if any(w in str(v) for w in ("aws", "amazon", "cognito"))
                        else None
                    ),
                ),
                unique=True,
            )
        ]
    ),
    "aws:cognito/userPoolClient:UserPoolClient": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 128), matches(r"[\w\s+=,.@-]+", "letters, digits, spaces and +=,.@_-")
                ),
            ),
            Rule("allowedOauthFlows", each(one_of("code", "implicit", "client_credentials"))),
            Rule(
                "callbackUrls",
                all_of(
                    count(100, "URLs"),
                    each(matches(r"https://\S+|http://localhost\S*", "an https:// URL")),
                ),
            ),
            Rule(
                "logoutUrls",
                all_of(
                    count(100, "URLs"),
                    each(matches(r"https://\S+|http://localhost\S*", "an https:// URL")),
                ),
            ),
            Rule("accessTokenValidity", integer(1, 86400)),
            Rule("idTokenValidity", integer(1, 86400)),
            Rule("refreshTokenValidity", integer(1, 315360000)),
            Rule("preventUserExistenceErrors", one_of("ENABLED", "LEGACY")),
        ]
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": SECURITY_GROUP_RULE,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": SECURITY_GROUP_RULE,
    # The provider's defaultTags land on every resource it creates (AWS tag restrictions);
    # region a real region name.
    "pulumi:providers:aws": TypeRules(
        rules=[Rule("region", matches(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", "a region name"))],
        checks=[_provider_default_tags],
    ),
}
