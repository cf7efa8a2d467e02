"""What people are told when sync refuses something: what happened and what to do."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

REFUSALS = {
    "not-sync": _l("This is not an engage sync file. Check that you chose the file the laptop "
                   "made."),
    "version": _l("This file was made by a newer version of engage. Update engage here, then "
                  "try again."),
    "truncated": _l("This file is cut short, so nothing was applied. Copy it from the laptop "
                    "again, or make a new file there."),
    "altered": _l("This file was changed after the laptop made it, so nothing was applied. "
                  "Make a new file on the laptop."),
    "bad-signature": _l("This file was not signed by the laptop it names, so nothing was "
                        "applied. It may have been changed, or made somewhere else."),
    "wrong-hub": _l("This file was sealed for a different hub, so it cannot be opened here. "
                    "Nothing was applied."),
    "unknown-device": _l("This comes from a laptop that is not enrolled with this hub, so "
                         "nothing was applied. Enrol the laptop first."),
    "revoked": _l("This laptop's enrolment was withdrawn, so nothing was applied. Enrol the "
                  "laptop again."),
    "cannot-decrypt": _l("This file cannot be opened with this hub's key, so nothing was "
                         "applied."),
    "bad-payload": _l("The contents of this file cannot be read, so nothing was applied. Make "
                      "a new file on the laptop."),
    "bad-manifest": _l("The contents of this file do not match its list of contents, so "
                       "nothing was applied. Make a new file on the laptop."),
    "bad-header": _l("The start of this file cannot be read, so nothing was applied. Make a "
                     "new file on the laptop."),
    "gap": _l("This starts after what the hub holds from that laptop, so nothing was "
              "applied. Receive the earlier file first, or connect the laptop to the hub."),
    "other-laptop": _l("Another laptop is already using this enrolment, so nothing was "
                       "applied. Enrol this laptop with a new code."),
    "newer-laptop": _l("The laptop has a newer version of engage than the hub, so nothing was "
                       "applied. Update engage on the hub, then try again."),
    "unknown-table": _l("This holds data the hub does not take, so nothing was applied. Update "
                        "engage on the hub, then try again."),
}
REFUSED = _l("This could not be applied, so nothing was changed.")

ENROL_MESSAGES = {
    "name": _l("Give the laptop a name of up to 80 characters, such as the name on its label."),
    "unknown": _l("That enrolment code is not known here. Check it, or ask for a new one."),
    "used": _l("That enrolment code has been used already. Ask a coordinator for a new one."),
    "expired": _l("That enrolment code has expired. Ask a coordinator for a new one."),
    "key": _l("The laptop's key was not sent properly. Try enrolling again."),
    "not-file": _l("That is not an enrolment file. Choose the file the hub made."),
    "wrong-code": _l("That code does not open this enrolment file. Check the code and try "
                     "again."),
}


def refusal_message(reason: str):
    return REFUSALS.get(reason, REFUSED)


#: What each kind of conflict means, for the coordinator who deals with it.
CONFLICTS = {
    "changed": _l("The hub already had this row with different content, and it is not a row "
                  "that may change."),
    "older": _l("This is an older copy of a row the hub holds a newer copy of, as a laptop "
                "restored from a backup sends. The hub kept its newer copy."),
    "other-owner": _l("Another laptop or the hub made this row, and only the device that made "
                      "a row may change it."),
    "same-record": _l("This is a second first version of a record the hub already had."),
    "follows-conflict": _l("This corrects an entry that is itself waiting here as a "
                           "conflict."),
    "missing-base": _l("This corrects an entry the hub does not have."),
    "fork": _l("This corrects an entry the hub already has another correction of."),
    "missing-reference": _l("This refers to something the hub does not have."),
    "unique-clash": _l("This clashes with a row the hub already has that must be unique."),
}


def conflict_explanation(kind: str):
    """The kind's explanation, or the kind itself for one this version does not know."""
    return CONFLICTS.get(kind, kind)
