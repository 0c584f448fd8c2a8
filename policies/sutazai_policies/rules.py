"""Small glue that turns check functions into SDK policies.

A check receives a `Resource` (plain props, stack, protect flag) and yields messages
that say what is wrong and how to fix it; the wrapper prefixes the resource (type, name,
URN), applies the exception allow-list from the policy config and reports.
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

from .config import EXCEPTIONS_SCHEMA, ParsedExceptions, parse_exceptions
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


ResourceCheck = Callable[[Resource], Iterable[str]]
# A stack check yields (offending resource or None for the stack, message).
StackCheck = Callable[[list[Resource], str], Iterable[tuple[Resource | None, str]]]


def _schema() -> PolicyConfigSchema:
    return PolicyConfigSchema(properties={"exceptions": dict(EXCEPTIONS_SCHEMA)})


def _report(
    policy: str,
    exceptions: ParsedExceptions,
    report: ReportViolation,
    res: Resource | None,
    message: str,
) -> None:
    if res is None:
        report(message, None)
        return
    if exceptions.match(res.urn) is not None:
        return
    report(f"{res.label}: {message}", res.urn)


def _report_rejected(
    policy: str, exceptions: ParsedExceptions, report: ReportViolation, res: Resource
) -> None:
    for problem in exceptions.rejected_for(res.urn):
        report(
            f"{res.label}: policy config for '{policy}' is invalid and grants no exception: "
            f"{problem}",
            res.urn,
        )


def resource_policy(
    name: str,
    description: str,
    types: Iterable[str],
    check: ResourceCheck,
    *,
    remediation: str,
    severity: Severity = Severity.HIGH,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> ResourceValidationPolicy:
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in wanted:  # cheap filter first: most resources match nothing
            return
        res = Resource.from_args(args)
        exceptions = parse_exceptions(name, args.get_config())
        messages = list(check(res))
        if messages:
            _report_rejected(name, exceptions, report, res)
        for message in messages:
            _report(name, exceptions, report, res, message)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=_schema(),
        severity=severity,
        remediation_steps=remediation,
    )


def stack_policy(
    name: str,
    description: str,
    types: Iterable[str],
    check: StackCheck,
    *,
    remediation: str,
    severity: Severity = Severity.HIGH,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> StackValidationPolicy:
    wanted = frozenset(types)

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        # Only the types the check reads are copied out of the SDK proxies (the expensive part).
        resources = [
            Resource.from_policy_resource(r) for r in args.resources if r.resource_type in wanted
        ]
        stack = next((s for s in (stack_of(r.urn) for r in args.resources) if s), stack_of(""))
        exceptions = parse_exceptions(name, args.get_config())
        reported_rejections: set[str] = set()
        for res, message in check(resources, stack):
            if res is not None and res.urn not in reported_rejections:
                reported_rejections.add(res.urn)
                _report_rejected(name, exceptions, report, res)
            _report(name, exceptions, report, res, message)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=_schema(),
        severity=severity,
        remediation_steps=remediation,
    )
