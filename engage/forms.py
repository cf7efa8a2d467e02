"""Small helpers shared by views that take forms."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, request

from .validation import InvalidInput


def texts_from_form(prefix: str) -> dict:
    """Collect ``prefix_<lang>`` boxes into a {lang: text} mapping."""
    from .i18n import CONTENT_LANGUAGES

    return {lang: request.form.get(f"{prefix}_{lang}", "") for lang in CONTENT_LANGUAGES}


def show_error(error: InvalidInput) -> dict:
    """Flash the problem for the person; return {field: message} for the form."""
    flash(error.message, "error")
    return {error.field or "_": error.message}


def safe_next(target: str | None, default: str) -> str:
    """Only follow a 'next' address on this site, never one pointing elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
