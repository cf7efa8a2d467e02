"""engage: offline capture of workshop contributions for national consultations."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

__version__ = "0.1.0"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app; config comes from instance/config.py or ``test_config``.

    The factory only creates the instance folder (and its secret key file on a new
    instance); the database is created and migrated on first use, not here.
    """
    instance_path = os.environ.get("ENGAGE_INSTANCE")
    if test_config and test_config.get("INSTANCE_PATH"):
        instance_path = test_config["INSTANCE_PATH"]
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
    )
    from .request import EngageRequest

    app.request_class = EngageRequest
    app.config.from_object("engage.settings.Defaults")
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)

    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("DATABASE"):
        app.config["DATABASE"] = str(instance / "engage.db")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(instance)

    from . import (
        auth,
        cli,
        coordinator,
        db,
        errors,
        facilitator,
        fonts,
        i18n,
        kiosk,
        paper,
        scans,
        security,
        sync,
        turns,
        views,
    )

    db.init_app(app)
    turns.init_app(app)  # first of what runs before a request
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(coordinator.bp)
    app.register_blueprint(facilitator.bp)
    app.register_blueprint(kiosk.bp)
    app.register_blueprint(fonts.bp)
    app.register_blueprint(paper.bp)
    app.register_blueprint(scans.bp)
    sync.init_app(app)
    return app


def _instance_secret_key(instance: Path) -> str:
    """Read this instance's secret key, making one the first time.

    Each instance gets its own random key, so there is never a shared default.
    """
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
    return key_file.read_text(encoding="utf-8").strip()
