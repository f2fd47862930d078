"""The web app of ``compstat serve`` (Starlette, server-rendered with Jinja2, no scripts).

Security, for every request: a signed session cookie (HttpOnly, SameSite=Strict, ``Secure`` when
``https_only``) that expires after ``session_seconds`` and ends when the account's ``session_epoch``
moves on (password change or reset, disable) or when it is signed out (the server keeps the ids of
signed-out sessions until they would have expired, so a copy of the cookie no longer works); a new
session on sign-in; a CSRF token in the session checked on every form post; a strict
Content-Security-Policy (no inline script, nothing from other sites), frame denial and no-sniff, on
every response (errors and static files too), and HSTS when ``https_only``.
Access is decided on the server by ``web.access`` for each route, never by which links a page shows.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from compstat.actions.signing import signing_key
from compstat.config import Config
from compstat.errors import UsageError
from compstat.store import WebUser, connect, transaction
from compstat.web.access import Viewer
from compstat.web.accounts import MIN_PASSWORD, LoginRefused, authenticate, change_password

SESSION_PURPOSE = "web sessions"  # the signing key of the session cookies (``store.SigningKey``)
SESSION_SECONDS = 8 * 3600
MAX_FIELD = 2000  # characters of any one form field
SECURITY_HEADERS = {
    "content-security-policy": ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'; img-src 'self'; style-src 'self'"),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
HSTS = "max-age=31536000"  # with ``https_only``: browsers use HTTPS only for this site for a year


@dataclass
class WebState:
    """What every route needs: the config, the store and the page templates."""

    config: Config
    store_url: str
    engine: Engine
    pages: jinja2.Environment
    session_seconds: int
    https_only: bool = False
    signed_out: dict[str, float] = field(default_factory=dict)  # session id -> when it would have expired

    def end_session(self, sid: object, started: object) -> None:
        """Remember a signed-out session until it would have expired anyway (forgetting the expired ones)."""
        now = time.time()
        for old in [k for k, until in self.signed_out.items() if until < now]:
            del self.signed_out[old]
        if isinstance(sid, str) and isinstance(started, (int, float)):
            self.signed_out[sid] = started + self.session_seconds


def templates_folder() -> Path:
    from compstat.resources import templates_dir

    return templates_dir() / "web"


def state(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page from ``templates/web`` (autoescaped), with the viewer and the CSRF token its forms carry."""
    web = state(request)
    html = web.pages.get_template(template).render(
        request=request, viewer=request.scope.get("viewer"), csrf_token=csrf_token(request),
        organisation=web.config.organisation.name, **context)
    return HTMLResponse(html, status_code=status_code)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return page(request, "error.html", status_code=status_code, status=status_code, message=message)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def posted_form(request: Request) -> FormData:
    """The form of a POST, after its CSRF token is checked (403 otherwise) and every field's length (400)."""
    form = await request.form(max_files=0, max_fields=50, max_part_size=64 * 1024)
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form has expired or did not come from this site: reload the page and try again.")
    for name, value in form.multi_items():
        if isinstance(value, str) and len(value) > MAX_FIELD:
            raise HTTPException(400, f"The field '{name}' is longer than {MAX_FIELD} characters.")
    return form


def viewer_of(request: Request) -> Viewer:
    """The signed-in viewer; a request with no valid session is sent to sign in (raised as a redirect)."""
    viewer = request.scope.get("viewer")
    if not isinstance(viewer, Viewer):
        raise HTTPException(303, headers={"location": "/login"})
    return viewer


def _session_user(request: Request, session: Session) -> WebUser | None:
    data = request.session
    user_id, epoch, started = data.get("user_id"), data.get("epoch"), data.get("started")
    if not isinstance(user_id, int) or not isinstance(started, (int, float)):
        return None
    if time.time() - started > state(request).session_seconds or data.get("sid") in state(request).signed_out:
        return None
    user = session.get(WebUser, user_id)
    org = state(request).config.organisation.slug
    if user is None or user.disabled or user.session_epoch != epoch or user.org != org:
        return None
    return user


def _signed_in(request: Request) -> tuple[Viewer | None, bool]:
    """The session's viewer (None if it has ended) and whether they must change their password."""
    with Session(state(request).engine) as session:
        user = _session_user(request, session)
        return (None, False) if user is None else (Viewer.of(user), user.must_change)


class SignedInMiddleware(BaseHTTPMiddleware):
    """Puts the signed-in ``Viewer`` (or None) in ``request.scope['viewer']``, re-checking the account on every
    request; a stale session is cleared. Adds the security headers to every response."""

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.scope["viewer"] = None
        if "user_id" in request.session:  # the store is read in a worker thread: the event loop serves others
            viewer, must_change = await run_in_threadpool(_signed_in, request)
            if viewer is None:
                request.session.clear()
            else:
                request.scope["viewer"] = viewer
                if must_change and request.url.path not in ("/password", "/logout") \
                        and not request.url.path.startswith("/static/"):
                    response: Response = RedirectResponse("/password", status_code=303)
                    return _secured(response, state(request).https_only)
        return _secured(await call_next(request), state(request).https_only)


def _secured(response: Response, https_only: bool = False) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if https_only:
        response.headers.setdefault("strict-transport-security", HSTS)
    return response


async def login_form(request: Request) -> Response:
    if request.scope.get("viewer") is not None:
        return RedirectResponse("/", status_code=303)
    return page(request, "login.html")


async def login(request: Request) -> Response:
    form = await posted_form(request)
    web = state(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    # Argon2 and the store in a worker thread: fifty sign-ins at once do not stop every other page
    signed_in, message = await run_in_threadpool(_sign_in, web, username, password)
    if signed_in is None:
        return page(request, "login.html", status_code=401, message=message, username=username)
    user_id, epoch, must_change = signed_in
    request.session.clear()  # a new session on sign-in: nothing carried over from before
    request.session.update({"user_id": user_id, "epoch": epoch, "started": time.time(),
                            "sid": secrets.token_urlsafe(16), "csrf": secrets.token_urlsafe(32)})
    return RedirectResponse("/password" if must_change else "/", status_code=303)


def _sign_in(web: WebState, username: str, password: str) -> tuple[tuple[int, int, bool] | None, str]:
    """(user id, session epoch, must change) of a good sign-in, else None and why; failures are counted
    (committed) either way."""
    with transaction(web.engine) as session:
        try:
            user = authenticate(session, web.config.organisation.slug, username, password)
        except LoginRefused as refused:
            return None, str(refused)
        return (user.id, user.session_epoch, user.must_change), ""


async def logout(request: Request) -> Response:
    await posted_form(request)
    state(request).end_session(request.session.get("sid"), request.session.get("started"))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _password_page(request: Request, status_code: int = 200, **context: object) -> Response:
    with transaction(state(request).engine) as session:
        user = session.get(WebUser, viewer_of(request).user_id)
        must_change = bool(user and user.must_change)
    return page(request, "password.html", status_code, must_change=must_change, min_length=MIN_PASSWORD,
                **context)


async def password_form(request: Request) -> Response:
    viewer_of(request)
    return _password_page(request)


def _change_password(web: WebState, user_id: int, current: str, new: str, confirm: str) -> tuple[int | None, str]:
    """The account's new session epoch after the change, else None and why nothing changed."""
    with transaction(web.engine) as session:
        user = session.get(WebUser, user_id)
        if user is None:
            return None, "this account no longer exists"
        try:
            change_password(session, user, current, new, confirm)
        except UsageError as refused:
            return None, str(refused)
        return user.session_epoch, ""


async def submit_password(request: Request) -> Response:
    """The new password, or the page again with what was wrong (400, nothing changed). The other sessions of the
    account end; this one goes on with a new CSRF token."""
    viewer = viewer_of(request)
    form = await posted_form(request)
    current, new, confirm = (str(form.get(name, "")) for name in
                             ("current_password", "new_password", "confirm_password"))
    epoch, message = await run_in_threadpool(_change_password, state(request), viewer.user_id, current, new, confirm)
    if epoch is None:
        return _password_page(request, 400, message=message[:1].upper() + message[1:] + ".")
    request.session.update({"epoch": epoch, "csrf": secrets.token_urlsafe(32)})
    return RedirectResponse("/", status_code=303)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (301, 302, 303, 307):
        return _secured(Response(status_code=exc.status_code, headers=exc.headers))
    return _secured(error_page(request, exc.status_code, exc.detail))


async def server_error(request: Request, exc: Exception) -> Response:
    """A failure no route handled: a plain page (outside the session and templates, which may be what failed),
    with the security headers; the details go to the server's log, not to the browser."""
    response = PlainTextResponse("Something went wrong on the server; it has been logged. Try again, or tell the "
                                 "analysts if it happens again.", status_code=500)
    return _secured(response, state(request).https_only)


def routes() -> list[Route | Mount]:
    """Every route of the app. Pages add theirs in ``web.pages`` (``page_routes``, "/" among them), handed what
    they use of this module (so that they never import it)."""
    from compstat.web.pages import Kit, page_routes

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/password", password_form, methods=["GET"]),
        Route("/password", submit_password, methods=["POST"]),
        *page_routes(Kit(page, posted_form, viewer_of, state)),
        Mount("/static", StaticFiles(directory=templates_folder() / "static"), name="static"),
    ]


def create_app(config: Config, store_url: str, *, session_seconds: int = SESSION_SECONDS,
               https_only: bool = False) -> Starlette:
    """The app for ``config``'s organisation on ``store_url`` (migrated). ``https_only``: cookies only over TLS
    (set when served behind a TLS proxy)."""
    engine = connect(store_url)
    with transaction(engine) as session:
        key = signing_key(session, config.organisation.slug, SESSION_PURPOSE, create=True)
    assert key is not None
    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_folder()), autoescape=True,
                               undefined=jinja2.StrictUndefined)
    middleware = [
        Middleware(SessionMiddleware, secret_key=key.hex(), session_cookie="compstat_session",
                   max_age=session_seconds, same_site="strict", https_only=https_only),
        Middleware(SignedInMiddleware),
    ]
    app = Starlette(routes=routes(), middleware=middleware,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.web = WebState(config, store_url, engine, pages, session_seconds, https_only)
    return app
