from __future__ import annotations

import time

import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream


def test_crew_members_work_in_turn(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream
) -> None:
    clean_env.setenv("OLLAMA_BASE_URL", fake_upstream.url)
    clean_env.setenv("CREW_ROLES", "researcher,analyst,writer")
    with TestClient(main.app) as c:
        task_id = c.post("/tasks", json={"goal": "compare vector stores", "max_steps": 5}).json()[
            "task_id"
        ]
        deadline = time.monotonic() + 10
        while (task := c.get(f"/tasks/{task_id}").json())["status"] not in {"completed", "failed"}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert [s["name"] for s in task["steps"]] == ["researcher", "analyst", "writer"]
        prompts = [b["prompt"] for m, p, b in fake_upstream.calls if p == "/api/generate"]
        assert "the crew's analyst" in prompts[1]
        assert task["result"] == task["steps"][-1]["output"]
