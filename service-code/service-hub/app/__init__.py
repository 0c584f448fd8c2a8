"""SutazAI service hub: fan-out proxy."""
