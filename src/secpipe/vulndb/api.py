"""OSV's query API served from secpipe's database, for OSV clients in air-gapped networks.

    POST /v1/query       {"package": {"name", "ecosystem"} | {"purl"}, "version"}
                         -> {"vulns": [whole OSV records]}   ({} when none, as api.osv.dev)
    POST /v1/querybatch  {"queries": [query, ...]}  (at most 1000)
                         -> {"results": [{"vulns": [{"id", "modified"}]} | {}, ...]}
    GET  /v1/vulns/{id}  -> the OSV record (an alias finds it too)

Mounted on the hub beside its own routes (`create_app(..., extra_routes=routes(db))`). They
need an authenticated caller (SigV4 or the hub's bearer token, any role) like every hub route:
unauthenticated batch queries used to starve the hub's workers. `routes(db, public=True)`
(`secpipe hub serve --public-osv`) opens them to OSV clients that cannot authenticate
(pip-audit's `--osv-url`, osv-scanner); they only ever read public advisory data, never
findings. Either way each call is rate limited (per principal, or per source address when
public) and is matched in a worker process of its own, one call at a time (the hub's `osv`
pool), so a flood of batches cannot delay the hub's own queries (`secpipe.vulndb.worker`,
`secpipe.hub.api.isolation`). Auth and rate-limit refusals use the
hub's error shape (x-amzn-ErrorType, {"Code", "Message"}).
Versions are compared with the same rules as the matcher. A database holding no advisory for
the queried ecosystem answers 503 instead of "no vulnerabilities", so a client fails loudly
rather than passing on an empty database. Errors use api.osv.dev's shape: {"code", "message"}.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from secpipe.vulndb.ecosystems import (Package, UnsupportedPurl, base_of, canonical,
                                       package_from_purl, release_of)
from secpipe.vulndb.matcher import Matcher
from secpipe.vulndb.errors import QueryError
from secpipe.vulndb.store import VulnDB, VulnDBError

MAX_BODY = 4 * 1024 * 1024
MAX_BATCH = 1000
# gRPC status codes, as api.osv.dev's gateway answers them
INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAVAILABLE = 3, 5, 7, 14


def _error(exc: QueryError) -> JSONResponse:
    return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status)


async def _body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise QueryError(413, INVALID_ARGUMENT, f"request body larger than {MAX_BODY} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise QueryError(413, INVALID_ARGUMENT, f"request body larger than {MAX_BODY} bytes")
    try:
        return json.loads(bytes(data) or b"{}")
    except (ValueError, RecursionError) as exc:
        raise QueryError(400, INVALID_ARGUMENT, f"the body is not JSON: {exc}") from None


def parse_query(query: Any) -> Package:
    """An OSV query as the Package the matcher looks up; QueryError when it is not one."""
    if not isinstance(query, Mapping):
        raise QueryError(400, INVALID_ARGUMENT, "a query must be a JSON object")
    if query.get("commit"):
        raise QueryError(400, INVALID_ARGUMENT, "commit queries are not supported by this "
                         "server (it has no repository data); query a package and version")
    pkg = query.get("package")
    version = query.get("version", "")
    if not isinstance(pkg, Mapping) or not isinstance(version, str):
        raise QueryError(400, INVALID_ARGUMENT, "expected {\"package\": {\"name\", "
                         "\"ecosystem\"} or {\"purl\"}, \"version\": string}")
    purl = pkg.get("purl")
    if isinstance(purl, str) and purl.strip():
        try:
            found = package_from_purl(purl.strip())
        except UnsupportedPurl as exc:
            raise QueryError(400, INVALID_ARGUMENT, str(exc)) from None
        except ValueError as exc:
            raise QueryError(400, INVALID_ARGUMENT, f"invalid purl: {exc}") from None
        if found.version and version:
            raise QueryError(400, INVALID_ARGUMENT, "version specified in params and PURL query")
        if version:
            found = replace(found, version=version.strip())
        return found
    name, ecosystem = pkg.get("name"), pkg.get("ecosystem")
    if not isinstance(name, str) or not name.strip() or not isinstance(ecosystem, str) \
            or not ecosystem.strip():
        raise QueryError(400, INVALID_ARGUMENT, "package needs a name and an ecosystem, or a purl")
    base = base_of(ecosystem)
    version = version.strip()
    if base == "go" and version.startswith("v"):
        version = version[1:]
    return Package(purl="", base=base, name=name.strip(), version=version,
                   release=release_of(ecosystem))


class OsvApi:
    """The three handlers over one database (opened lazily, shared by all requests)."""

    def __init__(self, db: VulnDB | str | Path | None = None, *, public: bool = False,
                 processes: bool = True) -> None:
        self.db = db if isinstance(db, VulnDB) else VulnDB(db)
        self.matcher = Matcher(self.db)
        self.public = public
        self.runner = None
        if processes:      # matching runs in a worker process (see secpipe.vulndb.worker)
            from secpipe.vulndb.worker import ProcessRunner
            self.runner = ProcessRunner(self.db.path, worker_call)

    async def _admit(self, request: Request, body: bool = True) -> Any:
        """Authenticate (unless public) and charge the rate limit; the parsed body."""
        from secpipe.hub.api import isolation
        from secpipe.hub.api.endpoint import authenticate_and_admit

        if self.public:
            limiter = isolation.of(request)
            if limiter is not None:
                limiter.admit_address(request)
            return await _body(request) if body else None
        if getattr(request.app.state, "authenticator", None) is None:
            raise QueryError(403, PERMISSION_DENIED, "this server has no authenticator: mount "
                             "the OSV routes on the hub, or with public=True")
        _caller, raw = await authenticate_and_admit(request, bearer=True)
        if not body:
            return None
        if len(raw) > MAX_BODY:
            raise QueryError(413, INVALID_ARGUMENT, f"request body larger than {MAX_BODY} bytes")
        try:
            return json.loads(raw or b"{}")
        except (ValueError, RecursionError) as exc:
            raise QueryError(400, INVALID_ARGUMENT, f"the body is not JSON: {exc}") from None

    async def _serve(self, request: Request, fn: Any, body: bool = True) -> JSONResponse:
        from secpipe.hub.api import isolation
        from secpipe.hub.api.errors import hub_error_response
        from secpipe.hub.interface import HubError

        try:
            arg = await self._admit(request, body)
            if not body:
                arg = request.path_params["vuln_id"]
            if self.runner is None:
                return JSONResponse(await isolation.run_for(request, fn, arg))
            limiter = isolation.of(request)
            if limiter is None:
                return JSONResponse(await self.runner.call(fn.__name__, arg))
            async with limiter.pool("osv"):     # one call at a time; the rest wait here
                return JSONResponse(await self.runner.call(fn.__name__, arg))
        except QueryError as exc:
            return _error(exc)
        except VulnDBError as exc:
            return _error(QueryError(503, UNAVAILABLE, str(exc)))
        except HubError as err:          # authentication, rate limit
            return hub_error_response(err, request)

    def _check_loaded(self, pkg: Package) -> None:
        if not self.db.has_ecosystem(pkg.base):
            raise QueryError(503, UNAVAILABLE, f"this server's vulnerability DB has no "
                             f"advisories for {canonical(pkg.base)}: run `secpipe db import` "
                             "or `secpipe db update` on it (an empty DB is not \"no vulns\")")

    def _ids(self, query: Any) -> list[str]:
        pkg = parse_query(query)
        self._check_loaded(pkg)
        return self.matcher.query(pkg)

    def query_one(self, query: Any) -> dict[str, Any]:
        ids = self._ids(query)
        records = self.db.records(ids)
        vulns = [records[i] for i in ids if i in records]
        return {"vulns": vulns} if vulns else {}

    def query_batch(self, body: Any) -> dict[str, Any]:
        queries = body.get("queries") if isinstance(body, Mapping) else None
        if not isinstance(queries, list):
            raise QueryError(400, INVALID_ARGUMENT, "expected {\"queries\": [...]}")
        if len(queries) > MAX_BATCH:
            raise QueryError(400, INVALID_ARGUMENT, f"at most {MAX_BATCH} queries per batch")
        results = []
        for query in queries:
            ids = self._ids(query)
            meta = self.db.advisories_by_id(ids)
            vulns = [{"id": i, "modified": meta[i]["modified"]} for i in ids if i in meta]
            results.append({"vulns": vulns} if vulns else {})
        return {"results": results}

    def get_vuln(self, ident: str) -> dict[str, Any]:
        ids = self.db.resolve_alias(ident) if self.db.path.exists() else []
        records = self.db.records(ids[:1])
        if not records:
            raise QueryError(404, NOT_FOUND, "Bug not found.")
        return next(iter(records.values()))

    # --- Starlette endpoints --------------------------------------------------------------

    async def query(self, request: Request) -> JSONResponse:
        return await self._serve(request, self.query_one)

    async def querybatch(self, request: Request) -> JSONResponse:
        return await self._serve(request, self.query_batch)

    async def vuln(self, request: Request) -> JSONResponse:
        return await self._serve(request, self.get_vuln, body=False)


def routes(db: VulnDB | str | Path | None = None, *, public: bool = False) -> list[Route]:
    """The OSV routes over `db` (default: the user's database); `public` drops the need
    for credentials (OSV clients cannot sign requests)."""
    api = OsvApi(db, public=public)
    return [
        Route("/v1/query", api.query, methods=["POST"]),
        Route("/v1/querybatch", api.querybatch, methods=["POST"]),
        Route("/v1/vulns/{vuln_id}", api.vuln, methods=["GET"]),
    ]


__all__ = ["OsvApi", "QueryError", "parse_query", "routes"]


_APIS: dict[str, "OsvApi"] = {}      # in the OSV worker process: one OsvApi per database path


def worker_call(db_path: str, method: str, arg: Any) -> tuple[Any, ...]:
    """Runs in the OSV worker process (secpipe.vulndb.worker): ("ok", result) or the error's
    parts (exceptions with custom constructors do not survive pickling, so they travel as
    tuples)."""
    api = _APIS.get(db_path)
    if api is None:
        api = _APIS[db_path] = OsvApi(db_path, public=True, processes=False)
    try:
        return ("ok", getattr(api, method)(arg))
    except QueryError as exc:
        return ("query", exc.status, exc.code, exc.message)
    except VulnDBError as exc:
        return ("db", str(exc))
