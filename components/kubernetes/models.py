"""Ollama model preload: an init container per replica pulls `ollamaModels` into its volume.

Why an init container (and not a postStart hook or a Job): each Ollama replica has its own
PVC for /models (ReadWriteOnce), so the pull must run in that pod, before the server takes
traffic. A postStart hook races the server's start, kills the container when it fails and
hides its output; a Job cannot mount another pod's RWO volume. The init container starts a
private `ollama serve` on 127.0.0.1, pulls each model (a no-op for layers already on the
volume, so restarts are cheap), stops the server and exits; the main container then starts
with the models in place. It is rendered by the same code as every container: same uid/gid,
read-only root, no capabilities, the same writable paths and volume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.kubernetes.workloads import init_container
from stacks.catalog import ServiceSpec

PRELOAD_CONTAINER = "preload-models"

# Models are passed as positional arguments ("$@"), never spliced into the script.
PRELOAD_SCRIPT = """set -eu
OLLAMA_HOST=127.0.0.1:11434 ollama serve >/tmp/ollama-preload.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
tries=0
until OLLAMA_HOST=127.0.0.1:11434 ollama list >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 90 ]; then cat /tmp/ollama-preload.log >&2; exit 1; fi
  sleep 2
done
for model in "$@"; do
  echo "pulling $model"
  OLLAMA_HOST=127.0.0.1:11434 ollama pull "$model"
done
"""


def model_preload(
    spec: ServiceSpec,
    image: pulumi.Input[str],
    models: Sequence[str],
    env: Mapping[str, pulumi.Input[str]],
) -> dict[str, Any]:
    r = spec.resources
    return init_container(
        spec,
        PRELOAD_CONTAINER,
        image,
        ["/bin/sh", "-c", PRELOAD_SCRIPT, PRELOAD_CONTAINER, *models],
        # The model store and HOME (the Ollama key) come from the service's own env.
        {k: v for k, v in env.items() if k in ("HOME", "OLLAMA_MODELS", "OLLAMA_KEEP_ALIVE")},
        {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
        },
    )
