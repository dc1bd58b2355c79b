// The lab board: reads GET /api/sim/board every POLL_MS and redraws. No library, no network
// beyond this server. With SIM_ADMIN_KEY set, open the page as /board#key=<the key>.
"use strict";
(function () {
  const POLL_MS = 1500;
  const DATA = "api/sim/board";
  const key = new URLSearchParams(location.hash.slice(1)).get("key");
  const headers = key ? { "X-API-Key": key } : {};
  const $ = (id) => document.getElementById(id);

  function text(id, value) { $(id).textContent = String(value); }

  function ago(iso, now) {
    if (!iso) return "never";
    const seconds = Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 1000));
    if (seconds < 120) return seconds + " s ago";
    if (seconds < 7200) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }

  function clock(iso) { return new Date(iso).toLocaleTimeString([], { hour12: false }); }

  function part(parent, cls, content) {
    const div = document.createElement("div");
    div.className = cls;
    if (content !== undefined) div.textContent = content;
    parent.appendChild(div);
    return div;
  }

  function drawStations(stations) {
    const most = Math.max(1, ...stations.map((s) => s.wip));
    const grid = document.createElement("div");
    grid.id = "stations";
    for (const s of stations) {
      const card = part(grid, "station " + (s.wip ? "busy" : "empty"));
      card.dataset.station = s.code;
      part(card, "code", s.code);
      part(card, "wip", s.wip);
      part(card, "desc", s.desc);
      part(card, "held", s.onHold ? s.onHold + " on hold" : "");
      part(part(card, "bar"), "fill").style.width = (100 * s.wip / most) + "%";
    }
    $("stations").replaceWith(grid);
  }

  function drawEvents(events) {
    const list = document.createElement("ol");
    list.id = "events";
    for (const e of events) {
      const item = document.createElement("li");
      item.className = e.kind;
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = clock(e.time);
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = e.kind === "rejected"
        ? "#" + e.orderNumber + " rejected, code " + e.code
        : e.kind === "completed"
          ? "#" + e.orderNumber + " completed"
          : "#" + e.orderNumber + " at " + e.station;
      item.append(time, what);
      list.appendChild(item);
    }
    $("events").replaceWith(list);
  }

  function draw(board) {
    text("active", board.active);
    text("not-started", board.notStarted);
    text("on-hold", board.onHold);
    text("flagged", board.flagged);
    text("import-waiting", board.importWaiting);
    const perMinute = (board.imported / board.windowMinutes).toFixed(1);
    text("import-sub", (board.importPaused ? "paused · " : "")
      + (board.oldestSubmission ? "oldest " + ago(board.oldestSubmission, board.generatedAt) + " · " : "")
      + perMinute + " imported/min");
    text("oldest-flag", board.oldestFlag ? "oldest " + ago(board.oldestFlag, board.generatedAt) : "");
    text("tickets", board.tickets);
    const last = board.lastTicket;
    text("last-ticket", last ? "last #" + last.orderNumber + " on " + last.port + " "
      + ago(last.printedAt, board.generatedAt) : "");
    text("completed", board.completed);
    text("rejected", board.rejected);
    text("rejected-by-code", board.rejectedByCode.map((c) => c.code + ": " + c.count).join("  "));
    for (const w of document.querySelectorAll(".window")) w.textContent = "(" + board.windowMinutes + " min)";
    const tracker = $("tracker");
    tracker.className = "pill " + (board.trackerRunning ? "running" : "stopped");
    tracker.textContent = "Job Tracker " + (board.trackerRunning ? "running" : "stopped")
      + " · beat " + ago(board.lastHeartbeat, board.generatedAt);
    drawStations(board.stations);
    drawEvents(board.events);
    text("updated", "updated " + clock(board.generatedAt));
    document.body.dataset.generatedAt = board.generatedAt;
    $("problem").hidden = true;
  }

  function trouble(message) {
    $("problem").textContent = message;
    $("problem").hidden = false;
  }

  async function poll() {
    try {
      const response = await fetch(DATA, { headers, cache: "no-store" });
      if (response.ok) {
        draw(await response.json());
      } else if (response.status === 401) {
        trouble("The simulator admin key is needed: open this page as /board#key=<key>");
      } else {
        trouble("The API answered " + response.status + "; retrying");
      }
    } catch (error) {
      trouble("The API cannot be reached; retrying");
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
