"""Vault pieces behind `components.secrets.Secrets`.

- `layout`: the pure plan (paths, files, env, policies) derived from the catalog; no resources.
- `provisioning`: server-side credential files (PostgreSQL roles, Redis ACL, Neo4j users).
- `injector`: the hardened Vault Agent injector (vault-k8s) for Kubernetes.
- `server`: the dev-only Vault server container for a local Docker engine.
"""
