"""Resources of the random provider and Pulumi's own: nothing in a cloud, but still
constrained (the random provider's Check, Pulumi's stack names)."""

from __future__ import annotations

from collections.abc import Iterator

from stacks.constraints.checks import integer, matches, one_of
from stacks.constraints.core import Resource, Rule, TypeRules, Violation


def _minimums_fit(resource: Resource) -> Iterator[Violation]:
    # random_password: min_lower + min_upper + min_numeric + min_special <= length.
    length = resource.inputs.get("length")
    total = sum(
        int(resource.inputs.get(k) or 0)
        for k in ("minLower", "minUpper", "minNumeric", "minSpecial")
    )
    if isinstance(length, int) and total > length:
        yield resource.violation("length", length, f"must be at least the minimums' sum ({total})")


# The tls provider's schema: key algorithms and curves, validity in hours.
_VALIDITY = Rule("validityPeriodHours", integer(1, 2**31 - 1))

RULES: dict[str, TypeRules] = {
    "tls:index/privateKey:PrivateKey": TypeRules(
        rules=[
            Rule("algorithm", one_of("RSA", "ECDSA", "ED25519")),
            Rule("ecdsaCurve", one_of("P224", "P256", "P384", "P521")),
        ]
    ),
    "tls:index/selfSignedCert:SelfSignedCert": TypeRules(rules=[_VALIDITY]),
    "tls:index/certRequest:CertRequest": TypeRules(
        rules=[], nothing_to_check="a key, a subject and DNS names the program fixes"
    ),
    "tls:index/locallySignedCert:LocallySignedCert": TypeRules(rules=[_VALIDITY]),
    "random:index/randomPassword:RandomPassword": TypeRules(
        rules=[Rule("length", integer(1, 4096))], checks=[_minimums_fit]
    ),
    # Pulumi stack references: [<org>/[<project>/]]<stack>, each of [A-Za-z0-9_.-].
    "pulumi:pulumi:StackReference": TypeRules(
        rules=[
            Rule(
                "name",
                matches(
                    r"([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]{1,100}",
                    "[org/[project/]]stack of A-Z a-z 0-9 _ . -",
                ),
            )
        ]
    ),
}
