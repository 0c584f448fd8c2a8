"""Shared runtime of the SutazAI agent services (autogpt, crewai, agentgpt).

An agent is a *strategy* (how it turns a goal into LLM calls) plugged into a
common task API, worker loop, persistence and service contract.
"""

from .app import AgentContext, Strategy, create_agent_app
from .tasks import Task

__all__ = ["AgentContext", "Strategy", "Task", "create_agent_app"]
