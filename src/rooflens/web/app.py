"""The local web viewer: one page, its assets, and a JSON API (FastAPI).

Everything is served from this process: the page, plotly.js from the `plotly` package, and the
API reference at /docs, a page of ours that renders /openapi.json (FastAPI's own loads Swagger UI
from a CDN, which an offline machine cannot reach).
"""

from __future__ import annotations

import gzip
import ipaddress
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, get_args

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rooflens import __version__
from rooflens.core.errors import MAPPING, bound_accepted, bound_words, type_words
from rooflens.engines.catalog import engine_catalog
from rooflens.settings import Settings, accepted
from rooflens.web import schemas as s
from rooflens.web import service
from rooflens.web import serving as serving_service
from rooflens.web.jobs import Jobs
from rooflens.web.service import WebInputError

STATIC = Path(__file__).parent / "static"
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": s.ErrorOut, "description": "Invalid input: which field, and why."},
    413: {"model": s.ErrorOut, "description": f"Body over {s.MAX_BODY_BYTES} bytes."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": s.ErrorOut, "description": "No such job: unknown, or dropped for its age."}
}


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


# The `plotly` package ships only the full plotly.js bundle (4.8 MB; no basic or cartesian
# build): it is served gzip-compressed (1.5 MB) under a URL naming its version, cached for a year.
PLOTLY_CACHE = "public, max-age=31536000, immutable"


def plotly_url() -> str:
    import plotly

    return f"/vendor/plotly-{plotly.__version__}.min.js"


@cache
def plotly_gzipped() -> bytes:
    return gzip.compress(plotly_js().read_bytes(), compresslevel=6)


# Errors ----------------------------------------------------------------------------------------
def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def error_response(status: int, items: list[dict[str, Any]], message: str) -> JSONResponse:
    return JSONResponse({"message": message, "detail": items}, status_code=status)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # One per (where, why): a setting of several types fails once per type.
    errors = list(
        {(str(e["loc"]), e["msg"]): e for e in map(_setting_error, exc.errors())}.values()
    )
    items = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e["loc"]],
            "msg": str(e["msg"]),
            "type": str(e["type"]),
        }
        for e in errors
    ]
    first = errors[0] if errors else {}
    field = ".".join(_path(first.get("loc", ())[1:])) or "body"
    if first.get("type") == "missing":
        message = f"{field} is missing"
    elif isinstance(first.get("input"), bytes) and tuple(first.get("loc", ())) == ("body",):
        # A body sent as another content type reaches validation as bytes.
        kind = request.headers.get("content-type", "none")
        message = f"body is invalid: expected a JSON object sent as application/json, not {kind}"
    elif first.get("type") == "json_invalid":
        # Its loc is the character where parsing stopped, not a field.
        at = first.get("loc", ("body", 0))[-1]
        message = f"body is invalid: expected a JSON object (it stops being JSON at character {at})"
    else:
        reason = str(first.get("msg", "")).removeprefix("Value error, ")
        if bound_words(first) is not None:  # in the words the API and command line use
            reason = f"expected {bound_accepted(first)}"
        elif type_words(first) == MAPPING:  # a request is JSON: no TOML table to offer
            reason = "expected a JSON object"
        elif type_words(first) is not None and reason.startswith(
            ("Input should", "List should", "String should")
        ):
            # pydantic's own sentence; a declared setting's words (fusion's) stand
            reason = f"expected {type_words(first)}"
        name = next((p for p in reversed(first.get("loc", ())) if isinstance(p, str)), "")
        # A declared setting that says in words what it takes says so instead of its regex.
        if first.get("type") == "string_pattern_mismatch" and name in Settings.model_fields:
            reason = f"expected {accepted(Settings, name)}"
        if first.get("type") == "extra_forbidden":
            known = _fields_at(request, tuple(first.get("loc", ())))
            if known:
                reason = f"expected a known field: {', '.join(known)}"
        whole = field == "body" and isinstance(first.get("input"), dict)
        # A check across a request's fields names them itself; the body is no value to show.
        message = (
            f"body is invalid: {reason}"
            if whole
            else (f"{field}={_shown(first.get('input'))} is invalid: {reason}")
        )
    return error_response(422, items, message)


def _path(loc: Any) -> list[str]:
    """A refused value's place as the request spells it: pydantic's tags for a union's branch
    ("literal['channel','tensor']", "function-after[...]") and a dict's key ("[key]") left out
    ("a.options.w_scale.literal['channel','tensor']='banana'" named no field the user knows)."""
    return [str(p) for p in loc if isinstance(p, int) or "[" not in str(p)]


def _fields_at(request: Request, loc: tuple[Any, ...]) -> list[str]:
    """The fields the section holding `loc`'s last key takes (an unknown one's error says
    what is known, as the Python API's does), from the route's body model; none if lost."""
    body = getattr(request.scope.get("route"), "body_field", None)
    model = _model_in(getattr(getattr(body, "field_info", None), "annotation", None))
    for key in loc[1:-1]:
        if isinstance(key, int):  # an item of a list: the list's own model
            continue
        fields = getattr(model, "model_fields", {})
        if key not in fields:
            return []
        model = _model_in(fields[key].annotation)
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    """The pydantic model a field holds, through Optional, list and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_in(a)) is not None), None)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (a body the JSON parser gave up on, an unknown route, a method
    the route does not take) with the one-line message and detail every other refusal has,
    instead of FastAPI's bare {"detail": "Not Found"}."""
    assert isinstance(exc, StarletteHTTPException)
    said = str(exc.detail)
    path = request.url.path
    where = f"{request.method} {path if len(path) <= 80 else path[:77] + '...'}"
    if exc.status_code == 400:
        message = (
            f"body is invalid: expected a JSON object its parser reads "
            f"({said[:1].lower()}{said[1:]})"
        )
        item = {"loc": ["body"], "msg": said, "type": "body"}
    elif exc.status_code == 404:
        message = f"{where} is not found: the page is at /, the API's routes at /docs"
        item = {"loc": ["path"], "msg": message, "type": "not_found"}
    elif exc.status_code == 405:
        allowed = _methods_of(request) or (exc.headers or {}).get("Allow", "")
        exc.headers = {**(exc.headers or {}), "Allow": allowed} if allowed else exc.headers
        message = f"{where} is not allowed: this route takes {allowed or 'other methods'}"
        item = {"loc": ["method"], "msg": message, "type": "method_not_allowed"}
    else:
        message = f"{where}: {said}"
        item = {"loc": ["path"], "msg": said, "type": "http_error"}
    response = error_response(exc.status_code, [item], message)
    # The Allow header of a 405, as the default handler keeps it.
    response.headers.update(exc.headers or {})
    return response


def _methods_of(request: Request) -> str:
    """Every method the routes at the request's path take (Starlette's 405 names the first
    route's alone: GET where /api/jobs/{id} takes DELETE too)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:  # HeadAsGet answers HEAD wherever GET is taken
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _setting_error(error: Any) -> Any:
    """A declared setting of several types (w_scale: a name or a block size) fails once per
    type, each under a loc naming the type ("literal['channel','tensor']"): reported at the
    setting, with what its declaration accepts in words, as the command line says it."""
    loc = tuple(error.get("loc", ()))
    # The options of a request, or of a scenario within one (/api/view's a and b).
    at = next((i for i, p in enumerate(loc) if p == "options"), len(loc))
    name, member = (*loc[at + 1 : at + 3], None, None)[:2]
    declared = member is not None and name in Settings.model_fields
    if declared and isinstance(member, str):
        msg = f"expected {accepted(Settings, str(name))}"
        return {**error, "loc": loc[: at + 2], "msg": msg, "type": "invalid_input"}
    # An item of a list setting outside its choices (fusion: ["all", "qkv"]): pydantic lists
    # the item's choices, but the declaration says what the list takes (all or none alone).
    if declared and isinstance(member, int) and error.get("type") == "literal_error":
        return {**error, "msg": f"expected {accepted(Settings, str(name))}"}
    return error


def input_error_body(exc: WebInputError) -> dict[str, Any]:
    """The 422 answer's body for an input error found past schema validation."""
    loc = ["body", *exc.loc]
    field = ".".join(str(p) for p in exc.loc)
    name = str(exc.loc[-1]) if exc.loc else ""
    # The core names a field by itself ("w_bits=5 is invalid…"): name it by its path instead.
    if name and exc.message.startswith(f"{name}="):
        message = field + exc.message[len(name) :]
    elif exc.message.startswith(field):
        message = exc.message
    else:
        message = f"{field}: {exc.message}"
    return {"message": message, "detail": [{"loc": loc, "msg": exc.message, "type": exc.kind}]}


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WebInputError)
    return JSONResponse(input_error_body(exc), status_code=422)


def job_error_body(exc: Exception) -> dict[str, Any] | None:
    """A failed job's error as the page shows a 422 (None: not an input error)."""
    return input_error_body(exc) if isinstance(exc, WebInputError) else None


# Paths whose files answer HEAD themselves, headers only (StaticFiles, FileResponse), where
# a GET would read the file (plotly.min.js: 4.8 MB) for a body never sent.
FILES_ANSWER_HEAD = ("/static/", "/vendor/")


class HeadAsGet:
    """HEAD answered as GET without its body, on every route (`curl -I` and uptime checks
    ask HEAD, which FastAPI's GET routes answered 405); files answer it themselves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or str(scope["path"]).startswith(FILES_ANSWER_HEAD)
        ):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413), declared or streamed, before any parsing.
    The body is read here (it is small by then) and handed on whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is over {self.limit} bytes"
        item = {"loc": ["body"], "msg": message, "type": "too_large"}
        await error_response(413, [item], message)(scope, receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive channel that gives `messages` first, then waits on `then` (disconnects)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


# The names a browser uses for this machine. A page elsewhere can point its own DNS name at
# 127.0.0.1 (DNS rebinding) and then read the API as same-origin; its Host header still
# carries that name, so only requests naming these hosts are served.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Everything the page loads is served here: scripts only from this origin; plotly sets
# inline styles; images and downloads are data: and blob: URLs; no framing by other pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def host_name(header: str) -> str:
    """The host of a Host header, without its port ('[::1]:8000' -> '::1'), in lower case
    (names are: LOCALHOST is localhost, not a host beyond this machine)."""
    if header.startswith("["):
        return header[1:].partition("]")[0].lower()
    return (header.rsplit(":", 1)[0] if header.count(":") == 1 else header).lower()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class GuardHeaders:
    """Serve only requests whose Host is an allowed name (400 otherwise), and add the
    content-security and framing headers to every response."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: tuple[str, ...], any_address: bool = False
    ) -> None:
        self.app, self.allowed = app, {h.lower() for h in allowed_hosts}
        self.any_address = any_address

    def _served(self, host: str) -> bool:
        # An address given as the Host (http://10.1.2.3:8000/) is no rebinding: a page served
        # from that address is this server's own. Names must be listed.
        return host in self.allowed or (self.any_address and _is_address(host))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
        if not self._served(host):
            message = f"host {host!r} is not served: use one of {', '.join(sorted(self.allowed))}"
            item = {"loc": ["header", "host"], "msg": message, "type": "host_not_allowed"}
            await error_response(400, [item], message)(scope, receive, send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_guarded)


# App -------------------------------------------------------------------------------------------
def create_app(
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS, any_address: bool = False
) -> FastAPI:
    """The viewer's app: page at /, API under /api, schema at /openapi.json, reference at /docs.
    `allowed_hosts`: the Host names served (loopback by default; `rooflens web --host` adds
    the address it binds to, and --allow-host names); `any_address`: also any IP address
    given as the Host (bound to every interface, `--host 0.0.0.0`)."""
    jobs = Jobs(job_error_body)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.shutdown()  # running jobs stop at their next progress report

    app = FastAPI(
        title="rooflens",
        version=__version__,
        description="Roofline analysis of LLM inference: the API behind `rooflens web`.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.jobs = jobs
    app.add_middleware(BodyLimit, limit=s.MAX_BODY_BYTES)
    app.add_middleware(HeadAsGet)
    app.add_middleware(GuardHeaders, allowed_hosts=allowed_hosts, any_address=any_address)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(WebInputError, _input_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    _pages(app)
    _api(app)
    _jobs(app, jobs)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _pages(app: FastAPI) -> None:
    # HEAD too, as every route (HeadAsGet).
    page = (STATIC / "index.html").read_text("utf-8").replace("/vendor/plotly.min.js", plotly_url())
    # Compressed once, off the request path, so that the first page load does not wait for it.
    threading.Thread(target=plotly_gzipped, daemon=True).start()
    docs = (STATIC / "docs.html").read_text("utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def reference() -> HTMLResponse:
        return HTMLResponse(docs, headers={"Cache-Control": "no-cache"})

    @app.api_route("/vendor/plotly.min.js", methods=["GET", "HEAD"], include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript")

    @app.api_route(plotly_url(), methods=["GET", "HEAD"], include_in_schema=False)
    def plotly_versioned(request: Request) -> Response:
        headers = {"Cache-Control": PLOTLY_CACHE, "Vary": "Accept-Encoding"}
        if "gzip" not in request.headers.get("accept-encoding", ""):
            return FileResponse(plotly_js(), media_type="text/javascript", headers=headers)
        headers["Content-Encoding"] = "gzip"
        return Response(plotly_gzipped(), media_type="text/javascript", headers=headers)


def _api(app: FastAPI) -> None:
    @app.get("/api/models", response_model=list[s.ModelInfo], responses=ERRORS, tags=["catalog"])
    def models(
        q: str = Query(
            "",
            max_length=100,
            description="Words that must all appear in the id or the model type (llama, "
            "qwen3_moe), whatever their case.",
        ),
        limit: int = Query(s.MAX_MODELS_LISTED, ge=1, le=s.MAX_MODELS_LISTED),
    ) -> list[dict[str, Any]]:
        """Search the bundled models (the only ones a request may name)."""
        return service.search_models(q, limit)

    @app.get("/api/devices", response_model=list[s.DeviceInfo], tags=["catalog"])
    def devices() -> list[dict[str, Any]]:
        """The device catalog."""
        return service.devices()

    @app.get("/api/engines", response_model=list[s.EngineInfo], tags=["catalog"])
    def engines() -> list[dict[str, Any]]:
        """The shipped engine profiles: release, device, source, fit date, memory and
        scheduler defaults, accuracy on measured runs (as `rooflens engines`)."""
        return engine_catalog()

    @app.post("/api/model", response_model=s.ModelInfo, responses=ERRORS, tags=["catalog"])
    def upload(request: s.UploadRequest) -> dict[str, Any]:
        """Check an uploaded config.json (parsed in memory, never stored) and describe it."""
        return service.upload(request)

    @app.post("/api/analyze", response_model=s.AnalysisOut, responses=ERRORS, tags=["analysis"])
    def analyze(request: s.AnalyzeRequest) -> dict[str, Any]:
        """One analysis: operators with their bounds, stage totals with bottlenecks and advice,
        memory, generation figures, speculative decoding; the same numbers as
        `rooflens.analyze`."""
        return service.analyze(request)

    @app.post("/api/sweep", response_model=s.SweepOut, responses=ERRORS, tags=["analysis"])
    def sweep(request: s.SweepRequest) -> dict[str, Any]:
        """Every combination of batch sizes, prompt and generation lengths (as
        `rooflens.sweep`)."""
        return service.sweep(request)

    @app.post("/api/compare", response_model=s.CompareOut, responses=ERRORS, tags=["analysis"])
    def compare(request: s.CompareRequest) -> dict[str, Any]:
        """Two scenarios side by side: each figure of A and B, and B / A."""
        return service.compare_request(request)

    @app.post("/api/view", response_model=s.ViewOut, responses=ERRORS, tags=["page"])
    def view(request: s.ViewRequest) -> dict[str, Any]:
        """Everything the page shows after a change, in one answer: the shown scenario's
        analysis, batch and prompt-length curves of A (and B), and A against B."""
        return service.view(request)

    @app.post("/api/simulate", response_model=s.SimulateOut, responses=ERRORS, tags=["serving"])
    def simulate(request: s.SimulateRequest) -> dict[str, Any]:
        """Serve a synthetic workload through a scheduler and cluster (as `rooflens.simulate`):
        latency percentiles, throughput, goodput, the engines over time; with `capacity`, the
        highest arrival rate within the SLO (as `rooflens.capacity`)."""
        return serving_service.simulate(request)

    @app.post("/api/scheduler", response_model=s.SchedulerOut, responses=ERRORS, tags=["serving"])
    def scheduler(request: s.SchedulerRequest) -> dict[str, Any]:
        """The scheduler POST /api/simulate runs for this model, device and options with the
        scheduler fields given: the engine's preset with them in place, and the preset alone
        (what the serving page's form shows for a field not set)."""
        return serving_service.scheduler_used(request)

    @app.post("/api/advise", response_model=s.AdviseOut, responses=ERRORS, tags=["serving"])
    def advise(request: s.AdviseRequest) -> dict[str, Any]:
        """The setups that serve a load within the SLO, ranked by cost, energy or latency, with
        what binds each, the Pareto front and the top picks confirmed in the simulator (as
        `rooflens.advise`)."""
        return serving_service.advise(request)


def _as_answered(schema: type[BaseModel], answer: dict[str, Any]) -> dict[str, Any]:
    """A job's answer as the plain endpoint gives it: through its response schema, which
    keeps only what it declares."""
    return schema.model_validate(answer).model_dump(mode="json")


def _jobs(app: FastAPI, jobs: Jobs) -> None:
    def found(job_id: str, job: Any) -> dict[str, Any] | JSONResponse:
        if job is None:  # the error body every other refusal has: a message and its detail
            message = f"no job {job_id!r}: unknown, or dropped after {jobs.max_age_s:.0f} s"
            return error_response(
                404, [{"loc": ["path", "job_id"], "msg": message, "type": "not_found"}], message
            )
        return job.view()

    @app.post(
        "/api/jobs/simulate",
        status_code=202,
        response_model=s.JobOut,
        responses=ERRORS,
        tags=["jobs"],
    )
    def start_simulation(request: s.SimulateRequest) -> dict[str, Any]:
        """Start POST /api/simulate's run in the background; GET /api/jobs/{id} follows it."""
        kind = "capacity" if request.capacity else "simulate"
        serving_service.checked_simulation(request)  # bad input: a 422 now, not a failed job
        return jobs.start(
            kind, lambda job: _as_answered(s.SimulateOut, serving_service.simulate(request, job))
        ).view()

    @app.post(
        "/api/jobs/advise",
        status_code=202,
        response_model=s.JobOut,
        responses=ERRORS,
        tags=["jobs"],
    )
    def start_advice(request: s.AdviseRequest) -> dict[str, Any]:
        """Start POST /api/advise's search in the background; GET /api/jobs/{id} follows it."""
        serving_service.advice_input(request)  # bad input: a 422 now, not a failed job
        return jobs.start(
            "advise", lambda job: _as_answered(s.AdviseOut, serving_service.advise(request, job))
        ).view()

    @app.get("/api/jobs/{job_id}", response_model=s.JobOut, responses=NOT_FOUND, tags=["jobs"])
    def job_state(job_id: str) -> dict[str, Any] | JSONResponse:
        """A job's status and progress; its answer once done, its error once failed."""
        return found(job_id, jobs.get(job_id))

    @app.delete("/api/jobs/{job_id}", response_model=s.JobOut, responses=NOT_FOUND, tags=["jobs"])
    def cancel_job(job_id: str) -> dict[str, Any] | JSONResponse:
        """Cancel a job: its computation stops at its next progress report."""
        return found(job_id, jobs.cancel(job_id))
