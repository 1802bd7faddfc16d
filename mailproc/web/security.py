"""What every response of the web view is protected by: a signed session that expires, CSRF
tokens on forms (Flask-WTF), rate limits (Flask-Limiter), and headers that forbid scripts,
framing and referrers.

The key signing sessions is the desk's web key (mailproc.service.app.App.web_key).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from mailproc.web.desk import Desk

# No script runs on any page; styles and images come from the desk itself (an inline <svg>
# chart is markup, not a script). Pages cannot be framed, nor forms posted elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A requester's link carries its token in the path: no page may pass it on.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# Per client address, in this process's memory: `mailproc web` is one process (waitress
# threads), so the counts are the whole server's. Views add their own limits.
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://", default_limits=[])
csrf = CSRFProtect()


def install(app: Flask, desk: Desk) -> None:
    web = desk.config.web
    app.secret_key = desk.web_key
    secure = (web.public_url or "").startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="mailproc_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=web.session_hours),
        # The CSRF token lives as long as the session, not one hour: a form left open
        # over lunch still posts.
        WTF_CSRF_TIME_LIMIT=None,
        # Flask-WTF's extra check over HTTPS wants a Referer of this site, which no page
        # sends (Referrer-Policy: no-referrer): every form would be refused. The token,
        # bound to the signed session, and the SameSite cookie are the protection.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=1024 * 1024,  # forms only: no uploads
    )
    if web.proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=web.proxies, x_proto=web.proxies, x_host=web.proxies
        )
    csrf.init_app(app)
    limiter.init_app(app)

    @app.after_request
    def protect(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # Pages carry personal data: no shared cache keeps them. Static files may be kept.
        if not response.headers.get("Cache-Control") and response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response
