"""The architecture diagram, drawn from the catalog (never by hand).

`python -m stacks.generated_docs --write` (make docs) writes it to docs/architecture.md.
"""

from __future__ import annotations

from pathlib import Path

from stacks.catalog import Catalog, Tier

DIAGRAM = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def _node(name: str) -> str:
    return name.replace("-", "_")


def render(catalog: Catalog) -> str:
    lines = [
        "# SutazAI architecture (generated from stacks/catalog.yaml)",
        "",
        "Solid arrows are `talks_to` edges; dotted arrows are the network flows they become",
        "where a pooler stands in between. Regenerate with `make docs`.",
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


if __name__ == "__main__":
    # `python -m stacks.diagram`: the diagram of this tree's catalog (the plan diff runs it
    # in the base tree and in the working tree).
    from stacks.catalog import load_catalog

    print(render(load_catalog()), end="")
