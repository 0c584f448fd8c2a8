"""AI signals every in-house service exports the same way (Prometheus names in one place).

- LLM calls to Ollama: request latency by model and outcome; time to first token and
  generation speed from the timings Ollama reports with every non-streaming answer
  (`load_duration + prompt_eval_duration` is the time until the first generated token,
  `eval_count` tokens in `eval_duration`; nanoseconds).
- The chat cache: lookups by result (hit, miss, error).
- Vector search latency, by store.

The model label comes from the request, so it is only used as given when Ollama answered it
(an installed model); anything else counts as "other", so no caller can mint label values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

LLM_SECONDS_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
SEARCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
OTHER_MODEL = "other"
_NS = 1e9


class LlmMetrics:
    """Ollama call metrics on one app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "sutazai_llm_request_duration_seconds",
            "LLM request latency, by model and outcome (ok, error, unreachable)",
            ["model", "outcome"],
            buckets=LLM_SECONDS_BUCKETS,
            registry=registry,
        )
        self.first_token = Histogram(
            "sutazai_llm_time_to_first_token_seconds",
            "Time until the first generated token (model load + prompt evaluation)",
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "sutazai_llm_generated_tokens",
            "Tokens the LLM generated",
            ["model"],
            registry=registry,
        )
        self.generation = Counter(
            "sutazai_llm_generation_seconds",
            "Time the LLM spent generating tokens (tokens/s = tokens / this)",
            ["model"],
            registry=registry,
        )

    def observe(
        self, model: str, outcome: str, seconds: float, answer: Mapping[str, Any] | None = None
    ) -> None:
        """One call: `answer` is Ollama's JSON body when it answered 200."""
        label = model if outcome == "ok" else OTHER_MODEL
        self.duration.labels(label, outcome).observe(seconds)
        if answer is None:
            return
        load = _number(answer.get("load_duration"))
        prompt = _number(answer.get("prompt_eval_duration"))
        if load is not None or prompt is not None:
            self.first_token.labels(label).observe(((load or 0) + (prompt or 0)) / _NS)
        tokens = _number(answer.get("eval_count"))
        spent = _number(answer.get("eval_duration"))
        if tokens is not None and spent is not None and spent > 0:
            self.tokens.labels(label).inc(tokens)
            self.generation.labels(label).inc(spent / _NS)


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry, cache: str) -> None:
        self.cache = cache
        self.lookups = Counter(
            "sutazai_chat_cache_lookups",
            "Cache lookups by result (hit, miss, error)",
            ["cache", "result"],
            registry=registry,
        )

    def record(self, result: str) -> None:
        self.lookups.labels(self.cache, result).inc()


class SearchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "sutazai_vector_search_duration_seconds",
            "Vector search latency, by store",
            ["store"],
            buckets=SEARCH_BUCKETS,
            registry=registry,
        )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)
