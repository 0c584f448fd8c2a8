"""Qdrant snapshots to S3 (Qdrant's documented online backup: the snapshot API)."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

CHUNK = 1024 * 1024


class ObjectStore(Protocol):
    """The part of a boto3 S3 client the job uses."""

    def put_object(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class QdrantTarget:
    url: str
    api_key: str
    timeout: float = 600.0

    def request(self, method: str, path: str) -> urllib.request.Request:
        request = urllib.request.Request(f"{self.url.rstrip('/')}{path}", method=method)
        request.add_header("api-key", self.api_key)
        return request

    def call(self, method: str, path: str) -> Any:
        with urllib.request.urlopen(self.request(method, path), timeout=self.timeout) as reply:
            body = json.loads(reply.read() or b"null")
        if not isinstance(body, dict) or body.get("status") not in ("ok", None):
            raise RuntimeError(f"Qdrant {method} {path}: unexpected reply {body!r}")
        return body.get("result")


@dataclass(frozen=True)
class Destination:
    bucket: str
    prefix: str
    kms_key_id: str


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def snapshot_all(
    qdrant: QdrantTarget,
    store: ObjectStore,
    destination: Destination,
    scratch: Path,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Snapshot every collection to s3://bucket/prefix/<UTC time>/; returns the manifest."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{destination.prefix.strip('/')}/{stamp}"
    collections = sorted(c["name"] for c in qdrant.call("GET", "/collections")["collections"])
    manifest: dict[str, Any] = {"taken_at": stamp, "collections": {}}
    for collection in collections:
        info = qdrant.call("GET", f"/collections/{_quote(collection)}")
        snapshot = qdrant.call("POST", f"/collections/{_quote(collection)}/snapshots?wait=true")
        name = snapshot["name"]
        path = f"/collections/{_quote(collection)}/snapshots/{_quote(name)}"
        local = scratch / f"{collection}.snapshot"
        digest = hashlib.sha256()
        with (
            urllib.request.urlopen(qdrant.request("GET", path), timeout=qdrant.timeout) as reply,
            local.open("wb") as out,
        ):
            while chunk := reply.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        key = f"{base}/{collection}/{name}"
        with local.open("rb") as body:
            # S3 recomputes the SHA-256 and refuses the object if a byte differs.
            store.put_object(
                Bucket=destination.bucket,
                Key=key,
                Body=body,
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=destination.kms_key_id,
                ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
            )
        local.unlink()
        # The snapshot is in S3 now; Qdrant's disk keeps none of them.
        qdrant.call("DELETE", f"{path}?wait=true")
        manifest["collections"][collection] = {
            "object": key,
            "sha256": digest.hexdigest(),
            "points_count": (info or {}).get("points_count"),
        }
    store.put_object(
        Bucket=destination.bucket,
        Key=f"{base}/manifest.json",
        Body=json.dumps(manifest, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=destination.kms_key_id,
    )
    return manifest
