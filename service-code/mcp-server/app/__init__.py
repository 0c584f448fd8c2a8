"""SutazAI MCP server: HTTP bridge to platform services."""
