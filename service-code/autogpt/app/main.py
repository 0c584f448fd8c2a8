"""AutoGPT-style agent: an autonomous think/act loop until the model answers
``FINAL:`` or ``max_steps`` is reached, then a summary."""

from __future__ import annotations

from agent_runtime import AgentContext, create_agent_app


async def autonomous_loop(ctx: AgentContext) -> str:
    history: list[str] = []
    for i in range(ctx.task.max_steps):
        done = "\n".join(f"{n + 1}. {h}" for n, h in enumerate(history)) or "(none)"
        out = await ctx.llm(
            "You are AutoGPT, an autonomous agent.\n"
            f"Goal: {ctx.task.goal}\n"
            f"Actions so far:\n{done}\n"
            "Decide the single next action and carry it out, answering with its result. "
            "If the goal is achieved, answer 'FINAL: <answer>'."
        )
        if out.upper().startswith("FINAL:"):
            await ctx.step("final", out)
            return out[len("FINAL:") :].strip()
        await ctx.step(f"action {i + 1}", out)
        history.append(out)
    return await ctx.llm(
        f"Goal: {ctx.task.goal}\nWork done:\n"
        + "\n".join(history)
        + "\nWrite the final answer to the goal."
    )


app = create_agent_app("autogpt", autonomous_loop, description=__doc__ or "")
