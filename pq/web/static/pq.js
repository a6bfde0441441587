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

  function refresh() {
    if (busy || leaving || document.hidden) return;
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
        if (leaving) return;
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
