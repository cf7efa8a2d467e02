"""The home page each role lands on, and the health check."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from .data.conversations import list_conversations
from .data.workshops import list_workshops_for
from .security import login_required

bp = Blueprint("views", __name__)


@bp.route("/")
@login_required
def home():
    conversations = list_conversations() if g.user["role"] != "facilitator" else []
    return render_template(
        "views/home.html", workshops=list_workshops_for(g.user), conversations=conversations
    )


@bp.route("/healthz")
def healthz():
    """A cheap page for scripts to see the server is up."""
    return {"status": "ok"}
