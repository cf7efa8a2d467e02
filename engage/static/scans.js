// Scanned forms: single-key answers on the review page, Ctrl+Enter to save a
// transcription, and an upload that sends one file at a time with its progress. Every
// page works without this script; it only saves keystrokes and waiting in the dark.
(function () {
  "use strict";

  function typing(target) {
    var name = target && target.tagName;
    return name === "INPUT" || name === "TEXTAREA" || name === "SELECT" || (target && target.isContentEditable);
  }

  // Review: the key shown on a button chooses it.
  var review = document.querySelector(".review-item[data-shortcuts]");
  if (review) {
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      var key = (event.key || "").toLowerCase();
      if (key.length !== 1) { return; }
      var target = review.querySelector('[data-key="' + key + '"]');
      if (target) {
        event.preventDefault();
        target.click();
      }
    });
  }

  // Transcription: Enter makes a new line; Ctrl+Enter (or Cmd+Enter) saves.
  var transcription = document.getElementById("transcription");
  if (transcription) {
    transcription.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        var save = transcription.querySelector("[data-save]");
        if (transcription.requestSubmit) { transcription.requestSubmit(save); } else { save.click(); }
      }
    });
  }

  // Upload: each file in its own request, so each shows its progress, and the results
  // of each appear as soon as it is read.
  var form = document.getElementById("scan-upload");
  if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
  var input = form.querySelector('input[type="file"]');
  var token = form.querySelector('input[name="csrf_token"]');
  var button = form.querySelector('button[type="submit"]');
  var box = document.getElementById("upload-progress");
  var text = document.getElementById("upload-progress-text");
  var bar = document.getElementById("upload-progress-bar");
  var section = document.getElementById("upload-results-section");
  var results = document.getElementById("upload-results");
  var heading = document.getElementById("results-heading");

  function say(template, name) { text.textContent = template.replace("{name}", name); }

  function send(files, index) {
    if (index >= files.length) {
      text.textContent = form.getAttribute("data-finished");
      bar.removeAttribute("value");
      bar.value = 100;
      button.disabled = false;
      input.value = "";
      heading.focus();
      return;
    }
    var file = files[index];
    var data = new FormData();
    data.append("csrf_token", token.value);
    data.append("scans", file, file.name);
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    say(form.getAttribute("data-sending"), file.name);
    bar.value = 0;
    request.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { bar.value = Math.round(100 * event.loaded / event.total); }
    });
    request.upload.addEventListener("load", function () {
      say(form.getAttribute("data-reading"), file.name);
      bar.removeAttribute("value");  // reading: no measure of how far, only that it goes on
    });
    request.addEventListener("load", function () {
      section.hidden = false;
      var holder = document.createElement("div");
      if (request.getResponseHeader("X-Scan-Results")) {
        holder.innerHTML = request.responseText;
        // The counts at the top of the page, as they are now.
        var summary = holder.querySelector("[data-summary]");
        var shown = document.getElementById("scan-summary");
        if (summary) {
          if (shown && summary.firstElementChild) { shown.replaceWith(summary.firstElementChild); }
          summary.remove();
        }
      } else {
        var p = document.createElement("p");
        p.className = "message message-error";
        p.textContent = form.getAttribute("data-failed").replace("{name}", file.name);
        holder.appendChild(p);
      }
      results.appendChild(holder);
      send(files, index + 1);
    });
    request.addEventListener("error", function () {
      section.hidden = false;
      var p = document.createElement("p");
      p.className = "message message-error";
      p.textContent = form.getAttribute("data-failed").replace("{name}", file.name);
      results.appendChild(p);
      send(files, index + 1);
    });
    request.send(data);
  }

  form.addEventListener("submit", function (event) {
    if (!input.files || !input.files.length) { return; }
    event.preventDefault();
    button.disabled = true;
    box.hidden = false;
    send(Array.prototype.slice.call(input.files), 0);
  });
})();
