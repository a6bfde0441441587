// pq dashboard: the little JavaScript it has. Everything works without it; with it, the
// live part of each page refreshes every few seconds and actions ask in a dialog first.
(function () {
  "use strict";
  var leaving = false;

  // Actions: ask, then tell the server the question was answered (no confirmation page).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (!question) return;
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    leaving = true; // no refresh swaps the page while the action is on its way
    var flag = document.createElement("input");
    flag.type = "hidden";
    flag.name = "confirmed";
    flag.value = "yes";
    form.appendChild(flag);
  });

  // Live numbers: fetch the same URL with X-PQ-Partial and swap the live part in place.
  var live = document.querySelector("[data-live]");
  var stamp = document.getElementById("refreshed");
  if (!live || !stamp) return;
  var every = parseInt(stamp.getAttribute("data-every"), 10) || 3000;
  var busy = false;
  // A swap between a button's press and its release would take the button away from under
  // the pointer and lose the click: no swap while a pointer is pressed.
  var pressed = false;
  document.addEventListener("pointerdown", function () {
    pressed = true;
  }, true);
  ["pointerup", "pointercancel"].forEach(function (kind) {
    document.addEventListener(kind, function () {
      pressed = false;
    }, true);
  });

  function refresh() {
    if (busy || leaving || pressed || document.hidden) return;
    busy = true;
    fetch(window.location.href, {
      headers: { "X-PQ-Partial": "1" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (leaving || pressed) return; // the next refresh brings it
        live.innerHTML = html; // the server's own escaped template output
        stamp.textContent = "updated " + new Date().toLocaleTimeString();
        stamp.className = "";
      })
      .catch(function (error) {
        if (leaving) return; // e.g. the task this page showed was just deleted
        stamp.textContent = "not updated: " + error.message;
        stamp.className = "bad";
      })
      .finally(function () {
        busy = false;
      });
  }

  // Back to this page from the browser's cache: it shows again, so it refreshes again.
  window.addEventListener("pageshow", function () {
    leaving = false;
  });
  window.setInterval(refresh, every);
})();
