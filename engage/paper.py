"""Facilitators' page for printing a workshop's paper forms and downloading them."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from .data import forms, workshops
from .forms import show_error
from .i18n import SUPPORTED_LOCALES, locale_display_name
from .security import login_required
from .validation import InvalidInput

bp = Blueprint("paper", __name__, url_prefix="/workshops")


@bp.route("/<workshop_id>/forms", methods=["GET", "POST"])
@login_required
def print_page(workshop_id):
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    errors = {}
    if request.method == "POST":
        try:
            printed = forms.print_forms(
                conversation_id=workshop["conversation_id"],
                workshop_id=workshop_id,
                lang=request.form.get("language", ""),
                variant=request.form.get("variant", ""),
                sheets=request.form.get("sheets", ""),
                paper=request.form.get("paper", "a4"),
                shuffle=request.form.get("shuffle") == "1",
                demographics=request.form.get("demographics") == "1",
                created_by=g.user["id"],
            )
        except InvalidInput as error:
            errors = show_error(error)
        else:
            flash(
                _(
                    "Form %(form)s is ready: %(sheets)d sheets. Download it below.",
                    form=printed["id"],
                    sheets=printed["sheets"],
                ),
                "success",
            )
            return redirect(url_for("paper.print_page", workshop_id=workshop_id) + "#printed")
    ordered = list(workshop["languages"]) + [
        code for code in SUPPORTED_LOCALES if code not in workshop["languages"]
    ]
    return (
        render_template(
            "paper/print.html",
            workshop=workshop,
            languages=[(code, locale_display_name(code)) for code in ordered],
            printed=forms.list_forms(workshop_id),
            language_name=locale_display_name,
            errors=errors,
        ),
        400 if errors else 200,
    )


@bp.route("/<workshop_id>/forms/<form_id>.pdf", defaults={"kind": "pdf"})
@bp.route("/<workshop_id>/forms/<form_id>.layout.json", defaults={"kind": "layout.json"})
@login_required
def download(workshop_id, form_id, kind):
    workshops.get_workshop_for(g.user, workshop_id)
    form = forms.get_form(form_id)
    if form["workshop_id"] != workshop_id or kind not in ("pdf", "layout.json"):
        abort(404)
    pdf, layout = forms.form_files(form)
    path = pdf if kind == "pdf" else layout
    if not path.exists():
        abort(404)
    return send_file(
        path,
        mimetype="application/pdf" if kind == "pdf" else "application/json",
        as_attachment=True,
        download_name=f"engage-form-{form_id}.{kind}",
    )
