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


async def forward(
    client: httpx.AsyncClient,
    request: Request,
    target_url: str,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """Send ``request`` to ``target_url`` and relay the answer (buffered); ``extra_headers``
    replace the request's headers of the same name."""
    body = await request.body()
    if request.url.query:
        target_url = f"{target_url}?{request.url.query}"
    headers = _headers(list(request.headers.items()))
    if extra_headers:
        replaced = {k.lower() for k in extra_headers}
        headers = {k: v for k, v in headers.items() if k.lower() not in replaced}
        headers.update(extra_headers)
    try:
        upstream = await client.request(
            request.method,
            target_url,
            content=body,
            headers=headers,
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
