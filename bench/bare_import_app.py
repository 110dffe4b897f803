"""The physical limit `bench/hub_http.py` compares the hub's HTTP import against: a bare
ASGI endpoint under the same uvicorn, with the same number of worker processes, that reads a
BatchImportFindings request, parses its JSON and answers a Security Hub-shaped success, and
does nothing else (no SigV4, no checks, no database).

    python -m uvicorn bare_import_app:app --app-dir bench --workers 2 --port 8444
"""

from __future__ import annotations

import json


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    findings = json.loads(body or b"{}").get("Findings") or []
    answer = json.dumps({"FailedCount": 0, "SuccessCount": len(findings),
                         "FailedFindings": []}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})
