"""SutazAI backup jobs and restore checks (`python -m sutazai_backup <command>`).

* `qdrant-snapshot`: Qdrant's snapshot API per collection, each snapshot streamed to S3
  (SSE-KMS, SHA-256 checked by S3), then deleted from Qdrant's disk; a manifest with every
  collection's point count and digest goes last, so a run without a manifest is incomplete.
* `postgres-heartbeat`: writes a row into `sutazai_backup.heartbeat` (every few hours), so a
  restored database says how recent it is.
* `postgres-verify`: checks a restored database: the newest heartbeat is at least as recent
  as the restore point the operator expected, every table is readable, and every B-tree index
  passes amcheck when the extension is available.

Configuration comes from the environment (see each command's `--help`); secrets from files.
"""
