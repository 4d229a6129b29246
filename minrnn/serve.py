"""`minrnn serve`: trained models behind the OpenAI-compatible completions API, on uvicorn and
Starlette (the optional extra minrnn[serve]).

    POST /v1/completions   completions.py: the fields, the answer, streamed or whole
    GET  /v1/models        the models served, with their cell, size and vocabulary
    GET  /health           open without the key: the models and the rows in hand

Requests are answered by one model thread (worker.py) that advances every request's rows in one
batched step per character; the event loop only reads requests, hands them over and writes
what comes back. Every request but /health's needs the key when one is set, and ends with one
line on stderr: method, path, status, characters generated, milliseconds."""
import asyncio
import contextlib
import functools
import hmac
import ipaddress
import json
import os
import signal
import socket
import time
from pathlib import Path

from . import api, completions, options, runfolder
from .completions import ApiError
from .errors import MinrnnError
from .options import PATH, Option
from .worker import Worker

HINT = "minrnn serve needs Starlette and uvicorn: pip install 'minrnn[serve]'"
KEY_VARIABLE = "MINRNN_API_KEY"
SHUTDOWN_S = 5  # after SIGTERM or Ctrl-C, requests still open this long are cut off
# a stream sends what is new at most this often: one write a step for each of 64 clients would
# keep the event loop, and the GIL, from the model thread; a person reading sees no difference
STREAM_EVERY_S = 0.02
CHARACTERS = "minrnn.characters"  # where a request's handler leaves the characters it generated, for the log line

OPTIONS = options.group(
    models=Option(PATH, None, "run folders or checkpoints (a run folder: its best.npz, else latest.npz); a model's "
                  "name in the API is its run folder's name, or the file's stem", positional="+", many=True,
                  metavar="MODEL"),
    host=Option(str, "127.0.0.1", "address to listen on: this machine alone unless you say otherwise (then set a "
                "key)"),
    port=Option(int, 8000, "port to listen on; 0: any free one (the address printed says which)", low=0, high=65535),
    api_key=Option(str, None, "require the header `Authorization: Bearer KEY` on every endpoint but /health",
                   unset=f"${KEY_VARIABLE}, else none", metavar="KEY"),
    max_batch=Option(int, 64, "choices generated at once, in one batched step a character (n choices of a prompt "
                     "are n)", above=0),
    max_queue=Option(int, 256, "choices waiting for room beyond --max-batch; beyond those a request is refused "
                     "(503)", low=0),
    max_length=Option(int, 4096, "characters a choice may ask for (max_tokens) at most", above=0),
    max_body=Option(int, 1_000_000, "bytes a request's body may hold at most (413 beyond)", above=0),
)


def command(a):
    """`minrnn serve`, its options `a` parsed: load the models, listen, serve until SIGTERM or
    Ctrl-C, then end the requests in flight and return."""
    try:
        import uvicorn
        import starlette  # noqa: F401 (make_app imports its parts)
    except ImportError:
        raise MinrnnError(HINT) from None
    models = load_models(a.models)
    key = a.api_key or os.environ.get(KEY_VARIABLE) or None
    sock, where = listen(a.host, a.port)
    worker = Worker(models, a.max_batch, a.max_queue)
    app = make_app(models, worker, key, a)
    api.info(f"serving {', '.join(f'{name} ({describe(model)})' for name, model in models.items())} "
             f"on {where}/v1 (Ctrl-C stops)")
    if not _loopback(sock) and not key:
        api.info(f"warning: listening on {where}, beyond this machine, without a key: anyone who reaches it can use "
                 f"the models; set --api-key or {KEY_VARIABLE}")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=SHUTDOWN_S))
    server.handle_exit = functools.partial(_stop, server, worker)  # the signals' handler
    server.run(sockets=[sock])
    worker.join(SHUTDOWN_S)
    api.info("stopped")


def load_models(paths):
    """name -> api.Model of each path, named by its run folder, or the file's stem; two of one
    name are refused."""
    models, sources = {}, {}
    for path in paths:
        followed = runfolder.follow(path)
        name = followed.resolve().name if followed.is_dir() else Path(path).stem
        if name in models:
            raise MinrnnError(f"two models are named {name!r} ({sources[name]} and {path}): serve one of them, or "
                              "copy a checkpoint to a file of another name")
        models[name], sources[name] = api.load(path), path
        if models[name].which:
            api.info(models[name].which)
    return models


def describe(model):
    c = model.net.config
    return f"{c.cell} {c.layers} x {c.hidden}, vocabulary {len(model.chars)}"


def model_card(name, model):
    """A model as GET /v1/models shows it: OpenAI's fields, then minrnn's."""
    c = model.net.config
    return {"id": name, "object": "model", "created": int(model.path.stat().st_mtime), "owned_by": "minrnn",
            "cell": c.cell, "layers": c.layers, "hidden": c.hidden, "embedding": c.embedding,
            "parameters": int(model.net.theta.size), "vocabulary": "".join(model.chars)}


def listen(host, port):
    """A socket listening on host:port (connections wait there until the server takes them),
    and its address as a URL."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError as e:  # a name that does not resolve, a port in use or not ours to take
        raise MinrnnError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    shown, bound = sock.getsockname()[:2]
    return sock, f"http://{f'[{shown}]' if family == socket.AF_INET6 else shown}:{bound}"


def _loopback(sock):
    return ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_loopback


def _stop(server, worker, sig, frame):
    """SIGTERM or Ctrl-C: stop taking requests and end those in flight with what they have made;
    the command then exits 0 (uvicorn's own handler would raise the signal again once stopped).
    A second Ctrl-C stops at once."""
    if server.should_exit and sig == signal.SIGINT:
        server.force_exit = True
    if not server.should_exit:
        api.info("stopping: the requests in flight end now")
    server.should_exit = True
    worker.end()


def make_app(models, worker, key, limits):
    """The ASGI application: the routes, behind the key check and the log line (Gate)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    cards = {name: model_card(name, model) for name, model in models.items()}

    async def create_completion(request):
        completion = completions.judge(await read_body(request, limits.max_body), models, limits)
        completion.changed, completion.ended = asyncio.Event(), asyncio.Event()
        worker.submit(completion)
        if completion.stream:
            return StreamingResponse(events(completion, request.scope), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            await answered(completion, request.receive)
        finally:
            worker.cancel(completion)  # a client that has gone: its rows leave the batch now
        request.scope[CHARACTERS] = completion.generated()
        if completion.error:
            raise completion.error
        return JSONResponse(completion.answer())

    async def events(completion, scope):
        """The server-sent events of a streamed completion: what is new since the last event,
        as soon as something is (but STREAM_EVERY_S apart), then data: [DONE]."""
        try:
            while True:
                await completion.changed.wait()
                completion.changed.clear()
                new = "".join(f"data: {_json(chunk)}\n\n" for chunk in completion.chunks())
                if completion.error:
                    new += f"data: {_json(completion.error.json())}\n\n"
                if new:  # (an empty chunk would end the chunked body)
                    yield new
                if completion.over:
                    break
                with contextlib.suppress(asyncio.TimeoutError):  # a pause, cut short by the end
                    await asyncio.wait_for(completion.ended.wait(), STREAM_EVERY_S)
            yield "data: [DONE]\n\n"
        finally:  # ended, or cancelled by Starlette when the client goes
            worker.cancel(completion)
            scope[CHARACTERS] = completion.generated()

    async def list_models(request):
        return JSONResponse({"object": "list", "data": list(cards.values())})

    async def one_model(request):
        name = request.path_params["name"]
        if name not in cards:
            raise ApiError(404, f"model: {name!r} is not served here; this server serves {', '.join(cards)}",
                           param="model", code="model_not_found")
        return JSONResponse(cards[name])

    async def health(request):
        return JSONResponse({"status": "ok", "models": list(cards), "running": worker.running, "rows": worker.rows})

    async def api_error(request, e):
        return JSONResponse(e.json(), status_code=e.status)

    async def http_error(request, e):  # Starlette's own: no such path, a method a path does not take
        return JSONResponse(ApiError(e.status_code, f"{request.method} {request.url.path}: {e.detail}").json(),
                            status_code=e.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        worker.start(asyncio.get_running_loop())
        yield
        worker.end()

    app = Starlette(routes=[Route("/v1/completions", create_completion, methods=["POST"]),
                            Route("/v1/models", list_models, methods=["GET"]),
                            Route("/v1/models/{name:path}", one_model, methods=["GET"]),
                            Route("/health", health, methods=["GET"])],
                    exception_handlers={ApiError: api_error, HTTPException: http_error}, lifespan=lifespan)
    return Gate(app, key)


def _json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def read_body(request, limit):
    """The request's body, refused (413) past `limit` bytes, before it is all read when its
    length is declared."""
    too_big = ApiError(413, f"the body is over this server's --max-body, {limit} bytes", code="body_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_big
    return bytes(body)


async def answered(completion, receive):
    """Wait until the completion is done or its client has gone, whichever comes first."""
    async def gone():
        while (await receive())["type"] != "http.disconnect":
            pass
    waits = [asyncio.ensure_future(completion.ended.wait()), asyncio.ensure_future(gone())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


class Gate:
    """Around the application: the key checked on every path but /health (in constant time),
    and one log line for every request once its answer has been sent."""

    def __init__(self, app, key):
        self.app = app
        self.expected = None if key is None else f"Bearer {key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]

        async def send_noting(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        try:
            refused = self._refused(scope)
            if refused:
                await _send_error(refused, send_noting)
            else:
                await self.app(scope, receive, send_noting)
        finally:
            api.info(f"{scope['method']} {scope['path']} {status[0]} {scope.get(CHARACTERS, 0)} chars "
                     f"{(time.perf_counter() - started) * 1000:.0f} ms")

    def _refused(self, scope):
        if self.expected is None or scope["path"] == "/health":
            return None
        given = dict(scope["headers"]).get(b"authorization")
        if given is None:
            return ApiError(401, "no API key: send the header Authorization: Bearer KEY", code="invalid_api_key")
        if not hmac.compare_digest(given, self.expected):
            return ApiError(401, "a wrong API key", code="invalid_api_key")
        return None


async def _send_error(error, send):
    body = _json(error.json()).encode()
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
