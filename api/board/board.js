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

  function cell(row, cls, content) {
    const td = row.insertCell();
    td.className = cls;
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    return td;
  }

  function drawStations(stations) {
    const most = Math.max(1, ...stations.map((s) => s.wip));
    const body = document.createElement("tbody");
    body.id = "stations";
    for (const s of stations) {
      const row = body.insertRow();
      row.className = s.wip ? "busy" : "empty";
      row.dataset.station = s.code;
      cell(row, "code", s.code);
      cell(row, "desc", s.desc);
      cell(row, "wip", s.wip);
      cell(row, "held", s.onHold ? s.onHold + " held" : "");
      const bar = document.createElement("div");
      bar.style.width = (100 * s.wip / most) + "%";
      cell(row, "bar", bar);
    }
    $("stations").replaceWith(body);
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
    text("oldest-flag", board.oldestFlag ? "oldest " + ago(board.oldestFlag, board.generatedAt) : "");
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
