"""Small glue that turns check functions into SDK policies.

A check receives a `Resource` (plain props, stack, protect flag) and yields findings that
say what is wrong (resource, field) and how to fix it; the wrapper prefixes the resource
(type, name, URN), applies the exact waivers of the policy config and reports.

To add a policy: write a check `(Resource) -> Iterator[str | Finding]` in the module of its
platform, register it with `resource_policy(name, description, types, check, remediation=)`
in that module's `policies()`, give it an entry in both config files and a row in
policies/README.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .config import WAIVERS_SCHEMA, ParsedWaivers, parse_waivers, record_use
from .values import plain, stack_of


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    props: dict[str, Any]
    stack: str
    protect: bool = False
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] | None = None

    @property
    def label(self) -> str:
        return f"{self.type} '{self.name}' ({self.urn})"

    def depends_on(self, urn: str, prop: str | None = None) -> bool:
        if self.parent == urn:
            return True
        if (
            prop is not None
            and self.property_dependencies
            and urn in self.property_dependencies.get(prop, ())
        ):
            return True
        return urn in self.dependencies

    @staticmethod
    def from_args(args: ResourceValidationArgs) -> Resource:
        return Resource(
            type=args.resource_type,
            name=args.name,
            urn=args.urn,
            props=plain(args.props),
            stack=stack_of(args.urn),
            protect=bool(args.opts.protect) if args.opts is not None else False,
            parent=args.opts.parent if args.opts is not None else None,
        )

    @staticmethod
    def from_policy_resource(res: PolicyResource) -> Resource:
        return Resource(
            type=res.resource_type,
            name=res.name,
            urn=res.urn,
            props=plain(res.props),
            stack=stack_of(res.urn),
            protect=bool(res.opts.protect) if res.opts is not None else False,
            parent=res.parent.urn
            if res.parent is not None
            else (res.opts.parent if res.opts is not None else None),
            dependencies=tuple(d.urn for d in res.dependencies),
            property_dependencies={
                k: tuple(d.urn for d in v) for k, v in res.property_dependencies.items()
            },
        )


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a resource. `check` and `value` (the field a finding names and
    the value it has) are what a waiver must list exactly to relax it; a finding without a
    check can never be waived."""

    message: str
    check: str | None = None
    value: Any = None


ResourceCheck = Callable[..., Iterable["str | Finding"]]
# A stack check yields (offending resource or None for the stack, message or finding).
StackCheck = Callable[[list[Resource], str], Iterable[tuple[Resource | None, "str | Finding"]]]
TypeFilter = Iterable[str] | Callable[[str], bool]


def _schema(extra: Mapping[str, Any] | None = None) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties={"waivers": dict(WAIVERS_SCHEMA), **(extra or {})})


def _matcher(types: TypeFilter) -> Callable[[str], bool]:
    if callable(types):
        return types
    wanted = frozenset(types)
    return wanted.__contains__


class _LastResource:
    """The SDK rebuilds the props proxy for every policy; copying them once per resource
    (the copy is read-only to every check) keeps a large plan fast."""

    key: tuple[str, int] | None = None
    target: Any = None
    resource: Resource | None = None


def _resource(args: ResourceValidationArgs) -> Resource:
    try:
        target = args.props["__target"]  # type: ignore[index]
    except Exception:
        target = None
    key = (args.urn, id(target))
    if target is not None and _LastResource.key == key and _LastResource.target is target:
        cached = _LastResource.resource
        if cached is not None and cached.type == args.resource_type:
            return cached
    res = Resource.from_args(args)
    if target is not None:
        _LastResource.key, _LastResource.target, _LastResource.resource = key, target, res
    return res


def _apply(
    policy: str,
    waivers: ParsedWaivers,
    report: ReportViolation,
    res: Resource | None,
    item: str | Finding,
) -> None:
    finding = item if isinstance(item, Finding) else Finding(item)
    if res is None:
        report(finding.message, None)
        return
    if finding.check is not None:
        waiver = waivers.find(res.type, res.name, finding.check, finding.value)
        if waiver is not None:
            record_use(waiver, finding.check, finding.value)
            return
    report(f"{res.label}: {finding.message}", res.urn)


def _report_problems(waivers: ParsedWaivers, report: ReportViolation, res: Resource) -> None:
    for problem in waivers.problems:
        report(f"{res.label}: policy config is invalid and waives nothing: {problem}", res.urn)


def resource_policy(
    name: str,
    description: str,
    types: TypeFilter,
    check: ResourceCheck,
    *,
    remediation: str,
    severity: Severity = Severity.HIGH,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
    config_properties: Mapping[str, Any] | None = None,
    reads_config: bool = False,
) -> ResourceValidationPolicy:
    """`reads_config`: the check is `(Resource, this policy's config) -> findings`."""
    applies = _matcher(types)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not applies(args.resource_type):  # cheap filter first: most resources match nothing
            return
        res = _resource(args)
        config = args.get_config()
        findings = list(check(res, config) if reads_config else check(res))  # type: ignore[call-arg]
        if not findings:
            return
        waivers = parse_waivers(name, config)
        _report_problems(waivers, report, res)
        for item in findings:
            _apply(name, waivers, report, res, item)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=_schema(config_properties),
        severity=severity,
        remediation_steps=remediation,
    )


def stack_policy(
    name: str,
    description: str,
    types: TypeFilter,
    check: StackCheck,
    *,
    remediation: str,
    severity: Severity = Severity.HIGH,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
    config_properties: Mapping[str, Any] | None = None,
    required: Iterable[str] = (),
) -> StackValidationPolicy:
    applies = _matcher(types)

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        # Only the types the check reads are copied out of the SDK proxies (the expensive part).
        resources = [
            Resource.from_policy_resource(r) for r in args.resources if applies(r.resource_type)
        ]
        stack = next((s for s in (stack_of(r.urn) for r in args.resources) if s), stack_of(""))
        waivers = parse_waivers(name, args.get_config())
        reported: set[str] = set()
        for res, item in check(resources, stack):
            if res is not None and res.urn not in reported:
                reported.add(res.urn)
                _report_problems(waivers, report, res)
            _apply(name, waivers, report, res, item)

    schema = _schema(config_properties)
    required = list(required)
    if required:
        schema.required = required
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=schema,
        severity=severity,
        remediation_steps=remediation,
    )
