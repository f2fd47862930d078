"""``/password``: a signed-in user changes their password (a new or reset account must, before anything else)."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from compstat.errors import UsageError
from compstat.store import WebUser, transaction
from compstat.web.accounts import MIN_PASSWORD, change_password
from compstat.web.app import page, posted_form, state, viewer_of


def _form(request: Request, status_code: int = 200, **context: object) -> Response:
    with transaction(state(request).engine) as session:
        user = session.get(WebUser, viewer_of(request).user_id)
        must_change = bool(user and user.must_change)
    return page(request, "password.html", status_code, must_change=must_change, min_length=MIN_PASSWORD,
                **context)


async def password_form(request: Request) -> Response:
    viewer_of(request)
    return _form(request)


async def submit_password(request: Request) -> Response:
    """The new password, or the page again with what was wrong (400, nothing changed). The other sessions of the
    account end; this one goes on with a new CSRF token."""
    viewer = viewer_of(request)
    form = await posted_form(request)
    current, new, confirm = (str(form.get(name, "")) for name in
                             ("current_password", "new_password", "confirm_password"))
    message, epoch = "", None
    with transaction(state(request).engine) as session:
        user = session.get(WebUser, viewer.user_id)
        if user is None:
            message = "this account no longer exists"
        else:
            try:
                change_password(session, user, current, new, confirm)
                epoch = user.session_epoch
            except UsageError as refused:
                message = str(refused)
    if epoch is None:
        return _form(request, 400, message=message[:1].upper() + message[1:] + ".")
    request.session.update({"epoch": epoch, "csrf": secrets.token_urlsafe(32)})
    return RedirectResponse("/", status_code=303)
