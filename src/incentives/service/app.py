"""The HTTP API: versioned routes over the public library API, errors as problem+json.

Every answer carries ``X-Rulebook-Hash``: the hash of the rulebook that answered (a request keeps the
rulebook it started with across a reload). Request bodies above ``max_body`` bytes get 413, requests
running longer than ``timeout`` seconds get 503, and CORS is off unless origins are given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from incentives import (Assessment, Enterprise, FactsError, IncentivesError, Rulebook, SourceError, __version__, assess,
                        default_rules, load_enterprise)
from incentives import _yaml
from incentives.divisions import Level
from incentives.errors import Location
from incentives.explain import Explanation, explanation
from incentives.facts import enterprise_from_document
from incentives.readings import parse_choices
from incentives.schemas import schema
from incentives.service import policies as policy_library
from incentives.service.live import Loaded, LiveRulebook
from incentives.service.models import (BatchLine, BatchResult, Health, Policies, Reloaded, RuleFileInfo,
                                       RulebookInfo)
from incentives.service.problems import MEDIA_TYPE, Problem, from_error, from_validation, plain

BODY = "<body>"
T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class Limits:
    max_body: int = 1 << 20          # bytes of a request body
    max_batch: int = 1000            # lines of a /v1/batch body
    timeout: float = 10.0            # seconds a request may compute


def create_app(rules: str | Path | None = None, *, limits: Limits = Limits(), cors_origins: tuple[str, ...] = (),
               admin_token: str | None = None, pages: bool = True, ledger: str | None = None) -> FastAPI:
    """The service over the rulebook at ``rules`` (default: ``rules/`` here, else the shipped one)."""
    live = LiveRulebook(rules if rules is not None else default_rules())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hup = hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread()
        if hup:   # SIGHUP reloads the rules in a thread while requests go on
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload_logged(live)))
        yield
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)

    app = FastAPI(title="incentives", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None,
                  description="惠企政策 as cited, exact rules: assess an enterprise's facts against the rulebook.")
    app.state.live = live
    app.state.limits = limits
    _errors(app)
    compute = _routes(app, live, limits, admin_token)
    if ledger:   # entitlements owed, confirmed and paid over time
        from incentives.service import entitlements

        entitlements.mount(app, live, ledger, compute)
    if pages:   # the 政策计算器, the policy library and the budget page
        from incentives.service import web

        web.mount(app, live)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization"], expose_headers=["X-Rulebook-Hash"])
    app.add_middleware(_Guard, live=live, max_body=limits.max_body)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _reload_logged(live: LiveRulebook) -> None:
    try:
        loaded = await run_in_threadpool(live.reload)
    except IncentivesError as e:
        print(f"incentives serve: reload failed, still serving {live.current.book.hash}: {e}", file=sys.stderr)
        return
    print(f"incentives serve: reloaded {loaded.book.hash}", file=sys.stderr)


# ------------------------------------------------------------------------------------------ routes
def _routes(app: FastAPI, live: LiveRulebook, limits: Limits,
            admin_token: str | None) -> Callable[[Request, Callable[[Loaded], Any]], Awaitable[Any]]:
    async def compute(request: Request, fn: Callable[[Loaded], T], reading: list[str] | None = None) -> T:
        loaded = live.current                 # read once: this request uses this rulebook to the end
        request.state.rulebook_hash = loaded.book.hash
        with anyio.fail_after(limits.timeout):
            if reading:                       # the served rules read another way (kept by the rulebook)
                book = await run_in_threadpool(loaded.book.with_readings, parse_choices(reading, "query.reading"))
                loaded = dataclasses.replace(loaded, book=book)
                request.state.rulebook_hash = book.hash
            return await run_in_threadpool(fn, loaded)

    readings = Query(default=[], description="id=option: an option of a rule file's readings instead of its "
                                             "default (repeatable), e.g. sjz.little_giant.key_little_giant=rewarded")

    @app.post("/v1/assess", response_model=Assessment, tags=["assess"],
              summary="Every award an enterprise is owed, and why not the rest",
              description="The body is a fact file, as JSON or (Content-Type: application/yaml) as YAML "
                          "(`incentives schema facts`); the answer is the JSON of `incentives evaluate --format json` "
                          "(`incentives schema assessment`).")
    async def assess_route(request: Request, as_of: dt.date | None = None,
                           engine: Literal["native", "durable"] = "native",
                           reading: list[str] = readings) -> Response:
        body, yaml_body = await request.body(), _is_yaml(request)
        result = await compute(request, lambda lo: assess(_placed(body, lo.book, yaml_body), lo.book, as_of,
                                                          engine=engine), reading)
        return Response(result.model_dump_json(), media_type="application/json")

    @app.post("/v1/explain", response_model=Explanation, tags=["assess"],
              summary="One rule for one enterprise: the clause, each check, the verdict")
    async def explain_route(request: Request, rule: str = Query(description="rule id, e.g. lf.digital_pilot"),
                            as_of: dt.date | None = None, reading: list[str] = readings) -> Response:
        body, yaml_body = await request.body(), _is_yaml(request)
        result = await compute(request, lambda lo: explanation(_placed(body, lo.book, yaml_body), lo.book, rule,
                                                               as_of), reading)
        return Response(result.model_dump_json(), media_type="application/json")

    @app.post("/v1/batch", response_model=BatchResult, tags=["assess"],
              summary="A small register: one fact file per line (JSON Lines)",
              description=f"At most {limits.max_batch} lines; a line that cannot be assessed gets its problem, "
                          "located by line, and the others are still assessed.")
    async def batch_route(request: Request, as_of: dt.date | None = None, reading: list[str] = readings) -> Response:
        body = await request.body()
        lines = body.split(b"\n")
        if sum(1 for line in lines if line.strip()) > limits.max_batch:
            raise _Refused(plain(413, "Too many lines", f"a batch holds at most {limits.max_batch} lines", "batch"))
        result = await compute(request, lambda lo: _batch(lines, lo.book, as_of or dt.date.today()), reading)
        return Response(result.model_dump_json(), media_type="application/json")

    @app.get("/v1/policies", response_model=Policies, tags=["rulebook"],
             summary="The policy library: documents and their rules, amounts, payers, departments, deadlines")
    async def policies_route(request: Request, city: str | None = None,
                             level: Level | None = None) -> Response:
        loaded = live.current
        request.state.rulebook_hash = loaded.book.hash
        if city is not None:
            try:
                city = policy_library.place(loaded.book, city)
            except FactsError as e:   # told as any query that does not fit the route
                raise _Refused(from_validation([{"loc": ("query", "city"), "msg": e.message}])) from None
        result = policy_library.policies(loaded.book, city=city, level=level)
        return Response(result.model_dump_json(), media_type="application/json")

    @app.get("/v1/rulebook", response_model=RulebookInfo, tags=["rulebook"],
             summary="The rulebook being served: hash, files, when loaded, the last failed reload")
    async def rulebook_route(request: Request) -> RulebookInfo:
        loaded = live.current
        request.state.rulebook_hash = loaded.book.hash
        failure = live.failure
        return _rulebook_info(loaded, str(failure.error) if failure else None)

    @app.get("/v1/schemas/{which}", tags=["rulebook"], summary="The JSON Schema of facts, rule files or assessments")
    async def schema_route(which: Literal["facts", "rules", "assessment"]) -> dict[str, Any]:
        return schema(which, live.current.book.facts)   # the facts the served rulebook reads

    @app.get("/v1/health", response_model=Health, tags=["rulebook"], summary="Up, and which rulebook")
    async def health(request: Request) -> Health:
        loaded = live.current
        request.state.rulebook_hash = loaded.book.hash
        return Health(status="ok", version=__version__, rulebook_hash=loaded.book.hash)

    if admin_token:
        @app.post("/v1/admin/reload", response_model=Reloaded, tags=["admin"],
                  summary="Load the rules again from disk and swap them in whole; on failure the old ones serve")
        async def reload_route(request: Request) -> Reloaded:
            if request.headers.get("authorization") != f"Bearer {admin_token}":
                raise _Refused(plain(401, "Unauthorized", "send Authorization: Bearer <admin token>"))
            before = live.current.book.hash
            loaded = await run_in_threadpool(live.reload)
            request.state.rulebook_hash = loaded.book.hash
            return Reloaded(hash=loaded.book.hash, previous_hash=before, changed=loaded.book.hash != before)

    return compute


def _rulebook_info(loaded: Loaded, failure: str | None) -> RulebookInfo:
    book = loaded.book
    files = [RuleFileInfo(city=city, path=f.path, rules=len(f.rules), documents=list(f.model.documents))
             for city, f in book.files.items()]
    return RulebookInfo(hash=book.hash, version=__version__, path=str(loaded.path), loaded_at=loaded.loaded_at,
                        files=files, vocabulary_fields=book.vocabulary.fields(), last_reload_error=failure)


_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


def _is_yaml(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() in _YAML_TYPES


def _enterprise(body: bytes, book: Rulebook, yaml_body: bool = False) -> Enterprise:
    """The request body (JSON, or a YAML fact file) as an ``Enterprise``; a problem is located in the body by
    line and column."""
    if yaml_body:
        try:
            doc = _yaml.parse(body.decode("utf-8"), BODY)
        except UnicodeDecodeError as e:
            raise SourceError(f"the body is not UTF-8: {e.reason}", location=Location(BODY)) from e
        enterprise = enterprise_from_document(doc, book.facts)
        enterprise.check_terms(book.vocabulary, doc)
        return enterprise
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SourceError(f"the body is not UTF-8: {e.reason}", location=Location(BODY)) from e
    data = _yaml.parse_json(text, BODY)
    if not isinstance(data, dict):
        raise FactsError("the body must be a JSON object with 'enterprise' and 'records'",
                         location=Location(BODY, 1, 1), field="<root>")
    try:
        return load_enterprise(data, book.vocabulary, facts=book.facts)
    except IncentivesError as e:
        raise _located(text, book, e) from e


def _placed(body: bytes, book: Rulebook, yaml_body: bool = False) -> Enterprise:
    """``_enterprise``, in a city (and county) the rulebook knows: as ``incentives evaluate`` says, an unknown
    one would pay nothing, so it is a problem at its field rather than an assessment with no awards."""
    enterprise = _enterprise(body, book, yaml_body)
    try:
        book.where(enterprise.profile.city, enterprise.profile.county)
    except FactsError as e:
        try:
            e.location = _yaml.parse(body.decode("utf-8"), BODY).locate(tuple((e.field or "").split(".")))
        except IncentivesError:
            e.location = Location(BODY)
        raise
    return enterprise


def _located(text: str, book: Rulebook, error: IncentivesError) -> IncentivesError:
    """``error`` found again with the body's line and column (parsed once more, on the error path only)."""
    try:
        doc = _yaml.parse(text, BODY)
        enterprise_from_document(doc).check_terms(book.vocabulary, doc)
    except IncentivesError as located:
        if type(located) is type(error) and located.field == error.field:
            return located
    error.location = Location(BODY)
    return error


def _batch(lines: list[bytes], book: Rulebook, as_of: dt.date) -> BatchResult:
    results: list[BatchLine] = []
    total = Decimal("0.00")
    by_payer: dict[str, Decimal] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result = assess(_enterprise(line, book), book, as_of)
        except IncentivesError as e:
            where = e.location
            e.location = Location(BODY, n, where.column if where.path == BODY else None)
            results.append(BatchLine(line=n, problem=from_error(e)))
            continue
        total += result.total
        for payer, amount in result.total_by_payer.items():
            by_payer[payer] = by_payer.get(payer, Decimal("0.00")) + amount
        results.append(BatchLine(line=n, assessment=result))
    errors = sum(1 for r in results if r.problem is not None)
    return BatchResult(as_of=as_of, rulebook_hash=book.hash, enterprises=len(results), assessed=len(results) - errors,
                       errors=errors, total=total, total_by_payer=by_payer, results=results)


# ------------------------------------------------------------------------------------------ errors
class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _TooLarge(Exception):
    pass


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=problem.status, media_type=MEDIA_TYPE,
                        headers=headers)


def _errors(app: FastAPI) -> None:
    async def incentives_error(_: Request, e: Exception) -> Response:
        assert isinstance(e, IncentivesError)
        return problem_response(from_error(e))

    async def refused(_: Request, e: Exception) -> Response:
        assert isinstance(e, _Refused)
        return problem_response(e.problem)

    async def too_large(_: Request, e: Exception) -> Response:
        limit = app.state.limits.max_body
        return problem_response(plain(413, "Request body too large", f"at most {limit} bytes", "size"))

    async def invalid(_: Request, e: Exception) -> Response:
        assert isinstance(e, RequestValidationError)
        return problem_response(from_validation(list(e.errors())))

    async def http_error(_: Request, e: Exception) -> Response:
        assert isinstance(e, HTTPException)
        return problem_response(plain(e.status_code, _reason(e.status_code), str(e.detail)),
                                headers=dict(e.headers or {}))

    async def timed_out(_: Request, e: Exception) -> Response:
        limit = app.state.limits.timeout
        return problem_response(plain(503, "Took too long", f"the answer took longer than {limit} s", "timeout"))

    async def crashed(_: Request, e: Exception) -> Response:
        return problem_response(plain(500, "Internal error", f"{type(e).__name__}: the server could not answer"))

    app.add_exception_handler(IncentivesError, incentives_error)
    app.add_exception_handler(_Refused, refused)
    app.add_exception_handler(_TooLarge, too_large)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(TimeoutError, timed_out)
    app.add_exception_handler(Exception, crashed)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _Guard:
    """ASGI middleware: the body size limit, and ``X-Rulebook-Hash`` on every answer."""

    def __init__(self, app: Callable[..., Awaitable[None]], live: LiveRulebook, max_body: int) -> None:
        self.app, self.live, self.max_body = app, live, max_body

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fallback = self.live.current.book.hash

        async def send_with_hash(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = scope.get("state") or {}
                digest = str(state.get("rulebook_hash") or fallback)
                message["headers"] = [*message.get("headers", []), (b"x-rulebook-hash", digest.encode())]
            await send(message)

        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            problem = plain(413, "Request body too large", f"at most {self.max_body} bytes", "size")
            await problem_response(problem)(scope, receive, send_with_hash)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLarge()
            return message

        await self.app(scope, limited, send_with_hash)


# ------------------------------------------------------------------------------------------ OpenAPI
_PROBLEM_STATUSES = {"400": "The body cannot be read", "413": "Too large", "422": "Bad input, located",
                     "503": "Took too long"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the library's own JSON Schemas of facts (request bodies) and assessments
    (answers), and problem+json errors."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for which, prefix, name in (("facts", "Facts", "Facts"), ("assessment", "", "Assessment")):
        own = dict(schema(which))  # type: ignore[arg-type]
        own.pop("$schema", None)
        for def_name, definition in own.pop("$defs", {}).items():
            components[prefix + def_name] = _rehome(definition, prefix)
        components[name] = _rehome(own, prefix)
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem = {"content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    facts = {"schema": {"$ref": "#/components/schemas/Facts"}}
    facts_body = {"required": True, "content": {"application/json": facts, "application/yaml": facts}}
    jsonl_body = {"required": True, "content": {"application/x-ndjson": {"schema": {
        "type": "string", "description": "one fact file as JSON per line"}}}}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if path in ("/v1/assess", "/v1/explain"):
                operation["requestBody"] = facts_body
            elif path == "/v1/batch":
                operation["requestBody"] = jsonl_body
            responses = operation.setdefault("responses", {})
            statuses = _PROBLEM_STATUSES if method == "post" else {"422": "Bad query"}
            for status, description in statuses.items():
                responses[status] = {"description": description, **problem}
            if path == "/v1/admin/reload":
                responses["401"] = {"description": "No or wrong admin token", **problem}
    app.openapi_schema = spec
    return spec


def _rehome(node: Any, prefix: str) -> Any:
    """A JSON Schema fragment with its ``#/$defs/X`` references pointed at ``#/components/schemas/<prefix>X``."""
    if isinstance(node, dict):
        return {k: _rehome(v, prefix) for k, v in node.items()}
    if isinstance(node, list):
        return [_rehome(v, prefix) for v in node]
    if isinstance(node, str) and node.startswith("#/$defs/"):
        return "#/components/schemas/" + prefix + node.removeprefix("#/$defs/")
    return node
