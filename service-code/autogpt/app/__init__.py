"""SutazAI autogpt agent (in-house; upstream AutoGPT publishes no runnable image)."""
