"""The hub's sync API under /api/v1: enrolment, status, sealed batches and conversations.

Laptops authenticate with the bearer token they got at enrolment; every batch is also
signed by the laptop's key, so a stolen token alone cannot add data. Answers are JSON,
errors included (``{"error": code, "message": text}``). The API is CSRF-exempt (no
cookies are used) and exists only on a hub: on a laptop every address here is 404.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from ..security import csrf
from ..validation import InvalidInput
from . import hub
from .envelope import Refused
from .messages import refusal_message

bp = Blueprint("sync_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

OPENAPI = Path(__file__).with_name("openapi.json")
MAX_BATCH_BYTES = 256 * 1024 * 1024


def _error(status: int, code: str, message, **extra):
    response = jsonify({"error": code, "message": str(message), **extra})
    response.status_code = status
    return response


@bp.before_request
def _hub_only():
    if not current_app.config.get("HUB"):
        return _error(404, "not-a-hub", _l("This laptop is not a hub."))
    if request.endpoint == "sync_api.batches":
        request.max_content_length = current_app.config.get("SYNC_MAX_BATCH_BYTES",
                                                            MAX_BATCH_BYTES)
    return None


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _error(error.code or 500, error.name.lower().replace(" ", "-"), error.description)


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    current_app.logger.exception("sync API error on %s", request.path)
    return _error(500, "hub-error", _l("The hub could not do this just now. Everything stays "
                                       "queued on the laptop; it will try again."))


@bp.errorhandler(Refused)
def _refused(error: Refused):
    current_app.logger.warning("sync batch refused: %s", error)
    extra = {}
    if error.reason == "gap" and g.get("device"):
        extra["held_seq"] = g.device["held_seq"]
    status = 409 if error.reason == "gap" else 403 if error.reason in (
        "bad-signature", "revoked", "unknown-device", "wrong-hub", "other-laptop") else 400
    return _error(status, error.reason, refusal_message(error.reason), **extra)


def _device():
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    device = hub.authenticate(token)
    if device is None:
        return None
    g.device = device
    return device


def _unauthorised():
    response = _error(401, "unauthorised",
                      _l("This laptop's token is not known here. Enrol the laptop again."))
    response.headers["WWW-Authenticate"] = 'Bearer realm="engage hub"'
    return response


@bp.get("/openapi.json")
def openapi():
    return Response(OPENAPI.read_bytes(), mimetype="application/json")


@bp.post("/enrol")
def enrol():
    data = request.get_json(silent=True) or {}
    try:
        answer = hub.enrol(
            str(data.get("code", "")), name=str(data.get("name", "")),
            public_key_b64=str(data.get("public_key", "")),
            record_device_id=str(data.get("record_device_id") or "") or None,
        )
    except InvalidInput as error:
        return _error(400, error.field or "invalid", error.message)
    return jsonify(answer), 201


@bp.get("/sync/status")
def status():
    device = _device()
    if device is None:
        return _unauthorised()
    hub.heard_from(device["id"])
    return jsonify({"device_id": device["id"], "device_name": device["name"],
                    "held_seq": device["held_seq"], "hub_key_id": hub.our_keys()[2].key_id})


@bp.post("/sync/batches")
def batches():
    device = _device()
    if device is None:
        return _unauthorised()
    if request.mimetype != "application/octet-stream":
        return _error(415, "unsupported-media-type", _l("Send the sealed batch as binary."))
    result = hub.receive_network(request.get_data(cache=False), device)
    return jsonify(result), 200


@bp.post("/sync/recover")
def recover():
    """A page of the records this laptop made, for a laptop restored from a backup."""
    device = _device()
    if device is None:
        return _unauthorised()
    data = request.get_json(silent=True)
    frame = hub.recovery_page(device, data if isinstance(data, dict) else {})
    hub.heard_from(device["id"])
    return jsonify({"frame": base64.b64encode(frame).decode("ascii")})


@bp.get("/sync/conversations")
def conversations():
    device = _device()
    if device is None:
        return _unauthorised()
    hub.heard_from(device["id"])
    return Response(json.dumps(hub.snapshot(), ensure_ascii=False), mimetype="application/json")
