"""SutazAI chat frontend."""
