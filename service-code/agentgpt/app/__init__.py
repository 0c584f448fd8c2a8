"""SutazAI agentgpt agent (in-house; upstream AgentGPT is unmaintained)."""
