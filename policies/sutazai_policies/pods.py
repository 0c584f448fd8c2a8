"""Finding pods by shape, wherever a resource's inputs carry them.

No list of kinds: a Deployment, a `*Patch`, a `PodTemplate`, an old API version or a custom
resource (an Argo Rollout, a KEDA ScaledJob, a Tekton Task...) is read the same way. Two
shapes count:

* a pod spec: an object with a `containers`, `initContainers` or `ephemeralContainers`
  list; the object whose `spec` it is holds its `metadata.annotations`;
* a loose container: an object with a string `image` and a container field (`name`,
  `command`, `args`, `securityContext`, `env`, `ports`, `volumeMounts`, `resources`)
  outside any pod spec (Argo's `container`, Tekton's `steps`). It is checked as a pod of
  its own, with no pod-level defaults to lean on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from .rules import Resource
from .values import UNKNOWN, as_dict, as_list, get

CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")
CONTAINER_FIELDS: Final = frozenset(
    {"name", "command", "args", "securityContext", "env", "ports", "volumeMounts", "resources"}
)
# Built-in kinds that always carry a pod (a *Patch may leave its template out).
POD_KINDS: Final = frozenset(
    {
        "Pod",
        "PodTemplate",
        "ReplicationController",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
    }
)


@dataclass(frozen=True)
class Container:
    path: str  # e.g. spec.template.spec.containers[0]
    name: str
    list_name: str  # containers | initContainers | ephemeralContainers
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.path} ('{self.name}')"

    @property
    def security_context(self) -> dict[str, Any]:
        return as_dict(self.spec.get("securityContext"))


@dataclass(frozen=True)
class Pod:
    path: str  # where the pod spec sits in the inputs ("" for a loose container)
    spec: dict[str, Any]
    annotations: Any  # dict, UNKNOWN or None
    loose: bool = False

    @property
    def label(self) -> str:
        return f"pod spec at {self.path or '(inputs)'}"

    def field(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    @property
    def security_context(self) -> dict[str, Any]:
        return as_dict(self.spec.get("securityContext"))

    def containers(self) -> Iterator[Container]:
        if self.loose:
            c = self.spec["containers"][0]
            name = c.get("name")
            yield Container(self.path, name if isinstance(name, str) else "?", "containers", c)
            return
        for list_name in CONTAINER_LISTS:
            for i, c in enumerate(as_list(self.spec.get(list_name))):
                if isinstance(c, dict):
                    name = c.get("name")
                    yield Container(
                        self.field(f"{list_name}[{i}]"),
                        name if isinstance(name, str) else f"#{i}",
                        list_name,
                        c,
                    )


def kind_of(type_token: str) -> str:
    """`kubernetes:apps/v1:DeploymentPatch` -> `DeploymentPatch`."""
    return type_token.rsplit(":", 1)[-1]


def is_pod_spec(node: dict[str, Any]) -> bool:
    return any(isinstance(node.get(k), list) or node.get(k) is UNKNOWN for k in CONTAINER_LISTS)


def _is_loose_container(node: dict[str, Any]) -> bool:
    image = node.get("image")
    return (isinstance(image, str) or image is UNKNOWN) and not CONTAINER_FIELDS.isdisjoint(node)


@dataclass(frozen=True)
class PodSearch:
    pods: tuple[Pod, ...]
    saw_unknown: bool  # some object on the way was computed (preview)


def search(props: dict[str, Any]) -> PodSearch:
    pods: list[Pod] = []
    unknown = False

    def walk(node: Any, path: str, owner: dict[str, Any] | None) -> None:
        nonlocal unknown
        if node is UNKNOWN:
            unknown = True
        elif isinstance(node, dict):
            if is_pod_spec(node):
                annotations = get(owner, "metadata", "annotations") if owner is not None else None
                pods.append(Pod(path, node, annotations))
                return
            if _is_loose_container(node):
                pods.append(Pod(path, {"containers": [node]}, None, loose=True))
                return
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key, node if key == "spec" else None)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]", None)

    walk(props, "", None)
    return PodSearch(tuple(pods), unknown)


_CACHE: dict[str, Any] = {"props": None, "result": None}


def pods_of(res: Resource) -> tuple[Pod, ...]:
    return search_of(res).pods


def search_of(res: Resource) -> PodSearch:
    # Every workload policy searches the same resource in turn: search once.
    if _CACHE["props"] is res.props:
        return _CACHE["result"]
    result = search(res.props) if res.type.startswith("kubernetes:") else PodSearch((), False)
    _CACHE["props"], _CACHE["result"] = res.props, result
    return result


def containers_of(res: Resource) -> Iterator[tuple[Pod, Container]]:
    for pod in pods_of(res):
        for c in pod.containers():
            yield pod, c
