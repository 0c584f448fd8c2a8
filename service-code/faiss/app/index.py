"""Named FAISS indexes with explicit int64 ids, persisted atomically."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import faiss  # pyright: ignore[reportMissingTypeStubs]
import numpy as np

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IndexError_(ValueError):
    pass


class VectorIndex:
    def __init__(self, path: Path, dimension: int, metric: str) -> None:
        self.path = path
        self.dimension = dimension
        self.metric = metric
        self.lock = threading.Lock()
        # SWIG bindings: the stubs do not know IndexIDMap2's array overloads.
        self.index: Any
        if path.exists():
            self.index = faiss.read_index(str(path))
            if self.index.d != dimension:
                raise IndexError_(f"{path.name}: stored dimension {self.index.d} != {dimension}")
        else:
            base = faiss.IndexFlatIP(dimension) if metric == "ip" else faiss.IndexFlatL2(dimension)
            self.index = faiss.IndexIDMap2(base)
        self.next_id = (
            int(faiss.vector_to_array(self.index.id_map).max()) + 1 if self.index.ntotal else 0
        )

    def _matrix(self, vectors: list[list[float]]) -> np.ndarray:
        arr = np.asarray(vectors, dtype="float32")
        if arr.ndim != 2 or arr.shape[1] != self.dimension:
            raise IndexError_(f"vectors must have dimension {self.dimension}")
        if self.metric == "ip":
            faiss.normalize_L2(arr)  # inner product on unit vectors = cosine
        return arr

    def add(self, vectors: list[list[float]], ids: list[int] | None) -> list[int]:
        arr = self._matrix(vectors)
        with self.lock:
            if ids is None:
                ids = list(range(self.next_id, self.next_id + len(arr)))
            if len(ids) != len(arr):
                raise IndexError_("ids and vectors differ in length")
            id_arr = np.asarray(ids, dtype="int64")
            self.index.remove_ids(id_arr)  # upsert semantics
            self.index.add_with_ids(arr, id_arr)
            self.next_id = max(self.next_id, int(id_arr.max()) + 1)
            self._save()
        return ids

    def search(self, vectors: list[list[float]], k: int) -> list[list[dict[str, float | int]]]:
        arr = self._matrix(vectors)
        with self.lock:
            distances, ids = self.index.search(arr, min(k, max(self.index.ntotal, 1)))
        return [
            [
                {"id": int(i), "distance": float(d)}
                for d, i in zip(drow, irow, strict=True)
                if i != -1
            ]
            for drow, irow in zip(distances, ids, strict=True)
        ]

    def delete(self, ids: list[int]) -> int:
        with self.lock:
            removed = int(self.index.remove_ids(np.asarray(ids, dtype="int64")))
            self._save()
        return removed

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def _save(self) -> None:
        # Write-then-rename: a crash never leaves a half-written index.
        tmp = self.path.with_suffix(".tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, self.path)


class IndexStore:
    def __init__(self, root: Path, dimension: int, metric: str) -> None:
        self.root = root
        self.dimension = dimension
        self.metric = metric
        self.indexes: dict[str, VectorIndex] = {}
        self.lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        for file in sorted(root.glob("*.faiss")):
            self.indexes[file.stem] = VectorIndex(file, dimension, metric)

    def get(self, name: str, create: bool = False) -> VectorIndex | None:
        if not NAME.match(name):
            raise IndexError_("index names are 1-64 of [A-Za-z0-9_-]")
        with self.lock:
            if name not in self.indexes and create:
                self.indexes[name] = VectorIndex(
                    self.root / f"{name}.faiss", self.dimension, self.metric
                )
            return self.indexes.get(name)

    def writable(self) -> bool:
        probe = self.root / ".probe"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError:
            return False
        return True
