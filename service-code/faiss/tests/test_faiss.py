from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from app import main
from fastapi.testclient import TestClient


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_env.setenv("FAISS_INDEX_PATH", str(tmp_path / "indices"))
    clean_env.setenv("DIMENSION", "3")
    return tmp_path / "indices"


def test_add_search_delete_and_persist(env: Path) -> None:
    with TestClient(main.app) as c:
        assert c.get("/ready").status_code == 200
        r = c.post("/add", json={"vectors": [[0, 0, 0], [1, 1, 1], [5, 5, 5]]})
        assert r.json() == {"ids": [0, 1, 2], "total": 3}
        hits = c.post("/search", json={"vectors": [[1, 1, 1.1]], "k": 2}).json()["results"][0]
        assert [h["id"] for h in hits] == [1, 0]
        assert (
            c.post("/indices/docs/add", json={"vectors": [[1, 0, 0]], "ids": [42]}).status_code
            == 200
        )
        assert c.post("/delete", json={"ids": [1]}).json() == {"removed": 1, "total": 2}
        metrics = c.get("/metrics").text
        assert 'faiss_index_vectors{index="default"} 2.0' in metrics
        assert 'sutazai_vector_search_duration_seconds_count{store="faiss"} 1.0' in metrics
        assert c.post("/add", json={"vectors": [[1, 2]]}).status_code == 422
        assert c.post("/indices/nope/search", json={"vectors": [[1, 2, 3]]}).status_code == 404
        assert c.post("/indices/bad name/add", json={"vectors": [[1, 2, 3]]}).status_code == 422
    assert sorted(p.name for p in env.iterdir()) == ["default.faiss", "docs.faiss"]
    # A new process sees the persisted indexes and keeps allocating fresh ids.
    with TestClient(main.app) as c:
        assert c.get("/indices").json()["indices"] == {"default": 2, "docs": 1}
        assert c.post("/add", json={"vectors": [[9, 9, 9]]}).json()["ids"] == [3]
        hits = c.post("/indices/docs/search", json={"vectors": [[1, 0, 0]], "k": 5}).json()
        assert hits["results"][0][0]["id"] == 42


def test_not_ready_when_index_storage_is_gone(env: Path) -> None:
    with TestClient(main.app) as c:
        shutil.rmtree(env)  # e.g. the volume went away; root ignores chmod, so remove it
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["down"] == ["index_storage"]
