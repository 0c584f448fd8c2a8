"""Server-side HTTP forwarding shared by the proxy-style services."""

from __future__ import annotations

import httpx
from fastapi import Request, Response

# RFC 7230 hop-by-hop headers plus ones httpx recomputes.
_DROP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
}


def _headers(items: httpx.Headers | dict[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    pairs = items.items() if not isinstance(items, list) else items
    return {k: v for k, v in pairs if k.lower() not in _DROP}


async def forward(client: httpx.AsyncClient, request: Request, target_url: str) -> Response:
    """Send ``request`` to ``target_url`` and relay the answer (buffered)."""
    body = await request.body()
    if request.url.query:
        target_url = f"{target_url}?{request.url.query}"
    try:
        upstream = await client.request(
            request.method,
            target_url,
            content=body,
            headers=_headers(list(request.headers.items())),
        )
    except httpx.HTTPError as exc:
        return Response(
            content=f'{{"detail":"upstream unreachable: {type(exc).__name__}"}}',
            status_code=502,
            media_type="application/json",
        )
    return Response(
        content=upstream.content,
        status_code=upstream.status_code,
        headers=_headers(upstream.headers),
    )
