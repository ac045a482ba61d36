"""``captcha-edge serve``: an HTTP API over a pool of Recognizers, on Starlette and uvicorn.

Routes (the README's "serve: HTTP" section is the user's guide):

* ``POST /ocr``: one image, as a multipart file field ``file``, a base64 field ``image`` (JSON,
  multipart or URL-encoded form; a ``data:image/...;base64,`` prefix is tolerated), or a raw
  ``image/*`` body. Answers ``{"text", "confidence", "char_confidences", "model", "timings"}``,
  plus ``"rejected": "<reason>"`` for a read that cannot be trusted (``service.answer``).
* ``POST /ocr/batch``: several images (JSON ``{"images": [...]}`` or several form fields); the
  answer lists one result or ``{"error"}`` per image, in order: a bad image fails only itself.
* ``GET /health`` and ``GET /models``.

Every refusal is a 4xx JSON ``{"error": "expected ..., got ..."}`` and the server goes on:
the image checks and error policy are the runtime's own (``Recognizer.result``), the body limit
is enforced while the body is read, and an API key is compared in constant time.
Inference runs in worker threads, at most one per Recognizer of the pool, so no interpreter is
ever used by two threads at once; the interpreter releases the GIL while it runs. With one worker
it runs on the event loop itself, which saves the thread hop.

This module imports Starlette: only ``captcha-edge serve`` imports it, so the runtime and
``pip install .`` do not need the ``serve`` extra.
"""

from __future__ import annotations

import base64
import hmac
import json
import signal
import socket
import time
from dataclasses import dataclass
from typing import Callable

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser, multipart
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._version import __version__
from .contract import read_contract
from .errors import CaptchaEdgeError, UsageError, first_line
from .options import ServeOptions
from .pool import RecognizerPool
from .recognizer import Recognizer, Result
from .registry import default_model, shipped_models
from .service import answer, ms

if multipart is None:  # Starlette imports python-multipart lazily; the serve extra installs it
    raise ModuleNotFoundError("python-multipart is not installed", name="python_multipart")

JSON_TYPES = ("application/json",)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
RAW_TYPES = ("application/octet-stream",)  # and every image/* type
ACCEPTED = "application/json, multipart/form-data, application/x-www-form-urlencoded or image/*"
IMAGE_FIELDS = ("file", "image", "images")  # form fields that carry images; others (ddddocr's png_fix...) are ignored


class RequestError(CaptchaEdgeError):
    """A request the server refuses: its HTTP status and a one-line 'expected ..., got ...'."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """One image of a request: its bytes, or why they could not be taken from the request."""

    name: str
    data: bytes | None = None
    error: str | None = None


# ---------------------------------------------------------------- reading requests


def check_api_key(headers: Headers, key: str | None) -> None:
    if key is None:
        return
    given = headers.get("x-api-key")
    if given is None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if given is None:
        raise RequestError(401, "expected an API key in the X-API-Key or Authorization: Bearer header, got none")
    # compare_digest: the time taken does not tell an attacker how much of the key matched.
    # Header values arrive decoded as latin-1: encoding them back gives the bytes the client sent.
    if not hmac.compare_digest(given.encode("latin-1", "replace"), key.encode("utf-8")):
        raise RequestError(401, "expected the server's API key, got a different one")


def media_type(headers: Headers) -> str:
    """The request's content type without parameters, checked before the body is read (415)."""
    kind = headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind in JSON_TYPES or kind.endswith("+json") or kind in FORM_TYPES or kind in RAW_TYPES or kind.startswith("image/"):
        return kind
    raise RequestError(415, f"expected Content-Type {ACCEPTED}, got {kind or 'none'!r}")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to pass ``limit``: from Content-Length
    before reading anything, else while it streams in, so at most ``limit`` bytes are ever held."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise RequestError(413, f"expected a body of at most {limit} bytes, got Content-Length {int(declared)}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"expected a body of at most {limit} bytes, got more")
        chunks.append(chunk)
    return b"".join(chunks)


def from_base64(text: object) -> bytes:
    """Image bytes from base64 text, with or without a ``data:...;base64,`` prefix; ValueError if not."""
    if not isinstance(text, str):
        raise ValueError(f"expected a base64 string, got {type(text).__name__}")
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise ValueError(f"expected a data URL like data:image/png;base64,..., got {header[:40]!r}")
    compact = "".join(text.split())  # base64 wrapped over lines (MIME style) is still base64
    if not compact:
        raise ValueError("expected base64 image data, got an empty string")
    try:
        return base64.b64decode(compact, validate=True)
    except ValueError as exc:
        raise ValueError(f"expected base64 image data, got {len(compact)} characters that are not ({exc})") from None


def upload(name: str, text: object) -> Upload:
    try:
        return Upload(name, data=from_base64(text))
    except ValueError as exc:
        return Upload(name, error=str(exc))


def uploads_from_json(body: bytes) -> list[Upload]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # ValueError covers bad UTF-8 and bad JSON
        raise RequestError(400, f"expected a JSON body, got invalid JSON ({first_line(exc)})") from None
    if isinstance(document, dict) and isinstance(document.get("images"), list):
        return [upload(f"images[{i}]", item) for i, item in enumerate(document["images"])]
    if isinstance(document, dict) and "image" in document:
        return [upload("image", document["image"])]
    got = f"keys {sorted(document)[:10]}" if isinstance(document, dict) else f"a JSON {type(document).__name__}"
    raise RequestError(400, f'expected a JSON object with "image" (base64) or "images" (a list of base64), got {got}')


async def parse_form(kind: str, headers: Headers, body: bytes, max_images: int) -> FormData:
    async def replay():
        yield body

    try:
        if kind == "multipart/form-data":
            return await MultiPartParser(headers, replay(), max_files=max_images, max_fields=max_images + 32,
                                         max_part_size=len(body) + 1).parse()
        return await FormParser(headers, replay()).parse()
    except MultiPartException as exc:
        raise RequestError(400, f"expected a well-formed {kind} body, got: {exc.message}") from None


async def uploads_from_form(form: FormData) -> list[Upload]:
    found = []
    for key, value in form.multi_items():
        if key not in IMAGE_FIELDS:
            continue
        name = f"{key}[{len(found)}]"
        if isinstance(value, UploadFile):
            found.append(Upload(value.filename or name, data=await value.read()))
            await value.close()
        else:
            found.append(upload(name, value))
    return found


async def read_uploads(request: Request, options: ServeOptions) -> list[Upload]:
    """Every image of a request, in order; the request's own faults raise RequestError."""
    check_api_key(request.headers, options.api_key)
    kind = media_type(request.headers)
    body = await read_body(request, options.max_body_bytes)
    if kind in JSON_TYPES or kind.endswith("+json"):
        found = uploads_from_json(body)
    elif kind in FORM_TYPES:
        found = await uploads_from_form(await parse_form(kind, request.headers, body, options.max_images))
    else:
        found = [Upload("body", data=body)]
    if not found:
        raise RequestError(400, f"expected an image in a field named {' or '.join(IMAGE_FIELDS)}, got none")
    if len(found) > options.max_images:
        raise RequestError(413, f"expected at most {options.max_images} images in one request, got {len(found)}")
    return found


# ---------------------------------------------------------------- answering


def recognize_all(pool: RecognizerPool, uploads: list[Upload]) -> list[Result]:
    """Runs in a worker thread: one leased Recognizer reads every image under the runtime's policy."""
    with pool.lease() as recognizer:
        return [Result(u.name, error=u.error) if u.data is None else recognizer.result(u.data, u.name) for u in uploads]


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


class Api:
    """The routes, over one pool. A CapacityLimiter of the pool's size bounds the worker threads,
    so a leased Recognizer is always free: requests beyond it wait without holding a thread."""

    def __init__(self, pool: RecognizerPool, options: ServeOptions):
        self.pool, self.options = pool, options
        self.model = pool.model_name
        self.catalogue = models_catalogue(pool.first)
        self.is_default = self.model == self.catalogue["default"]  # "?model=default" names it
        self._limiter: anyio.CapacityLimiter | None = None

    async def _recognize(self, uploads: list[Upload]) -> list[Result]:
        if self.pool.size == 1:
            # One worker: the event loop is that worker. The hop to a thread and back costs about
            # 0.25 ms of a 1.5 ms request; with one Recognizer nothing could run beside it anyway.
            # (With more workers the loop must stay free to hand requests out: measured, running
            # idle-time requests inline there cut 4-client throughput from 850 to 745 req/s.)
            return recognize_all(self.pool, uploads)
        if self._limiter is None:  # created inside the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self.pool.size)
        return await anyio.to_thread.run_sync(recognize_all, self.pool, uploads, limiter=self._limiter)

    def _check_model(self, request: Request) -> None:
        wanted = request.query_params.get("model")
        if wanted and wanted != self.model and not (wanted == "default" and self.is_default):
            raise RequestError(400, f"expected model {self.model!r} (this server's; start another for others), got {wanted!r}")

    async def ocr(self, request: Request) -> JSONResponse:
        start = time.perf_counter()
        uploads = await read_uploads(request, self.options)
        self._check_model(request)
        if len(uploads) != 1:
            raise RequestError(400, f"expected one image, got {len(uploads)}; send several to /ocr/batch")
        if uploads[0].error:
            raise RequestError(400, uploads[0].error)
        (result,) = await self._recognize(uploads)
        if not result.ok:  # the request was well-formed; its image cannot be read
            raise RequestError(422, result.error or "expected a readable image")
        body = answer(result, self.model)
        body["timings"]["server_ms"] = ms((time.perf_counter() - start) * 1e3)
        return JSONResponse(body)

    async def batch(self, request: Request) -> JSONResponse:
        start = time.perf_counter()
        uploads = await read_uploads(request, self.options)
        self._check_model(request)
        results = await self._recognize(uploads)
        return JSONResponse({"model": self.model, "results": [answer(r, self.model) for r in results],
                             "timings": {"server_ms": ms((time.perf_counter() - start) * 1e3)}})

    async def health(self, request: Request) -> JSONResponse:
        # Open without a key, like a load balancer's probe; it tells only the model's name.
        return JSONResponse({"status": "ok", "model": self.model, "workers": self.pool.size, "version": __version__})

    async def models(self, request: Request) -> JSONResponse:
        check_api_key(request.headers, self.options.api_key)
        return JSONResponse(self.catalogue)


def models_catalogue(loaded: Recognizer) -> dict:
    """The shipped models and their contracts, and the one this server loaded (read once, at start)."""
    models = [{"name": name, "bytes": path.stat().st_size, "contract": read_contract(path.read_bytes()).to_dict()}
              for name, path in shipped_models().items()]
    return {"default": default_model(), "loaded": {"name": loaded.model.path.stem, "contract": loaded.contract.to_dict()},
            "models": models}


# ---------------------------------------------------------------- the app and the server


async def refused(request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc.status, str(exc))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404/405, as JSON like every other refusal."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "another method")
        return error_response(405, f"expected {allowed} for {request.url.path}, got {request.method}")
    if exc.status_code == 404:
        routes = "GET /health, GET /models, POST /ocr, POST /ocr/batch"
        return error_response(404, f"expected one of {routes}, got {request.method} {request.url.path}")
    return error_response(exc.status_code, str(exc.detail))


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, f"expected to read the request, got an internal error ({type(exc).__name__}: {first_line(exc)})")


def make_app(pool: RecognizerPool, options: ServeOptions) -> Starlette:
    api = Api(pool, options)
    routes = [Route("/ocr", api.ocr, methods=["POST"]), Route("/ocr/batch", api.batch, methods=["POST"]),
              Route("/health", api.health, methods=["GET"]), Route("/models", api.models, methods=["GET"])]
    handlers = {RequestError: refused, HTTPException: http_error, Exception: internal_error}
    return Starlette(routes=routes, exception_handlers=handlers)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, opened here so that a taken port is one clear line (UsageError)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it Nagle and delayed ACKs add 40 ms to every keep-alive response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"expected to listen on {host} port {port}, got {exc.strerror or exc}") from None
    return sock


def run(options: ServeOptions, first: Recognizer, workers: int, log: Callable[[str], None]) -> int:
    """Serve until SIGTERM/SIGINT (uvicorn finishes the requests under way); the exit status."""
    sock = bind(options.host, options.port)
    pool = RecognizerPool.like(first, workers, threads=options.threads, interpreter=options.interpreter)
    pool.warm()
    app = make_app(pool, options)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            timeout_keep_alive=5, timeout_graceful_shutdown=10)
    shown = f"[{options.host}]" if ":" in options.host else options.host
    log(f"http://{shown}:{sock.getsockname()[1]} model {pool.model_name}, {workers} workers"
        f"{', API key required' if options.api_key else ''}")
    # uvicorn re-raises the SIGTERM/SIGINT it caught once it has shut down; with these no-op
    # handlers in place, that ends the process with status 0 instead of death by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
