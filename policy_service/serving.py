"""Serve the WSGI app with gunicorn, from ``policy-service serve``.

The app is built in each worker after the fork (no preload): every worker gets its own
database pool and policy runtime, which is what keeps workers stateless and safe.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key.lower(), value)

    def load(self) -> Any:
        from policy_service import create_app

        return create_app()


def serve(host: str, port: int, workers: int, threads: int, access_log: bool = False) -> None:
    GunicornServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            "accesslog": "-" if access_log else None,
            # The app logs one structured line per request itself.
            "errorlog": "-",
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
        }
    ).run()
