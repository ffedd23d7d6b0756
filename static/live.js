// Live status for the dashboard: each second, while the tab is visible, ask which of the page's rows changed
// (or, on the overview, for fresh figures) and update them in place. Hidden tabs ask nothing.
(function () {
  "use strict";
  var INTERVAL_MS = 1000;

  function liveRows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live-id]"));
  }

  function setField(row, name, value) {
    var cell = row.querySelector('[data-field="' + name + '"]');
    if (!cell) return false;
    if (name === "status") {
      var badge = cell.querySelector(".badge");
      if (!badge || badge.textContent === value) return false;
      badge.textContent = value;
      badge.className = "badge badge-" + value;
      return true;
    }
    if (cell.textContent === String(value)) return false;
    cell.textContent = value;
    return true;
  }

  // Parts of a page that depend on a row's state (its attempt log, the actions it allows) are fetched
  // again from the page's own URL when a row changes, and swapped in by id.
  function refreshParts() {
    var parts = document.querySelectorAll("[data-live-refresh][id]");
    if (!parts.length) return;
    fetch(window.location.href, {credentials: "same-origin"})
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        parts.forEach(function (part) {
          var replacement = fresh.getElementById(part.id);
          if (replacement) part.replaceWith(document.importNode(replacement, true));
        });
      })
      .catch(function () { /* the next change tries again */ });
  }

  function applyRows(rows) {
    var anyChanged = false;
    rows.forEach(function (state) {
      document.querySelectorAll('[data-live-id="' + state.id + '"]').forEach(function (row) {
        var changed = false;
        ["status", "attempts", "sent_at", "last_error"].forEach(function (name) {
          changed = setField(row, name, state[name]) || changed;
        });
        if (changed) {
          row.classList.remove("changed");
          void row.offsetWidth;  // restart the highlight
          row.classList.add("changed");
          row.dataset.liveStatus = state.status;
          anyChanged = true;
        }
      });
    });
    if (anyChanged) refreshParts();
  }

  function pollRows(root) {
    var ids = liveRows().map(function (row) { return row.dataset.liveId; });
    if (!ids.length) return Promise.resolve();
    var url = root.dataset.liveUrl + "?ids=" + ids.slice(0, 200).join(",") +
      "&since=" + encodeURIComponent(root.dataset.liveSince);
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (answer) { root.dataset.liveSince = answer.since; applyRows(answer.rows); });
  }

  function pollOverview(root) {
    return fetch(root.dataset.liveOverview, {credentials: "same-origin"})
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.text(); })
      .then(function (html) { root.innerHTML = html; });
  }

  function start() {
    var rowsRoot = document.querySelector("[data-live-url]");
    var overview = document.querySelector("[data-live-overview]");
    if (!rowsRoot && !overview) return;
    var timer = null, busy = false;
    function schedule() {
      if (!timer && !document.hidden) timer = setTimeout(tick, INTERVAL_MS);
    }
    function tick() {
      timer = null;
      if (document.hidden || busy) return;  // a hidden tab resumes on visibilitychange; a busy one on its answer
      busy = true;
      var asks = [];
      if (rowsRoot) asks.push(pollRows(rowsRoot));
      if (overview) asks.push(pollOverview(overview));
      Promise.all(asks).catch(function () { /* a missed second; the next ask catches up */ })
        .then(function () { busy = false; schedule(); });
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) return;
      clearTimeout(timer);
      timer = null;
      tick();
    });
    schedule();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
