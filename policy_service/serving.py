"""Serve the WSGI app from ``policy-service serve``: granian by default, or gunicorn.

granian keeps client connections alive (HTTP/1.1 keep-alive, its I/O in Rust), which a
policy enforcement point asking many decisions over one connection needs: gunicorn's sync
workers close the connection after every response. gunicorn stays available
(``--server gunicorn``) for deployments built around it.

Either way the app is built in each worker after the fork (no preload): every worker gets
its own database pool and policy runtime, which is what keeps workers stateless and safe.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any, Literal

from gunicorn.app.base import BaseApplication

if TYPE_CHECKING:
    from flask import Flask

ServerName = Literal["granian", "gunicorn"]
SERVERS: tuple[ServerName, ...] = ("granian", "gunicorn")
# A worker busy longer than this is killed and replaced (gunicorn's timeout; on granian the
# time a worker gets to finish its requests when stopped).
WORKER_TIMEOUT_S = 60


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key.lower(), value)

    def load(self) -> Any:
        return serving_app()


def serving_app() -> Flask:
    """The app as a server worker runs it: built, then its start-up heap frozen."""
    from policy_service import create_app

    app = create_app()
    freeze_heap()
    return app


def freeze_heap() -> None:
    """Take what start-up built out of the garbage collector's generations.

    The app, the policy model, SQLAlchemy's compiled statements: about 130,000 objects that
    live as long as the worker, which every full collection would otherwise walk again.
    Measured on a 20,000-contact bulk delete and retention sweep: full collections took 1.3 to
    1.6 s of it, and 0.2 s once the heap was frozen. Only server workers call this: a process
    that builds many apps (the tests) would keep each frozen one forever.
    """
    gc.collect()
    gc.freeze()


def serve(
    host: str,
    port: int,
    workers: int,
    threads: int,
    access_log: bool = False,
    server: ServerName = "granian",
) -> None:
    if server == "granian":
        _serve_granian(host, port, workers, threads, access_log)
    else:
        _serve_gunicorn(host, port, workers, threads, access_log)


def _serve_granian(host: str, port: int, workers: int, threads: int, access_log: bool) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.server import Server

    Server(
        "policy_service.serving:serving_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=workers,
        blocking_threads=threads,
        # The app logs one structured line per request itself.
        log_access=access_log,
        respawn_failed_workers=True,
        workers_kill_timeout=WORKER_TIMEOUT_S,
    ).serve()


def _serve_gunicorn(host: str, port: int, workers: int, threads: int, access_log: bool) -> None:
    GunicornServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            "accesslog": "-" if access_log else None,
            # The app logs one structured line per request itself.
            "errorlog": "-",
            "timeout": WORKER_TIMEOUT_S,
            "graceful_timeout": 10,
            "keepalive": 5,
        }
    ).run()
