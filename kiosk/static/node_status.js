// Station node: online/offline, items waiting, last sync — from /api/v1/node/status every 3 s.
(function () {
  "use strict";
  const el = document.getElementById("node-status");
  if (!el) return;
  const T = JSON.parse(el.dataset.text || "{}");
  const $ = (id) => document.getElementById(id);
  const set = (id, v) => { const e = $(id); if (e) e.textContent = String(v); };
  const two = (n) => String(n).padStart(2, "0");
  function when(iso) {
    if (!iso) return T.never;
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    const today = new Date().toDateString() === d.toDateString();
    const hms = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    return today ? hms : `${d.getMonth() + 1}-${d.getDate()} ${hms}`;
  }
  async function tick() {
    try {
      const r = await fetch("/api/v1/node/status", {headers: {Accept: "application/json"}, cache: "no-store"});
      const j = await r.json();
      if (j.ok && j.node) {
        const state = j.online === true ? "online" : j.online === false ? "offline" : "unknown";
        el.dataset.state = state;
        set("node-online", T[state]);
        set("node-waiting", j.waiting);
        set("node-photos", j.waiting_photos);
        set("node-approvals", j.waiting_approvals);
        set("node-last", when(j.last_sync_at));
        set("node-refused", j.refused);
        $("node-refused-wrap").hidden = !j.refused;
        set("node-pending", j.server_pending);
        $("node-pending-wrap").hidden = !j.server_pending;
        const err = $("node-error");
        err.hidden = !j.last_error;
        err.textContent = j.last_error ? `[${j.last_error.code}] ${j.last_error.message}` : "";
        err.title = (j.last_error && j.last_error.detail) || "";   // the technical reason, on hover
      }
    } catch (e) {
      el.dataset.state = "unknown";
      set("node-online", T.unknown);
    }
    el.dataset.polled = String((Number(el.dataset.polled) || 0) + 1);
    setTimeout(tick, 3000);
  }
  tick();

  // The student at the camera: warn when the server already has their approved photo
  // (approving here would only open a review item), or withdrew them (as of the last pull;
  // the station then refuses to capture them, and the card says so too).
  const xhEl = $("student-xh");
  const note = $("node-student-note");
  let shown = null;
  async function checkStudent() {
    const xh = xhEl ? xhEl.textContent.trim() : "";
    if (xh === shown) return;
    shown = xh;
    note.hidden = true;
    if (!xh) return;
    try {
      const r = await fetch("/api/v1/node/students/" + encodeURIComponent(xh), {headers: {Accept: "application/json"}});
      const j = await r.json();
      if (!j.ok || !j.node || shown !== xh) return;
      const msg = j.withdrawn ? T.withdrawn : j.server_approved ? T.server_approved : "";
      note.textContent = msg;
      note.hidden = !msg;
      note.dataset.xh = xh;
    } catch (e) { /* the status bar already says when something is wrong */ }
  }
  if (xhEl && note) {
    new MutationObserver(checkStudent).observe(xhEl, {childList: true, characterData: true, subtree: true});
    checkStudent();
  }
})();
