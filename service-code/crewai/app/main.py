"""CrewAI-style agent: a crew of roles (``CREW_ROLES``, default
researcher,writer,reviewer) works on the goal in turn, each building on the
previous member's output; the last member's output is the answer."""

from __future__ import annotations

from agent_runtime import AgentContext, create_agent_app
from sutazai_common.config import env_list

ROLE_BRIEFS = {
    "researcher": "Collect the facts, constraints and open questions the goal involves.",
    "writer": "Write a clear, complete answer to the goal from the material you are given.",
    "reviewer": "Check the draft for errors and gaps and return the corrected final version.",
}


def crew() -> list[str]:
    return env_list("CREW_ROLES") or ["researcher", "writer", "reviewer"]


async def run_crew(ctx: AgentContext) -> str:
    material = ""
    for role in crew()[: ctx.task.max_steps]:
        brief = ROLE_BRIEFS.get(role, f"Contribute to the goal as the crew's {role}.")
        material = await ctx.llm(
            f"You are the {role} of a crew. {brief}\n"
            f"Goal: {ctx.task.goal}\n"
            f"Material from the previous crew member:\n{material or '(none)'}"
        )
        await ctx.step(role, material)
    return material


app = create_agent_app("crewai", run_crew, description=__doc__ or "")
