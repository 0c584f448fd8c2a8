"""Fixtures over the prod plan (run once per session by tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.catalog import Catalog
from stacks.config import StackConfig
from stacks.netpol import Evaluator, Pod
from tests.kubernetes import plan_views


@pytest.fixture(scope="session")
def prod_model() -> tuple[StackConfig, Catalog]:
    return plan_views.stack_model("prod")


@pytest.fixture(scope="session")
def prod_manifests(prod_plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    return plan_views.manifests(prod_plan_json)


@pytest.fixture(scope="session")
def prod_network(prod_manifests: list[dict[str, Any]]) -> tuple[Evaluator, dict[str, Pod]]:
    return plan_views.evaluator(prod_manifests)
