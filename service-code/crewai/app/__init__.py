"""SutazAI crewai agent (in-house crew of role-playing LLM agents)."""
