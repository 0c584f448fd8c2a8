"""The architecture diagram, drawn from the catalog (never by hand).

python -m stacks.diagram --write   # regenerate docs/architecture.md
python -m stacks.diagram --check   # fail if it is stale (tests run this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stacks.catalog import Catalog, Tier, load_catalog

DIAGRAM = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def _node(name: str) -> str:
    return name.replace("-", "_")


def render(catalog: Catalog) -> str:
    lines = [
        "# SutazAI architecture (generated from stacks/catalog.yaml)",
        "",
        "Solid arrows are `talks_to` edges; dotted arrows are the network flows they become",
        "where a pooler stands in between. Regenerate with `python -m stacks.diagram --write`.",
        "",
        "```mermaid",
        "graph TD",
    ]
    for tier in Tier:
        specs = catalog.tier(tier)
        if not specs:
            continue
        lines.append(
            f'    subgraph {tier.value}["{tier.value} tier ({specs[0].segment.value} network)"]'
        )
        for spec in specs:
            source = "in-house" if spec.in_house else "upstream"
            lines.append(f'        {_node(spec.name)}["{spec.name}<br/>{source}"]')
        lines.append("    end")
    for source, target in catalog.logical_edges:
        lines.append(f"    {_node(source)} --> {_node(target)}")
    logical = set(catalog.logical_edges)
    for edge in sorted({(e.source, e.target) for e in catalog.network_edges} - logical):
        lines.append(f"    {_node(edge[0])} -.-> {_node(edge[1])}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    options = parser.parse_args(argv)
    wanted = render(load_catalog())
    if options.write:
        DIAGRAM.write_text(wanted)
        return 0
    if not DIAGRAM.exists() or DIAGRAM.read_text() != wanted:
        print(
            "docs/architecture.md is stale; run python -m stacks.diagram --write", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
