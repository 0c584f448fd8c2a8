"""Pulumi ComponentResources of the SutazAI platform."""
