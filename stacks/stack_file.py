"""Reading a stack file (`Pulumi.<stack>.yaml`) offline, at least as strictly as the CLI.

With the Pulumi CLI, Pulumi parses the stack file itself; the offline tools (`make plan`,
`make policy`) parse it here. Every problem is a `ConfigError` with one line per problem:
a missing file names the stacks that exist, a YAML syntax error gives line, column and the
line itself, a duplicate key or an unknown top-level key is refused, a document that
expands without limit through aliases is refused before it is expanded, and scalars are
read as YAML 1.2 (Pulumi's parser) reads them: `yes`/`on` are strings, `1:30` is no number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stacks.errors import ConfigError

# What a stack file may hold besides `config` (secrets provider settings).
TOP_LEVEL_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt")
# A stack file is a few hundred nodes; a document that expands beyond this through aliases
# ("billion laughs") is refused before anything expands it.
MAX_EXPANDED_NODES = 50_000
MAX_FILE_BYTES = 1_000_000


class _StackFileLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars and no duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise ConstructorError(
                    None, None, "a mapping key must be a plain scalar", key_node.start_mark
                )
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first}); each key appears once",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _yaml12_resolvers() -> None:
    resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag not in _REPLACED]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _StackFileLoader.yaml_implicit_resolvers = resolvers
    _StackFileLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    _StackFileLoader.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"),
    )
    _StackFileLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )


# YAML 1.1 scalars that YAML 1.2 (Pulumi's parser) reads as strings are replaced; timestamps
# (an unquoted 2030-01-01T00:00:00Z) stay strings, as Pulumi hands them to the program.
_REPLACED = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
_yaml12_resolvers()


def _construct_decimal_int(loader: _StackFileLoader, node: ScalarNode) -> int:
    value = str(loader.construct_scalar(node))
    return int(value, 16) if value.startswith("0x") else int(value, 10)


_StackFileLoader.add_constructor("tag:yaml.org,2002:int", _construct_decimal_int)


def expanded_size(root: Node) -> int:
    """How many nodes the document has once every alias is expanded.

    Aliases share nodes, so this is counted over the node graph with memoisation; it stops
    as soon as the count passes MAX_EXPANDED_NODES. A node that contains itself is refused.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in visiting:
            raise ValueError("an alias refers to the node that contains it (a cycle)")
        visiting.add(id(node))
        total = 1
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                break
        visiting.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root)


def load_yaml(path: Path, text: str) -> Any:
    """Parse one YAML document strictly; every problem a one-line ConfigError."""
    shown = display_path(path)
    loader = _StackFileLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            size = expanded_size(node)
        except ValueError as error:
            raise ConfigError(shown, [f"{shown}: refused: {error}"]) from None
        if size > MAX_EXPANDED_NODES:
            raise ConfigError(
                shown,
                [
                    f"{shown}: refused: its aliases expand to more than {MAX_EXPANDED_NODES} "
                    "values (a stack file has a few hundred); write the values out"
                ],
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(shown, [_syntax_problem(shown, text, error)]) from None
    except yaml.YAMLError as error:
        raise ConfigError(shown, [f"{shown}: not valid YAML: {error}"]) from None
    except RecursionError:
        raise ConfigError(shown, [f"{shown}: refused: nested too deeply"]) from None
    finally:
        loader.dispose()


def _syntax_problem(shown: str, text: str, error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    problem = " ".join(part for part in (error.context, error.problem) if part) or "not valid YAML"
    if mark is None:
        return f"{shown}: {problem}"
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    return f"{shown}:{mark.line + 1}:{mark.column + 1}: {problem}: {line.strip()!r}"


def existing_stacks(project_dir: Path) -> list[str]:
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")]
        for p in project_dir.glob("Pulumi.*.yaml")
        if p.is_file()
    )


def read_stack_file(path: Path, project_dir: Path) -> dict[str, Any]:
    """The `config` mapping of a stack file ({} when it has none), read strictly."""
    shown = display_path(path)
    if not path.is_file():
        stacks = ", ".join(existing_stacks(project_dir)) or "none"
        raise ConfigError(
            shown,
            [f"{shown}: no such stack file. Stacks with a file in {project_dir}: {stacks}"],
        )
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            shown, [f"{shown}: refused: {len(data)} bytes; a stack file is a few kilobytes"]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(shown, [f"{shown}: not UTF-8 text ({error.reason})"]) from None
    document = load_yaml(path, text)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            shown,
            [f"{shown}: a stack file is a mapping with a 'config' key, got a {_kind(document)}"],
        )
    problems: list[str] = []
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            problems.append(
                f"{shown}: unknown top-level key {key!r}; allowed: {', '.join(TOP_LEVEL_KEYS)}"
            )
    config = document.get("config")
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        problems.append(f"{shown}: 'config' is a mapping of keys to values, got a {_kind(config)}")
        config = {}
    for key, value in config.items():
        if not isinstance(key, str):
            problems.append(f"{shown}: config key {key!r} is not a string")
            continue
        odd = _not_plain(value)
        if odd is not None:
            problems.append(
                f"{shown}: {key}: a {odd} is not a config value (strings, numbers, booleans, "
                "lists and mappings are)"
            )
    if problems:
        raise ConfigError(shown, problems)
    return config


def _not_plain(value: object) -> str | None:
    """The type name of the first value that is no plain JSON-like value (!!binary, !!set)."""
    if value is None or isinstance(value, str | bool | int | float):
        return None
    if isinstance(value, list):
        return next((t for t in map(_not_plain, value) if t is not None), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{type(key).__name__} key"
            found = _not_plain(item)
            if found is not None:
                return found
        return None
    return type(value).__name__


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
