"""Sync to the hub: the change log, sealed batches and USB files, the hub's API and pages.

``engage.sync`` keeps the laptop side (``laptop``, ``changelog``, ``client``) apart from
the hub side (``hub``, ``apply``, ``exports``, ``online``); ``envelope`` is the sealed
format and knows nothing of Flask. See ``tables`` for adding a table to sync.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API and the pages; each answers 404 where it does not belong."""
    from . import api, views

    app.register_blueprint(api.bp)
    app.register_blueprint(views.laptop_bp)
    app.register_blueprint(views.hub_bp)
    from ..security import allow_large_uploads

    for endpoint in ("hub.receive", "hub.import_upload"):
        allow_large_uploads(app, endpoint, views.UPLOAD_BYTES)
