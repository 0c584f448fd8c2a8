"""Stack-level code: the config model, the service catalog, the composition and stack tooling."""
