// The kiosk forgets a participant after a while with no input, so the next person never
// sees the last one's answers. A warning comes first, with a button to carry on.
(function () {
  "use strict";
  var body = document.body;
  var idle = Number(body.getAttribute("data-idle-seconds")) || 180;
  var warnFor = Math.min(30, Math.floor(idle / 2));
  var warning = document.getElementById("idle-warning");
  var carryOn = document.getElementById("idle-continue");
  var behind = [document.getElementById("main"), document.querySelector(".kiosk-footer")];
  var returnTo = null;
  var warnTimer = null;
  var resetTimer = null;

  // While the warning shows, the screen behind it cannot take the focus, so Tab never
  // lands on something hidden under it; afterwards the focus goes back where it was.
  function setBehindInert(inert) {
    behind.forEach(function (element) { if (element) { element.inert = inert; } });
  }

  function reset() {
    var form = document.createElement("form");
    form.method = "post";
    form.action = body.getAttribute("data-reset-url");
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = body.getAttribute("data-csrf");
    form.appendChild(token);
    body.appendChild(form);
    form.submit();
  }

  function warn() {
    returnTo = document.activeElement;
    setBehindInert(true);
    warning.hidden = false;
    carryOn.focus();
    resetTimer = window.setTimeout(reset, warnFor * 1000);
  }

  function activity() {
    if (!warning.hidden) { return; }
    window.clearTimeout(warnTimer);
    warnTimer = window.setTimeout(warn, (idle - warnFor) * 1000);
  }

  carryOn.addEventListener("click", function () {
    window.clearTimeout(resetTimer);
    warning.hidden = true;
    setBehindInert(false);
    if (returnTo && returnTo !== body && document.contains(returnTo)) { returnTo.focus(); }
    returnTo = null;
    activity();
  });
  warning.addEventListener("keydown", function (event) {
    if (event.key === "Tab") {  // the one button is the whole dialog
      event.preventDefault();
      carryOn.focus();
    } else if (event.key === "Escape") {
      carryOn.click();
    }
  });
  ["keydown", "pointerdown", "input", "touchstart", "wheel"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true });
  });
  activity();
})();
