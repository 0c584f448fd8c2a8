"""Run a piece of the program under Pulumi's mock runtime and record what it registers.

`run_program(fn)` is the offline plan's own recording run (`stacks.plan.run_program`): a
fresh monitor per call (set_mocks is process-global), engine-shaped inputs, the plan's mock
outputs (`mock-random-<name>` for generated passwords) and secret marking.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pulumi

from stacks import plan as offline_plan
from stacks.plan import Plan, Registration

PROJECT_DIR = Path(__file__).resolve().parents[2]
T = TypeVar("T")


# The offline plan's recording run, reused: same mocks, same engine-shaped records.
Run = Plan
Recorded = Registration


def run_program(
    fn: Callable[[], T],
    *,
    stack: str = "test",
    project: str = "sutazai",
    config: Mapping[str, str] | None = None,
) -> tuple[T, Run]:
    """Run `fn` under fresh mocks; return its result and every registration."""
    return offline_plan.run_program(fn, project=project, stack=stack, config=config)


def resolve(output: pulumi.Input[Any]) -> tuple[Any, bool]:
    """(value, is_secret) of an Output, under the current mocks."""
    out = pulumi.Output.from_input(output)
    result: list[tuple[Any, bool]] = []

    @pulumi.runtime.test
    def read() -> pulumi.Output[None]:
        async def both() -> tuple[Any, bool]:
            return await out.future(), await out.is_secret()

        return pulumi.Output.from_input(both()).apply(lambda pair: result.append(pair))

    read()
    return result[0]


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
