"""The studio's gate: which names it answers to, who may use it, which pages may send it requests, and the
security headers every answer carries.

One ASGI middleware, :class:`Guard`, runs before every route, in this order:

1. **Host allow-list** (DNS rebinding): the ``Host`` header must name ``localhost``, ``127.0.0.1``, ``[::1]``, the
   address the studio is bound to, or a name given with ``--allowed-host``; bound to every interface (``0.0.0.0``
   or ``::``), the machine's name and IP addresses are accepted too (a page cannot rebind an IP address). Others:
   400.
2. **The token**: when the studio requires it (bound to anything but loopback, or ``--require-token``), every
   route except the login page, the static files, the health check and the listening-test participants' pages
   and API (their link's key and random participant id are their secret) needs the studio's token: an
   ``Authorization: Bearer`` header, or the HttpOnly ``SameSite=Strict`` cookie that opening any page with
   ``?token=`` (the printed login link) or the login form sets. Others: 401 (pages: the login form).
3. **Cross-site requests** (CSRF): a state-changing request (POST, PUT, PATCH, DELETE) must come from the
   studio's own pages: its ``Origin`` (else ``Referer``) names the same host and port as ``Host``, or a name
   given with ``--allowed-host`` (a TLS proxy in front changes the port). Without either header (a script, not a
   browser) it is let through when the studio asks no token (loopback), and otherwise only with ``Authorization:
   Bearer`` (a cookie alone is a browser's, and a browser sends Origin). Others: 403.
4. **Headers** on every answer: a Content-Security-Policy without inline script, ``X-Frame-Options: DENY``,
   ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``, ``Cross-Origin-Resource-Policy:
   same-origin``. A route that sets its own policy (the mix report, the API docs) keeps it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import ipaddress
import json
import re
import secrets
from importlib import resources
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mixdown.app.settings import StudioSettings

__all__ = [
    "COOKIE",
    "CSP",
    "REPORT_CSP",
    "Guard",
    "authenticated",
    "inline_script_csp",
    "login_routes",
    "presented_tokens",
    "token_matches",
]

COOKIE = "mixdown_token"
CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'; img-src 'self' data: blob:; media-src 'self'; style-src 'self'; connect-src 'self'")
"""The pages' policy: their scripts and styles are files of the studio; ``data:`` is the empty favicon, ``blob:``
the results plot the admin page fetches with its token."""
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'; sandbox")
"""The mix report's policy: its own inline style and data: plots, no script, sandboxed (an origin of its own)."""
_HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"), (b"cross-origin-resource-policy", b"same-origin")]
_SAFE = {"GET", "HEAD", "OPTIONS"}
_PUBLIC = ("/static/", "/listen/", "/api/listen/")
_PUBLIC_EXACT = {"/login", "/logout", "/api/health"}
_COOKIE_DAYS = 30
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[^:\[\]/@\s]+)(?::(?P<port>[0-9]{1,5}))?")
_STATIC = resources.files("mixdown") / "app" / "static"


def presented_tokens(request: Request, query: bool = True) -> list[str]:
    """The tokens a request carries: ``Authorization: Bearer``, the login cookie and (``query``) ``?token=``."""
    given = [_bearer(request.headers), request.cookies.get(COOKIE, "")]
    return [t for t in [*given, request.query_params.get("token", "") if query else ""] if t]


def authenticated(settings: StudioSettings, request: Request, query: bool = True) -> bool:
    """One of the tokens the request carries is the studio's."""
    return any(token_matches(settings, t) for t in presented_tokens(request, query))


def token_matches(settings: StudioSettings, given: str) -> bool:
    """``given`` is the studio's token (compared in constant time)."""
    return bool(given) and secrets.compare_digest(given.encode(), settings.admin_token.encode())


def _bearer(headers: Headers) -> str:
    value = headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


def _host_name(value: str) -> tuple[str, int | None] | None:
    """``(name, port)`` of a Host header (the name lower-case, IPv6 in brackets); None when malformed."""
    match = _HOST.fullmatch(value.strip())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else None
    return match["name"].lower(), port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class Guard:
    """The middleware described in the module's docstring, over ``app`` with ``settings``."""

    def __init__(self, app: ASGIApp, settings: StudioSettings):
        self.app, self.settings = app, settings
        self.hosts = settings.host_names()
        self.proxy_names = {_normal(n) for n in settings.allowed_hosts}
        self.any_ip = settings.binds_everywhere

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        request = Request(scope)
        host = request.headers.get("host", "")
        parsed = _host_name(host)
        if parsed is None or not (parsed[0] in self.hosts or (self.any_ip and _is_ip(parsed[0]))):
            await _plain(400, f"host {host!r}: expected one of {', '.join(sorted(self.hosts))}, found another "
                              "name (a page on another site may be reaching this studio through DNS "
                              "rebinding); fix: open the studio by one of those names, or start it with "
                              "--allowed-host NAME")(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and "token" in request.query_params and not path.startswith("/api/"):
            await self._login_by_link(request)(scope, receive, send)  # the token leaves the address bar
            return
        if self.settings.token_required and not _public(path) and not authenticated(self.settings, request, False):
            given = presented_tokens(request, query=False)
            await _refuse(path, 401, f"studio token: expected the studio's token, found "
                                     f"{'a wrong one' if given else 'none'}; fix: open the login link `mixdown "
                                     "serve` printed, or send Authorization: Bearer <token> (the token is in the "
                                     "data folder's admin_token file)")(scope, receive, send)
            return
        if method not in _SAFE:
            refusal = self._cross_site(request, parsed, scope["scheme"])
            if refusal:
                await _refuse(path, 403, refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _cross_site(self, request: Request, host: tuple[str, int | None], scheme: str) -> str | None:
        """Why a state-changing request is refused as cross-site, or None when it comes from the studio's pages."""
        source = request.headers.get("origin") or request.headers.get("referer")
        if source is None:  # not a browser's request: a script's
            if not self.settings.token_required or token_matches(self.settings, _bearer(request.headers)):
                return None
            return ("request: expected the Origin header a browser sends from the studio's pages, found none; fix: "
                    "API clients send Authorization: Bearer <token>")
        parts = urlsplit(source)
        try:
            name = _normal(parts.hostname or "")
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            name, port = "", None
        own = host[1] or {"http": 80, "https": 443}.get(scheme)
        if parts.scheme in ("http", "https") and name and ((name, port) == (host[0], own) or name in self.proxy_names):
            return None
        shown = f"{parts.scheme}://{parts.netloc}" if parts.netloc else source[:80]
        return (f"request from {shown}: expected it from the studio's own pages, found another site's (cross-site "
                "request refused); fix: use the studio's page, or a script without an Origin header")

    def _login_by_link(self, request: Request) -> Response:
        """``GET <page>?token=...``: the right token sets the cookie and reloads the page without it."""
        if not token_matches(self.settings, request.query_params["token"]):
            return login_page(401, "That token is not this studio's. Check the link `mixdown serve` printed.")
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        path = "/" if request.url.path == "/login" else request.url.path
        return with_cookie(RedirectResponse(path + (f"?{urlencode(rest)}" if rest else ""), status_code=303),
                           self.settings, request)


def _normal(name: str) -> str:
    """A host name as the allow-list keeps it: lower-case, without a port, IPv6 in brackets."""
    name = name.strip().lower()
    if name.count(":") > 1 and not name.startswith("["):  # a bare IPv6 address
        return f"[{name}]"
    parsed = _host_name(name)
    return parsed[0] if parsed else name


def _public(path: str) -> bool:
    return path in _PUBLIC_EXACT or path.startswith(_PUBLIC)


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {k.lower() for k, _ in headers}
            if b"content-security-policy" not in present:
                headers.append((b"content-security-policy", CSP.encode()))
            headers.extend(h for h in _HEADERS if h[0] not in present)
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def _refuse(path: str, status: int, text: str) -> Response:
    """A refusal as the asker reads it: JSON ``{"error"}`` for the API, the login form or plain text for pages."""
    if path.startswith("/api/"):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return Response(json.dumps({"error": text}), status_code=status, media_type="application/json",
                        headers=headers)
    if status == 401:
        return login_page(401, "This studio asks for its token: open the login link `mixdown serve` printed, or "
                               "enter the token here.")
    return _plain(status, text)


def login_page(status: int = 200, message: str = "") -> HTMLResponse:
    """The login form, with ``message`` (escaped) shown above it."""
    page = (_STATIC / "login.html").read_text(encoding="utf-8")
    shown = f'<p id="message" role="alert">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(page.replace("<!--message-->", shown), status_code=status)


def with_cookie(response: Response, settings: StudioSettings, request: Request) -> Response:
    """``response`` that also sets the login cookie: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(COOKIE, settings.admin_token, max_age=_COOKIE_DAYS * 86400, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


def login_routes(settings: StudioSettings) -> APIRouter:
    """``GET /login`` (the form; ``?token=`` logs in), ``POST /login`` (the form's answer), ``POST /logout``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    def login_form():
        return login_page()

    @router.post("/login")
    async def login(request: Request):
        body = (await request.body())[:4096].decode("utf-8", "replace")
        given = dict(parse_qsl(body)).get("token", "").strip()
        if not token_matches(settings, given):
            return login_page(401, "That token is not this studio's. Check the link `mixdown serve` printed.")
        return with_cookie(RedirectResponse("/", status_code=303), settings, request)

    @router.post("/logout")
    def logout():
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return router


def inline_script_csp(page: bytes, sources: str) -> str:
    """A policy for a page with its own inline scripts (FastAPI's API docs): each allowed by its hash, plus
    ``sources`` (where its script and style files come from)."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                      for s in re.findall(rb"<script>(.*?)</script>", page, re.S))
    return (f"default-src 'self'; script-src 'self' {sources} {hashes}; style-src 'self' 'unsafe-inline' {sources}; "
            f"img-src 'self' data: {sources}; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
