"""Stack files hold no secret in the clear: anything secret-like is a `secure:` value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.secrets.scan import SECRETISH_ENV

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACK_FILES = sorted(PROJECT_DIR.glob("Pulumi*.yaml"))
# Shapes of real credentials: Vault tokens, AWS access keys, PEM private keys, JWTs.
CREDENTIAL_SHAPES = re.compile(
    r"(hv[sbr]\.[A-Za-z0-9_-]{20,}|\bs\.[A-Za-z0-9]{24}\b|AKIA[0-9A-Z]{16}|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{10,}\.eyJ)"
)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and set(value) == {"secure"}:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", key
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def test_there_are_stack_files() -> None:
    names = {p.name for p in STACK_FILES}
    assert {"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"} <= names


@pytest.mark.parametrize("path", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_no_plaintext_secret_in_stack_file(path: Path) -> None:
    document = yaml.safe_load(path.read_text()) or {}
    config = document.get("config") or {}
    for key, value in config.items():
        declared = value
        if path.name == "Pulumi.yaml" and isinstance(value, dict):  # a declaration
            declared = value.get("default", value.get("value"))
        if SECRETISH_ENV.search(key.split(":")[-1]):
            assert isinstance(value, dict) and set(value) == {"secure"}, (
                f"{path.name}: {key} looks secret; set it with `pulumi config set --secret`"
            )
        for where, leaf in _leaves(declared, key):
            assert not (isinstance(leaf, str) and CREDENTIAL_SHAPES.search(leaf)), (
                f"{path.name}: {where} looks like a credential"
            )
