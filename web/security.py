"""Security headers on every response: a Content-Security-Policy, framing refused, no MIME sniffing,
a same-origin referrer, a minimal Permissions-Policy, and HSTS when the site is served over TLS.

The policy allows scripts, styles, fonts, images and fetches from this site only. Every page keeps
its JavaScript in ``web/static`` (data for a script travels in ``<script type="application/json">``
blocks, which are never run), so ``script-src 'self'`` holds everywhere, without ``'unsafe-eval'``
and without ``'unsafe-inline'`` for scripts or styles: bpmn-js (viewer and modeler), Chart.js with
its annotation plugin and Swagger UI set styles through the CSSOM, which the policy does not
restrict, never through ``style="…"`` markup. One exception, found and kept honest by the browser
tests (``tests/browser/test_security_headers.py`` collects every ``securitypolicyviolation`` event
on each page with a browser library, and every browser test fails on a console error, which is how
Chromium reports a violation):

- ``img-src data:`` on the API documentation page only: Swagger UI draws its icons from ``data:``
  URIs. A ``data:`` image cannot run script.

Behind a TLS-terminating proxy, ``request.is_secure`` is only right when the proxy's
``X-Forwarded-Proto`` is trusted: ``INFORA_TRUSTED_PROXIES=N`` (N proxies; its older name
``INFORA_PROXY_FIX`` is read too, see ``engine.config``; web/request_log.py applies the one
``ProxyFix``) or ``INFORA_SECURE_COOKIES=1`` (the site is HTTPS only) turns HSTS on.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

# Directives that one page needs loosened, by endpoint (see the module docstring).
EXCEPTIONS: dict[str, dict[str, str]] = {
    "api_docs.docs": {"img-src": "'self' data:"},
}
HSTS = "max-age=31536000"
MAX_REQUEST_BYTES = 16 * 1024 * 1024
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)


def content_security_policy(endpoint: str | None = None) -> str:
    """The Content-Security-Policy header's value for a page (its endpoint's exceptions applied)."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    directives.update(EXCEPTIONS.get(endpoint or "", {}))
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(request.endpoint))
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response and cap a request's size."""
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        # The largest honest request is a model upload (2 MB of BPMN plus its forms) or a 2 MB CSV:
        # anything far beyond is refused (413) before a view reads it into memory.
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.after_request(_add_headers)
