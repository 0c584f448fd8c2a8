"""SutazAI health monitor."""
