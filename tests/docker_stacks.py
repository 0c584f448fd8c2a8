"""The local Docker stacks the whole-stack tests share: one plan each per session.

- `dev`: Pulumi.dev.yaml as committed (the core path only);
- `everything`: the same file with every tier and service switched on and a GPU host;
- `toggles`: an ephemeral `dev-bob` stack that switches single services on and off.
The fixtures (`docker_dev`, `docker_everything`, `docker_toggles`) are in tests/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from stacks.catalog import Catalog, Segment, load_catalog
from stacks.composition import effective_catalog
from stacks.config import StackConfig, parse_config_bag
from stacks.plan import stack_config_bag
from tests.conftest import PROJECT_DIR

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
BUILD = "docker-build:index:Image"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
ROLE = "ai.sutazai.role"
DEV_FILE = PROJECT_DIR / "Pulumi.dev.yaml"
EXPIRES = "2099-01-01T00:00:00Z"


def write_stack_file(path: Path, **overrides: Any) -> Path:
    doc = yaml.safe_load(DEV_FILE.read_text())
    for key, value in overrides.items():
        doc["config"][f"sutazai:{key}"] = value
    path.write_text(yaml.safe_dump(doc))
    return path


class Stack:
    """One plan and the stack config and catalog it was made from."""

    def __init__(self, plan: dict[str, Any], stack: str, stack_file: Path | None) -> None:
        self.plan = plan
        self.stack = stack
        bag, _ = stack_config_bag(stack, PROJECT_DIR, stack_file)
        self.config: StackConfig = parse_config_bag(bag)
        self.catalog: Catalog = effective_catalog(load_catalog(), self.config)
        self.prefix = f"sutazai-{stack}"

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.plan["resources"] if r["type"] == type_]

    def containers(self, role: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for r in self.of_type(CONTAINER):
            labels = labels_of(r)
            if labels.get(ROLE) == role:
                key = labels["ai.sutazai.service"]
                if role == "model-preload":
                    key = labels["ai.sutazai.model"]
                assert key not in found, f"two {role} containers for {key}"
                found[key] = r["inputs"]
        return found

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.containers("service")

    def container(self, name: str) -> dict[str, Any]:
        """The inputs of the container named <prefix>-<name> (any role)."""
        (found,) = [
            r["inputs"] for r in self.of_type(CONTAINER) if r["name"] == f"{self.prefix}-{name}"
        ]
        return found

    @property
    def log_receiver_port(self) -> int | None:
        """The UDP port every container's gelf driver sends to (None: json-file logs)."""
        addresses = {
            str(c["inputs"].get("logOpts", {}).get("gelf-address"))
            for c in self.of_type(CONTAINER)
            if c["inputs"].get("logDriver") == "gelf"
        }
        if not addresses:
            return None
        (address,) = addresses
        return int(address.rsplit(":", 1)[1])

    def network_names(self) -> dict[Segment, str]:
        return {
            Segment(labels_of(r)["ai.sutazai.segment"]): r["inputs"]["name"]
            for r in self.of_type(NETWORK)
        }


def labels_of(resource: dict[str, Any]) -> dict[str, str]:
    return {x["label"]: x["value"] for x in resource["inputs"].get("labels", [])}


def env_of(inputs: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inputs.get("envs", []) if isinstance(e, str))


def uploads_of(inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    uploads = inputs.get("uploads", [])
    if isinstance(uploads, dict) and SECRET_SIG in uploads:
        uploads = uploads["value"]
    return {u["file"]: u for u in uploads}


def content_of(upload: dict[str, Any]) -> str:
    """An upload's content, unwrapped if it is a secret (tests only)."""
    content = upload["content"]
    if isinstance(content, dict) and SECRET_SIG in content:
        content = content["value"]
    return content if isinstance(content, str) else json.dumps(content)
