"""``incentives serve``: the HTTP API (``/v1/...``) and the 政策计算器 pages, on FastAPI and uvicorn.

FastAPI gives the OpenAPI document and response models from the same Pydantic models as the library,
so the HTTP contract is the JSON Schema of ``incentives schema``; uvicorn is the ASGI server it is
most often run with. Both are optional: ``pip install 'incentives[serve]'``.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from incentives.errors import IncentivesError, Location
from incentives.shipped import command_rules


def create_app(*args: Any, **kw: Any) -> Any:
    """The ASGI app (see ``incentives.service.app.create_app``)."""
    from incentives.service.app import create_app as create

    return create(*args, **kw)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``incentives serve`` to the command line."""
    p = sub.add_parser("serve", help="the HTTP API and the 政策计算器 pages",
                       description="Serve /v1/assess, /v1/explain, /v1/batch, /v1/policies, /v1/rulebook, "
                                   "/v1/health, the OpenAPI document at /openapi.json and the calculator at /. "
                                   "SIGHUP reloads the rules; a rulebook that fails to load leaves the old one "
                                   "serving.")
    p.add_argument("--rules", default=None, help="rule directory (default: rules/ here, else the shipped rules)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=1, help="processes serving (default: 1); each loads the rules "
                   "once, before forking, and reloads them itself on SIGHUP")
    p.add_argument("--max-body", type=int, default=1 << 20, help="largest request body in bytes (default: 1 MiB)")
    p.add_argument("--max-batch", type=int, default=1000, help="most lines of a /v1/batch body (default: 1000)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a request may compute (default: 10)")
    p.add_argument("--cors-origin", action="append", default=[], help="allow this origin (CORS is off by default)")
    p.add_argument("--admin-token", default=os.environ.get("INCENTIVES_ADMIN_TOKEN"),
                   help="enables POST /v1/admin/reload with this bearer token (default: $INCENTIVES_ADMIN_TOKEN)")
    p.add_argument("--ledger", default=None, help="entitlement ledger (SQLite path or postgresql://…): adds the "
                   "/v1/ledger routes")
    p.set_defaults(run=_serve)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0 to 65535): {text!r}")
    return int(text)


def _serve(args: argparse.Namespace) -> int:
    uvicorn = _require("uvicorn")
    _require("fastapi")
    from incentives.service.app import Limits, create_app as create

    app = create(command_rules(args.rules), limits=Limits(max_body=args.max_body, max_batch=args.max_batch, timeout=args.timeout),
                 cors_origins=tuple(args.cors_origin), admin_token=args.admin_token, ledger=args.ledger)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:   # another server has the port, or the address is not this machine's
        sock.close()
        raise IncentivesError(f"cannot listen here: {e.strerror or e}", location=Location(f"{args.host}:{args.port}")) from e
    host, port = sock.getsockname()[:2]
    sock.listen(2048)
    print(f"incentives serve: http://{host}:{port}/ rulebook {app.state.live.current.book.hash}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5, backlog=2048)
    if args.workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
        return 0
    return _prefork(args.workers, lambda: uvicorn.Server(config).run(sockets=[sock]))


def _prefork(workers: int, serve: Any) -> int:
    """``workers`` processes forked after the rules are loaded, all accepting on the one socket. The parent
    passes SIGHUP on (each worker reloads and swaps its own rulebook, or keeps it) and stops them on
    SIGTERM or SIGINT."""
    import signal

    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:   # a worker: its own event loop and thread pool, made after the fork
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            serve()
            os._exit(0)
        children.append(pid)

    def forward(signum: int, _: Any) -> None:
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        status = status or os.waitstatus_to_exitcode(code)
    return 0 if status in (0, -signal.SIGTERM, -signal.SIGINT) else 1


def _require(module: str) -> Any:
    import importlib

    from incentives.errors import IncentivesError

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise IncentivesError(f"incentives serve needs {module}: pip install 'incentives[serve]'") from e
