"""Address-range coverage: how much of the internet a set of CIDRs lets in.

Public exposure is judged by the union of the CIDRs (Python's ipaddress: split ranges,
overlaps, host bits and IPv6 all counted once), minus private and reserved space, against
a maximum from the policy config. A literal comparison with `0.0.0.0/0` is what this
replaces: `0.0.0.0/1` + `128.0.0.0/1` is the same internet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Final

from .values import UNKNOWN, as_int, get

# How much globally routable address space a rule may open before it counts as public:
# at most one /24 (IPv4) or /56 (IPv6), unless the policy config says otherwise.
DEFAULT_IPV4_PREFIX: Final = 24
DEFAULT_IPV6_PREFIX: Final = 56
EXPOSURE_SCHEMA: Final[dict[str, Any]] = {
    "maxPublicIpv4Prefix": {
        "type": "integer",
        "minimum": 0,
        "maximum": 32,
        "default": DEFAULT_IPV4_PREFIX,
        "description": "Global IPv4 space larger than one prefix of this length is public.",
    },
    "maxPublicIpv6Prefix": {
        "type": "integer",
        "minimum": 0,
        "maximum": 128,
        "default": DEFAULT_IPV6_PREFIX,
        "description": "Global IPv6 space larger than one prefix of this length is public.",
    },
}

_NOT_GLOBAL: Final = {
    4: list(
        ipaddress.collapse_addresses(
            ipaddress.IPv4Network(n)
            for n in (
                "0.0.0.0/8",
                "10.0.0.0/8",
                "100.64.0.0/10",
                "127.0.0.0/8",
                "169.254.0.0/16",
                "172.16.0.0/12",
                "192.0.0.0/24",
                "192.0.2.0/24",
                "192.168.0.0/16",
                "198.18.0.0/15",
                "198.51.100.0/24",
                "203.0.113.0/24",
                "224.0.0.0/3",
            )
        )
    ),
    6: list(
        ipaddress.collapse_addresses(
            ipaddress.IPv6Network(n)
            for n in ("::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32")
        )
    ),
}


@dataclass(frozen=True)
class Exposure:
    """The union of a rule's CIDRs: how much globally routable space it covers."""

    ipv4_global: int
    ipv6_global: int
    invalid: tuple[str, ...]

    def is_public(self, config: Any) -> bool:
        v4 = _prefix(config, "maxPublicIpv4Prefix", DEFAULT_IPV4_PREFIX, 32)
        v6 = _prefix(config, "maxPublicIpv6Prefix", DEFAULT_IPV6_PREFIX, 128)
        return self.ipv4_global > 2 ** (32 - v4) or self.ipv6_global > 2 ** (128 - v6)

    def describe(self) -> str:
        parts = []
        if self.ipv4_global:
            parts.append(f"{self.ipv4_global} global IPv4 addresses")
        if self.ipv6_global:
            parts.append(f"2^{self.ipv6_global.bit_length() - 1}+ global IPv6 addresses")
        return " and ".join(parts) or "no global addresses"


def _prefix(config: Any, key: str, default: int, bits: int) -> int:
    value = as_int(get(config, key)) if isinstance(config, dict) else None
    return value if value is not None and 0 <= value <= bits else default


def exposure(cidrs: list[Any]) -> Exposure:
    """Union of CIDRs (split ranges, overlaps and IPv6 counted once), minus private space."""
    nets: dict[int, list[Any]] = {4: [], 6: []}
    invalid: list[str] = []
    for cidr in cidrs:
        if cidr is UNKNOWN or cidr is None:
            continue
        try:
            net = ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            invalid.append(repr(cidr))
            continue
        nets[net.version].append(net)
    counts = {}
    for version, found in nets.items():
        total = 0
        for net in ipaddress.collapse_addresses(found):  # type: ignore[arg-type]
            covered = net.num_addresses
            for private in _NOT_GLOBAL[version]:
                if private.subnet_of(net):  # type: ignore[arg-type]
                    covered -= private.num_addresses
                elif net.subnet_of(private):  # type: ignore[arg-type]
                    covered = 0
                    break
            total += covered
        counts[version] = total
    return Exposure(counts[4], counts[6], tuple(invalid))
