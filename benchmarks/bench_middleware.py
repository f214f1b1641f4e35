"""Overhead of the upload middleware on requests that carry no image, against the same app without it.

    .venv/bin/python benchmarks/bench_middleware.py [--rounds 25] [--requests 200]

For Flask (the WSGI middleware), Django (its middleware) and Starlette (the ASGI middleware), it times a
GET and a plain form POST (urlencoded), plus, for information, a multipart POST with text fields only
(which the middleware must read through to know it holds no image). Requests are made in-process
(a WSGI environ, an ASGI scope), so the figures are the frameworks' and the middleware's own cost, not
the network's. Rounds alternate between the app with and without the middleware so that a busy,
shared CPU slows both alike; each figure is this process's CPU time per request in the fastest round.
Target: ratio ≤ 1.05 for GET and the plain form POST, with the default policy. For information: the
"empty middleware" rows time a do-nothing ASGI middleware (the floor any ASGI layer costs on
Starlette's few-microsecond requests), and the "rights headers on" rows the opt-in that adds the
do-not-train headers to image responses (one wrapped start_response or send per GET).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from collections.abc import Callable
from typing import Any

FORM = b"title=Starry+Night&description=Oil+on+canvas&year=1889"
BOUNDARY = "benchBoundary7MA4YWxkTrZu0gW"
MULTIPART = (
    "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in [("title", "Starry Night"), ("description", "Oil on canvas " * 20), ("year", "1889")]
    )
    + f"--{BOUNDARY}--\r\n"
).encode()
CASES = {
    "GET": ("GET", "", b""),
    "form POST": ("POST", "application/x-www-form-urlencoded", FORM),
    "multipart POST, no file": ("POST", f"multipart/form-data; boundary={BOUNDARY}", MULTIPART),
}
TARGETED = ("GET", "form POST")


# ---------------------------------------------------------------------------- WSGI (Flask, Django)


def environ(method: str, content_type: str, body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/art",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def wsgi_runner(app: Callable[..., Any], case: tuple[str, str, bytes]) -> Callable[[int], None]:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    def run(count: int) -> None:
        for _ in range(count):
            result = app(environ(*case), start_response)
            b"".join(result)
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return run


def flask_apps(**policy: Any) -> tuple[Any, Any]:
    from flask import Flask, request
    from stylecloak.adapters.flask import Stylecloak
    from stylecloak.middleware import UploadPolicy

    def build() -> Flask:
        app = Flask("bench")

        @app.route("/art", methods=["GET", "POST"])
        def art() -> str:
            return f"{request.method} {len(request.form)} fields"

        return app

    plain, protected = build(), build()
    Stylecloak(protected, policy=UploadPolicy(**policy))
    return plain.wsgi_app, protected.wsgi_app


def django_apps() -> tuple[Any, Any]:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        DATABASES={},
        MIDDLEWARE=[],
    )
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    plain = WSGIHandler()
    with override_settings(MIDDLEWARE=["stylecloak.adapters.django.StylecloakMiddleware"]):
        protected = WSGIHandler()
    return plain, protected


def django_view(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(f"{request.method} {len(request.POST)} fields")


def __getattr__(name: str) -> Any:  # ROOT_URLCONF: the URL patterns are built once Django is set up
    if name == "urlpatterns":
        from django.urls import path
        from django.views.decorators.csrf import csrf_exempt

        return [path("art", csrf_exempt(django_view))]
    raise AttributeError(name)


# ---------------------------------------------------------------------------- ASGI (Starlette)


def starlette_apps(**policy: Any) -> tuple[Any, Any]:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from stylecloak.adapters.asgi import StylecloakMiddleware
    from stylecloak.middleware import UploadPolicy

    async def art(request: Request) -> PlainTextResponse:
        form = await request.form()
        return PlainTextResponse(f"{request.method} {len(form)} fields")

    routes = [Route("/art", art, methods=["GET", "POST"])]
    plain = Starlette(routes=routes)
    middleware = [Middleware(StylecloakMiddleware, policy=UploadPolicy(**policy))]
    return plain, Starlette(routes=routes, middleware=middleware)


class EmptyMiddleware:
    """A pure ASGI middleware that does nothing: the floor any ASGI middleware layer costs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def starlette_floor() -> tuple[Any, Any]:
    from starlette.middleware import Middleware

    plain, _ = starlette_apps()
    empty = type(plain)(routes=plain.routes, middleware=[Middleware(EmptyMiddleware)])
    return plain, empty


def asgi_runner(app: Any, case: tuple[str, str, bytes]) -> Callable[[int], None]:
    method, content_type, body = case
    headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/art",
        "raw_path": b"/art",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message

        await app(dict(scope), receive, send)

    loop = asyncio.new_event_loop()

    def run(count: int) -> None:
        async def many() -> None:
            for _ in range(count):
                await one()

        loop.run_until_complete(many())

    return run


# ---------------------------------------------------------------------------- measuring


def measure(
    plain: Callable[[int], None], protected: Callable[[int], None], rounds: int, requests: int
) -> tuple[float, float]:
    """Microseconds of CPU per request without and with the middleware: the fastest of interleaved rounds.

    CPU time of this process (not wall time) and the fastest round (as ``timeit`` advises) keep other
    processes on a shared machine out of the figures as far as possible.
    """
    plain(requests // 5)  # warm both paths
    protected(requests // 5)
    without, with_ = [], []
    for index in range(rounds):
        order = [(plain, without), (protected, with_)]
        if index % 2:
            order.reverse()  # neither side always runs first
        for run, sink in order:
            started = time.process_time()
            run(requests)
            sink.append((time.process_time() - started) / requests * 1e6)
    return min(without), min(with_)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    stacks: list[tuple[str, tuple[Any, Any], Callable[..., Callable[[int], None]]]] = [
        ("Flask (WSGI middleware)", flask_apps(), wsgi_runner),
        ("Django (Django middleware)", django_apps(), wsgi_runner),
        ("Starlette (ASGI middleware)", starlette_apps(), asgi_runner),
        ("Starlette (empty middleware)", starlette_floor(), asgi_runner),
        ("Flask, rights headers on", flask_apps(rights_headers=True), wsgi_runner),
        ("Starlette, rights headers on", starlette_apps(rights_headers=True), asgi_runner),
    ]
    print(f"{args.rounds} interleaved rounds × {args.requests} requests; CPU µs per request, fastest round\n")
    print(f"{'stack':<30} {'request':<26} {'without':>9} {'with':>9} {'ratio':>7}")
    worst = 0.0
    for label, (plain, protected), runner in stacks:
        for case_name, case in CASES.items():
            if "rights" in label and case_name not in TARGETED:
                continue
            without, with_ = measure(runner(plain, case), runner(protected, case), args.rounds, args.requests)
            ratio = with_ / without
            counted = case_name in TARGETED and "middleware)" in label and "empty" not in label
            mark = "" if counted else "  (information)"
            if counted:
                worst = max(worst, ratio)
            print(f"{label:<30} {case_name:<26} {without:9.1f} {with_:9.1f} {ratio:7.3f}{mark}")
    verdict = "meets" if worst <= 1.05 else "misses"
    print(f"\nworst in-process ratio on GET and form POST: {worst:.3f} ({verdict} the ≤ 1.05 target)")

    return 0


if __name__ == "__main__":
    sys.exit(main())
