"""AgentGPT-style agent: plan the goal into a task list, execute each task,
then summarise. Tasks are stored in PostgreSQL and queued in Redis Streams,
so they survive restarts and spread over replicas."""

from __future__ import annotations

from agent_runtime import AgentContext, create_agent_app
from agent_runtime.plans import parse_list


async def plan_and_execute(ctx: AgentContext) -> str:
    plan = await ctx.llm(
        "You are AgentGPT. Break the goal into at most "
        f"{ctx.task.max_steps} concrete tasks, one per numbered line.\nGoal: {ctx.task.goal}"
    )
    tasks = parse_list(plan, ctx.task.max_steps)
    await ctx.step("plan", "\n".join(f"{i + 1}. {t}" for i, t in enumerate(tasks)))
    results: list[str] = []
    for i, item in enumerate(tasks):
        out = await ctx.llm(
            f"Goal: {ctx.task.goal}\nExecute this task and report the result: {item}"
        )
        await ctx.step(f"task {i + 1}", out)
        results.append(out)
    return await ctx.llm(
        f"Goal: {ctx.task.goal}\nTask results:\n"
        + "\n".join(results)
        + "\nSummarise the outcome as the final answer."
    )


app = create_agent_app("agentgpt", plan_and_execute, description=__doc__ or "", durable=True)
