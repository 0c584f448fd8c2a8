"""SutazAI backend: the platform's API gateway."""
