"""A strict reader for the Vault ACL policies the program writes, and Vault's path globbing.

Only the subset the program emits is accepted (comments, and `path "<p>" { capabilities =
[...] }` stanzas); anything else is an error, so a policy that grew a `deny`, a
`allowed_parameters` or a second block kind cannot slip past the tests unread.
"""

from __future__ import annotations

import re

_COMMENT = re.compile(r"^\s*#.*$", re.M)
_STANZA = re.compile(
    r'\s*path\s+"(?P<path>[^"]+)"\s*\{\s*capabilities\s*=\s*\[(?P<caps>[^\]]*)\]\s*\}\s*'
)
_CAPABILITY = re.compile(r'^\s*"([a-z]+)"\s*$')


def parse_policy(hcl: str) -> dict[str, set[str]]:
    """path -> capabilities. Raises ValueError on anything outside the accepted subset."""
    text = _COMMENT.sub("", hcl)
    grants: dict[str, set[str]] = {}
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _STANZA.match(text, position)
        if match is None:
            raise ValueError(f"unexpected policy text: {text[position : position + 60]!r}")
        caps: set[str] = set()
        for item in match.group("caps").split(","):
            if not item.strip():
                continue
            cap = _CAPABILITY.match(item)
            if cap is None:
                raise ValueError(f"bad capability {item!r}")
            caps.add(cap.group(1))
        path = match.group("path")
        if path in grants:
            raise ValueError(f"path {path} appears twice")
        grants[path] = caps
        position = match.end()
    return grants


def path_matches(pattern: str, path: str) -> bool:
    """Vault's ACL matching: `+` is exactly one segment, a trailing `*` is a prefix glob."""
    prefix_glob = pattern.endswith("*")
    body = pattern[:-1] if prefix_glob else pattern
    parts = ["[^/]+" if segment == "+" else re.escape(segment) for segment in body.split("/")]
    regex = "^" + "/".join(parts) + (".*" if prefix_glob else "$")
    return re.match(regex, path) is not None
