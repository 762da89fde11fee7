"""The /docs page: every route of the generated OpenAPI document, as plain HTML.

Rendered from the document flask-openapi3 builds from the pydantic models, so
it cannot drift from it; self-contained (no CDN, no script), because the API
may run where nothing outside is reachable.
"""

from __future__ import annotations

from html import escape
from typing import Any


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page listing every route, its parameters and answers."""
    rows = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            params = ", ".join(
                f"{p['name']}{'*' if p.get('required') else ''}" for p in op.get("parameters", [])
            )
            if "requestBody" in op:
                body = _resolve(
                    document, op["requestBody"]["content"]["application/json"]["schema"]
                )
                fields = ", ".join(
                    f"{name}{'*' if name in body.get('required', []) else ''}"
                    for name in body.get("properties", {})
                )
                params = (params + "; " if params else "") + "JSON body: " + fields
            access = "key: " + ("yes" if op.get("security") else "no")
            codes = ", ".join(op.get("responses", {}))
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(op.get('summary', ''))}</td><td>{escape(params)}</td>"
                f"<td>{access}</td><td>{codes}</td></tr>"
            )
    info = document["info"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(info['title'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style>"
        f"</head><body><h1>{escape(info['title'])} {escape(info['version'])}</h1>"
        f"<p>{escape(info.get('description', ''))} Machine-readable: <a href='/openapi.json'>"
        "/openapi.json</a>. <code>*</code> = required.</p><table><tr><th>method</th>"
        "<th>path</th><th>what</th><th>parameters</th><th>access</th><th>statuses</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
