"""Serve the fonts for every script from the installed weblate-fonts package.

Kurinto Sans covers Latin, Cyrillic, Arabic and Urdu (naskh), Bengali, Gurmukhi and
Gujarati in one family; serving it from this app keeps pages offline and identical on
every laptop, whatever fonts Windows happens to have.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

bp = Blueprint("fonts", __name__, url_prefix="/fonts")

FONTS = {
    "KurintoSans-Rg.ttf": "kurinto/ttf/KurintoSans-Rg.ttf",
    "KurintoSans-Bd.ttf": "kurinto/ttf/KurintoSans-Bd.ttf",
}


def font_dir() -> Path:
    import weblate_fonts

    return Path(weblate_fonts.__file__).resolve().parent / "static" / "weblate_fonts"


def font_path(name: str) -> Path:
    """The file of one of the fonts engage uses (for PDFs as well as pages)."""
    return font_dir() / FONTS[name]


@bp.route("/<name>")
def font(name):
    if name not in FONTS:
        abort(404)
    relative = Path(FONTS[name])
    return send_from_directory(
        font_dir() / relative.parent, relative.name, mimetype="font/ttf", max_age=31536000
    )
