from __future__ import annotations

import time

import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream


def test_autonomous_loop_runs_max_steps_then_summarises(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream
) -> None:
    clean_env.setenv("OLLAMA_BASE_URL", fake_upstream.url)
    with TestClient(main.app) as c:
        assert c.get("/agent").json()["name"] == "autogpt"
        assert c.get("/ready").status_code == 200
        task_id = c.post("/tasks", json={"goal": "write a haiku", "max_steps": 2}).json()["task_id"]
        deadline = time.monotonic() + 10
        while (task := c.get(f"/tasks/{task_id}").json())["status"] not in {"completed", "failed"}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert task["status"] == "completed"
        assert [s["name"] for s in task["steps"]] == ["action 1", "action 2"]
        assert fake_upstream.count("POST", "/api/generate") == 3
        assert "write a haiku" in task["result"] or task["result"].startswith("echo:")
