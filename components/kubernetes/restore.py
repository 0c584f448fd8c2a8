"""A restored volume: the PersistentVolume that hands an EBS volume made from a snapshot to
the first replica of a StatefulSet.

The StatefulSet's claim template makes the claim `<template>-<statefulset>-0`; a
PersistentVolume whose `claimRef` names that claim (and whose class and size match it) is
the one it binds to, so the pod starts on the restored data instead of an empty volume.
EBS volumes live in one zone: the node affinity keeps the pod there.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.kubernetes import naming
from components.kubernetes.workloads import DATA_VOLUME
from stacks.catalog import ServiceSpec

EBS_CSI_DRIVER = "ebs.csi.aws.com"
ZONE_LABEL = "topology.kubernetes.io/zone"


def first_claim(spec: ServiceSpec) -> str:
    """The claim the StatefulSet's first replica gets (Kubernetes' naming)."""
    return f"{DATA_VOLUME}-{spec.name}-0"


def restored_volume(
    spec: ServiceSpec,
    *,
    name: str,
    namespace: pulumi.Input[str],
    volume_id: pulumi.Input[str],
    zone: pulumi.Input[str],
    storage_class: str,
    retain: bool,
    snapshot_id: str,
) -> dict[str, Any]:
    if spec.storage is None:
        raise ValueError(f"{spec.name} keeps no data: nothing to restore a volume into")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "labels": naming.selector(spec),
            "annotations": {"sutazai.io/restored-from": snapshot_id},
        },
        "spec": {
            "capacity": {"storage": spec.storage.size},
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": "Retain" if retain else "Delete",
            "claimRef": {"namespace": namespace, "name": first_claim(spec)},
            "csi": {"driver": EBS_CSI_DRIVER, "volumeHandle": volume_id, "fsType": "ext4"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": ZONE_LABEL, "operator": "In", "values": [zone]}
                            ]
                        }
                    ]
                }
            },
        },
    }
