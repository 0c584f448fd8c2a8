"""SutazAI FAISS vector index service."""
