"""An in-memory Pulumi backend for the ephemeral-stack and sweeper tests."""

from __future__ import annotations

from typing import Any

from stacks.ephemeral import PulumiError


class FakePulumi:
    """An in-memory backend with stacks, tags and config, recording every mutation."""

    def __init__(self) -> None:
        self.stacks: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.fail_on: set[tuple[str, str]] = set()

    def add(
        self, name: str, tags: dict[str, str] | None = None, config: dict[str, str] | None = None
    ) -> None:
        self.stacks[name] = {"tags": dict(tags or {}), "config": dict(config or {}), "res": 5}

    def _check(self, op: str, stack: str) -> None:
        if (op, stack) in self.fail_on:
            raise PulumiError(f"{op} {stack} failed")

    def list_stacks(self) -> list[tuple[str, int | None]]:
        self._check("ls", "*")
        return [(n, s["res"]) for n, s in self.stacks.items()]

    def stack_tags(self, stack: str) -> dict[str, str]:
        return dict(self.stacks[stack]["tags"])

    def stack_config(self, stack: str) -> dict[str, str]:
        self.calls.append(("config", stack))
        return dict(self.stacks[stack]["config"])

    def init_stack(self, stack: str, copy_config_from: str) -> None:
        self.calls.append(("init", stack, copy_config_from))
        self._check("init", stack)
        self.add(stack, {}, self.stacks[copy_config_from]["config"])
        self.stacks[stack]["res"] = 0

    def set_config(self, stack: str, key: str, value: str) -> None:
        self.calls.append(("config-set", stack, key, value))
        self._check("config-set", stack)
        self.stacks[stack]["config"][key] = value

    def remove_config(self, stack: str, key: str) -> None:
        self.calls.append(("config-rm", stack, key))
        self._check("config-rm", stack)
        self.stacks[stack]["config"].pop(key, None)

    def set_tag(self, stack: str, name: str, value: str) -> None:
        self.calls.append(("tag-set", stack, name, value))
        self._check("tag-set", stack)
        self.stacks[stack]["tags"][name] = value

    def destroy(self, stack: str) -> None:
        self.calls.append(("destroy", stack))
        self._check("destroy", stack)
        self.stacks[stack]["res"] = 0

    def remove_stack(self, stack: str) -> None:
        self.calls.append(("rm", stack))
        self._check("rm", stack)
        del self.stacks[stack]

    def mutations(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] != "config"]
