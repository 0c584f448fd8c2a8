"""Run a piece of the program under Pulumi's mock runtime and record what it registers.

`run_program(fn)` installs a fresh recording monitor (set_mocks is process-global, so each
call replaces the previous one), runs `fn` inside `@pulumi.runtime.test` and returns its
result with the registrations: engine-shaped inputs (camelCase, secret envelopes), as
`stacks.plan` records them, with the offline plan's own mock outputs (`mock-random-<name>`
for generated passwords) and its marking of `additional_secret_outputs`.

`run_plan_subprocess(stack, out)` runs the whole program for a real stack file in a fresh
interpreter, writing the plan JSON where the caller says (never build/, which other tests
also write).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings

from stacks import plan as offline_plan

PROJECT_DIR = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@dataclass
class Recorded:
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    protect: bool
    dependencies: list[str]
    additional_secret_outputs: list[str]
    ignore_changes: list[str]
    inputs: dict[str, Any]


@dataclass
class Run:
    resources: list[Recorded] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Recorded:
        matches = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(matches) != 1:
            raise AssertionError(f"{len(matches)} resources of type {type_} named {name}")
        return matches[0]

    def by_urn(self, urn: str) -> Recorded:
        return next(r for r in self.resources if r.urn == urn)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        return f"{args.name}-id", offline_plan._mock_outputs(args.typ, args.name, args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return offline_plan._mock_invoke(args.token, args.args), None


def run_program(
    fn: Callable[[], T],
    *,
    stack: str = "test",
    project: str = "sutazai",
    config: Mapping[str, str] | None = None,
) -> tuple[T, Run]:
    """Run `fn` under fresh mocks; return its result and every registration."""
    run = Run()

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            offline_plan._mark_secret_outputs(response, list(request.additionalSecretOutputs))
            if request.type != "pulumi:pulumi:Stack":
                run.resources.append(
                    Recorded(
                        urn=response.urn,
                        type=request.type,
                        name=request.name,
                        parent=request.parent,
                        provider=request.provider,
                        protect=bool(request.protect) if request.HasField("protect") else False,
                        dependencies=list(request.dependencies),
                        additional_secret_outputs=list(request.additionalSecretOutputs),
                        ignore_changes=list(request.ignoreChanges),
                        inputs=json_format.MessageToDict(request.object),
                    )
                )
            return response

    pulumi.runtime.set_all_config(dict(config or {}), [])
    pulumi.runtime.set_mocks(
        _Mocks(), project=project, stack=stack, preview=False, monitor=RecordingMonitor(_Mocks())
    )
    box: list[T] = []

    @pulumi.runtime.test
    def program() -> None:
        box.append(fn())

    try:
        program()
    finally:
        settings.reset_options()
    return box[0], run


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


def run_plan_subprocess(
    stack: str, out: Path, *, env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """The whole program for Pulumi.<stack>.yaml in a fresh process, plan JSON to `out`."""
    environment = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return subprocess.run(
        [sys.executable, "-m", "stacks.plan", "--stack", stack, "--json", str(out), "--quiet"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=environment,
    )


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
