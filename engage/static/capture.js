// The capture screen saves ideas, comments and votes without loading the page again:
// the focus stays where the facilitator is, the confirmation and its undo appear next to
// what was saved, and a screen reader hears it. The server answers only after the save
// is committed. Anything unexpected (no answer, an expired form, a server error) falls
// back to sending the form the ordinary way; its one-time submission id means a save
// that did arrive is never made twice.
(function () {
  "use strict";
  var status = document.getElementById("capture-status");
  var undoTemplate = document.getElementById("undo-template");
  var entryTemplate = document.getElementById("entry-template");
  if (!status || !window.fetch || !window.URLSearchParams) { return; }

  function newSubmissionId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function announce(text) {
    // Emptied first, so saying the same words twice is still heard twice.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function clearNotices() {
    // An undo still showing belongs to an earlier entry, no longer the last one.
    document.querySelectorAll(".saved-here, .capture-error, form.undo").forEach(function (old) { old.remove(); });
    document.querySelectorAll("[data-capture] [aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
      field.removeAttribute("aria-describedby");
    });
  }

  function placeFor(form) {
    return form.closest("article.idea") || form.closest("section") || form.parentNode;
  }

  function showSaved(form, answer) {
    var notice = document.createElement("div");
    notice.className = "messages saved-here";
    var message = document.createElement("p");
    message.className = "message message-success";
    message.textContent = answer.message;
    notice.appendChild(message);
    if (answer.undo && undoTemplate) {
      var undo = undoTemplate.content.firstElementChild.cloneNode(true);
      undo.querySelector("[name=revision_id]").value = answer.undo.revision_id;
      notice.appendChild(undo);
    }
    placeFor(form).appendChild(notice);
    announce(answer.message);
  }

  function showRefused(form, answer) {
    var notice = document.createElement("p");
    notice.className = "message message-error capture-error";
    notice.id = "capture-error";
    notice.textContent = answer.message;
    var field = form.querySelector("[name=text]");
    if (answer.field && answer.field !== "text" && answer.field.indexOf("comment-") !== 0) {
      field = form.querySelector("[name='" + answer.field + "']") || field;
    }
    if (field) {
      field.parentNode.insertBefore(notice, field);
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", notice.id);
      field.focus();
    } else {
      form.insertBefore(notice, form.firstChild);
    }
    announce(answer.message);
  }

  // The words around an entry come from the page, in its language.
  function said(name) { return entryTemplate.getAttribute("data-" + name) || ""; }

  function voteLabel(form, vote) {
    var button = form.querySelector("button[name=vote][value='" + vote + "']");
    return button ? button.textContent.trim() : vote;
  }

  function showEntry(form, entry) {
    var list = document.getElementById("entries-list");
    if (!list || !entryTemplate) { return; }
    var item = list.querySelector('[data-record="' + entry.id + '"]');
    var fresh = entryTemplate.content.firstElementChild.cloneNode(true);
    fresh.setAttribute("data-record", entry.id);
    fresh.querySelector(".kind").textContent = said(entry.kind);
    var words = fresh.querySelector(".words");
    if (entry.kind === "vote") {
      words.textContent = voteLabel(form, entry.vote);
    } else {
      words.textContent = entry.text;
      if (entry.language) { words.setAttribute("lang", entry.language); }
    }
    fresh.querySelector(".translation").textContent = entry.translation ? "(" + entry.translation + ")" : "";
    fresh.querySelector(".corrected").textContent = entry.revision > 1 ? said("corrected") : "";
    var link = fresh.querySelector("a.correct");
    link.href = said("edit-url").replace("%7Brecord%7D", encodeURIComponent(entry.id));
    if (item) {
      link.lastElementChild.textContent = item.querySelector("a .visually-hidden").textContent;
      list.replaceChild(fresh, item);
    } else {
      link.lastElementChild.textContent = " " + (list.children.length + 1);
      list.appendChild(fresh);
    }
    list.hidden = false;
    var none = document.getElementById("entries-none");
    if (none) { none.hidden = true; }
  }

  function markShown(form) {
    var article = form.closest("article.idea");
    var count = document.getElementById("shown-count");
    if (!article || article.hasAttribute("data-shown")) { return; }
    article.setAttribute("data-shown", "");
    if (count && count.getAttribute("data-template")) {
      var shown = document.querySelectorAll("article.idea[data-shown]").length;
      count.textContent = count.getAttribute("data-template").replace("1000000001", String(shown));
    }
  }

  function afterSave(form, answer) {
    form.querySelector("[name=submission_id]").value = newSubmissionId();
    if (answer.entry && answer.entry.kind === "vote") {
      form.querySelectorAll("button[name=vote]").forEach(function (button) {
        button.classList.toggle("chosen", button.value === answer.entry.vote);
      });
      var saved = form.querySelector("p.meta");
      if (saved) { saved.textContent = said("saved-vote").replace("{vote}", voteLabel(form, answer.entry.vote)); }
    } else {
      form.querySelectorAll("textarea").forEach(function (box) { box.value = ""; });
      form.querySelectorAll("input[type=text]").forEach(function (box) { box.value = ""; });
    }
    if (answer.entry) {
      showEntry(form, answer.entry);
      if (answer.entry.kind !== "idea") { markShown(form); }
    }
  }

  function sendTheOrdinaryWay(form, submitter) {
    if (submitter && submitter.name) {
      var chosen = document.createElement("input");
      chosen.type = "hidden";
      chosen.name = submitter.name;
      chosen.value = submitter.value;
      form.appendChild(chosen);
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  document.querySelectorAll("form[data-capture]").forEach(function (form) {
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; }  // a second press while the first is on its way
      var submitter = event.submitter;
      var body = new URLSearchParams(new FormData(form));
      if (submitter && submitter.name) { body.set(submitter.name, submitter.value); }
      busy = true;
      form.setAttribute("aria-busy", "true");
      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!json || (response.status !== 200 && response.status !== 400)) { throw new Error(response.status); }
        return response.json().then(function (answer) { return { status: response.status, answer: answer }; });
      }).then(function (result) {
        busy = false;
        form.removeAttribute("aria-busy");
        clearNotices();
        if (result.status === 200 && result.answer.saved) {
          afterSave(form, result.answer);
          showSaved(form, result.answer);
        } else {
          showRefused(form, result.answer);
        }
      }).catch(function () {
        sendTheOrdinaryWay(form, submitter);
      });
    });
  });
}());
