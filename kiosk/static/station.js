/* Operator station: find the student, live preview with guidance, capture, decide.
 *
 * Talks to /api/v1/station (JSON; image bodies posted raw with the X-CSRFToken header).
 * Every answer that changes something carries the whole station state, and the page
 * renders from it; a reload fetches the same state, so the page resumes where it was.
 * Keyboard first: Enter (search in the search box, else capture), A approve, R retake,
 * Q scan the 采集码, N next student, / search, 1–4 tick the checklist, Esc close.
 */
(function () {
  "use strict";

  var API = "/api/v1/station";
  var CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var TEXT = window.ST_TEXT || {};
  var root = document.getElementById("station");
  var KIND = root.dataset.camera || "browser";
  var GUIDE_PERIOD_MS = 180;      // several hint updates per second, paced by the server's answers
  var PREVIEW_WIDTH = 640;        // frames sent for guidance
  var MIN_W = 1280, MIN_H = 720;  // a spec photo needs this much
  // The capture is kept as the original: encode it at full quality.  (At 0.92 Chromium's
  // JPEG noise was enough to move the spec photo's sharpness from pass to warn.)
  var CAPTURE_QUALITY = 1.0;

  function T(s, vars) {
    var out = TEXT[s] || s;
    if (vars) { Object.keys(vars).forEach(function (k) { out = out.split("{" + k + "}").join(vars[k]); }); }
    return out;
  }
  function $(id) { return document.getElementById(id); }
  function show(el, on) { el.hidden = !on; }
  function text(el, s) { el.textContent = s == null ? "" : String(s); }

  var state = null;
  var busy = false;
  var lastHints = null;
  var video = $("video"), overlay = $("overlay"), preview = $("server-preview");

  // ------------------------------------------------------------------ HTTP
  function api(method, path, body, headers) {
    var opts = { method: method, headers: Object.assign({ "X-CSRFToken": CSRF, "Accept": "application/json" }, headers || {}),
                 credentials: "same-origin" };
    if (body instanceof Blob) { opts.body = body; opts.headers["Content-Type"] = body.type || "image/jpeg"; }
    else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    return fetch(API + path, opts).then(function (r) {
      return r.json().catch(function () { return { ok: false, error: { code: "http_" + r.status, message: T("网络错误，请重试") } }; })
        .then(function (j) {
          if (r.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); }
          return j;
        });
    }, function () { return { ok: false, error: { code: "network", message: T("网络错误，请重试") } }; });
  }

  function toast(msg, kind) {
    var t = $("toast");
    text(t, msg);
    t.className = "st-toast " + (kind || "ok");
    show(t, true);
    clearTimeout(toast._t);
    toast._t = setTimeout(function () { show(t, false); }, 3500);
  }

  function setBusy(on, msg) {
    busy = on;
    text($("busy"), msg || T("处理中…"));
    show($("busy"), on);
  }

  // ------------------------------------------------------------------ render
  function render(st) {
    state = st;
    renderStudent(st.student);
    renderResult(st.result);
    renderProgress(st.progress, st.queue);
    updateCaptureButton();
  }

  function renderStudent(s) {
    show($("student-card"), !!s);
    if (!s) { return; }
    // withdrawn from the roster: shown, never photographed (the server refuses too)
    var wd = $("student-withdrawn");
    text(wd, s.withdrawn ? s.withdrawn_note : "");
    show(wd, !!s.withdrawn);
    $("student-card").classList.toggle("withdrawn", !!s.withdrawn);
    text($("student-name"), s.name);
    text($("student-xh"), s.xh);
    text($("student-idn"), s.id_masked);
    text($("student-major"), [s.level, s.major].filter(Boolean).join(" · "));
    text($("student-class"), [s.centre, s.class_name].filter(Boolean).join(" · "));
    var badge = $("student-status");
    text(badge, s.status_label);
    badge.className = "badge " + (s.status || "");
    text($("collect-code"), s.collect_code ? s.collect_code : T("未登记"));
    $("collect-code").className = s.collect_code ? "st-code" : "muted";
    var ref = $("reference-img");
    if (s.reference_url) { ref.src = s.reference_url; show(ref, true); text($("reference-label"), ""); }
    else { ref.removeAttribute("src"); show(ref, false); text($("reference-label"), T("无参考照片")); }
    var ap = $("approved-img");
    if (s.approved_url) { ap.src = s.approved_url + "?v=" + s.approved_version; show(ap, true); }
    else { ap.removeAttribute("src"); show(ap, false); }
  }

  function renderResult(r) {
    var on = !!r;
    show($("result"), on);
    show($("live"), !on);
    show($("decision-msg"), false);
    if (!on) { return; }
    var img = $("result-img");
    if (r.annotated_url) { img.src = r.annotated_url + "?v=" + r.photo_id; show(img, true); }
    else { img.removeAttribute("src"); show(img, false); }
    var v = $("verdict");
    text(v, r.verdict_label);
    v.className = "verdict " + r.verdict;
    var meta = T("第 {v} 版", { v: r.version });
    if (r.timings_ms && r.timings_ms.total_ms) { meta += " · " + T("耗时 {ms} ms", { ms: Math.round(r.timings_ms.total_ms) }); }
    text($("result-meta"), meta);
    // refusal (no spec photo could be made)
    var ref = $("refusal");
    ref.innerHTML = "";
    if (r.refusal) {
      var p = document.createElement("p");
      p.className = "st-refusal-msg";
      text(p, r.refusal.message);
      ref.appendChild(p);
      if (r.refusal.hints && r.refusal.hints.length) {
        var ul = document.createElement("ul");
        r.refusal.hints.forEach(function (h) { var li = document.createElement("li"); text(li, h); ul.appendChild(li); });
        ref.appendChild(ul);
      }
    }
    show(ref, !!r.refusal);
    // checks that did not pass: what, the numbers, and what to do (Chinese first)
    var ul = $("problems");
    ul.innerHTML = "";
    r.problems.forEach(function (c) {
      var li = document.createElement("li");
      li.className = "check-" + c.status;
      li.dataset.check = c.check;
      var head = document.createElement("div");
      head.className = "st-problem-head";
      var b = document.createElement("span");
      b.className = "badge " + c.status;
      text(b, c.status_label);
      var title = document.createElement("b");
      text(title, (c.label_zh || "") + (c.label_zh ? "（" + c.check + "）" : c.check));
      var nums = document.createElement("span");
      nums.className = "muted";
      text(nums, [c.measured ? T("测量值") + " " + c.measured : "", c.expected ? T("要求") + " " + c.expected : ""]
        .filter(Boolean).join(" · "));
      head.appendChild(b); head.appendChild(title); head.appendChild(nums);
      var msg = document.createElement("div");
      msg.className = "st-problem-msg";
      text(msg, c.message);
      li.appendChild(head);
      li.appendChild(msg);
      ul.appendChild(li);
    });
    show(ul, r.problems.length > 0);
    show($("all-pass"), r.verdict === "pass" && !r.problems.length);
    var notes = $("notes");
    notes.innerHTML = "";
    (r.notes || []).forEach(function (c) {
      var li = document.createElement("li");
      text(li, T("未评估") + "：" + (c.message || c.check));
      notes.appendChild(li);
    });
    show(notes, !!(r.notes && r.notes.length));
    // checklist and decision buttons
    var boxes = checklistBoxes();
    boxes.forEach(function (b) { if (b.dataset.photo !== String(r.photo_id)) { b.checked = false; b.dataset.photo = r.photo_id; } });
    show($("checklist"), r.decidable);
    $("checklist").classList.toggle("required", !!r.needs_checklist);
    show($("approve-btn"), r.decidable);
    show($("override-btn"), r.decidable && r.needs_admin);
    updateApproveButton();
  }

  function renderProgress(p, queue) {
    text($("progress-captured"), p.captured + " / " + p.total);
    text($("progress-approved"), p.approved);
    text($("progress-remaining"), p.remaining);
    text($("progress-session"), T("已采集") + " " + p.session_captured + " · " + T("已通过") + " " + p.session_approved);
    var ol = $("queue");
    ol.innerHTML = "";
    queue.forEach(function (q) {
      var li = document.createElement("li");
      li.dataset.id = q.id;
      var a = document.createElement("a");
      a.href = "#";
      text(a, q.name + " " + q.xh);
      a.addEventListener("click", function (e) { e.preventDefault(); selectStudent(q.id, "queue"); });
      var why = document.createElement("span");
      why.className = "muted";
      text(why, " " + q.reason);
      li.appendChild(a);
      li.appendChild(why);
      ol.appendChild(li);
    });
    if (!queue.length) { var li = document.createElement("li"); li.className = "muted"; text(li, T("无")); ol.appendChild(li); }
    $("next-btn").disabled = !queue.length;
  }

  function checklistBoxes() { return Array.prototype.slice.call(document.querySelectorAll('#checklist input[name="check"]')); }
  function ticked() { return checklistBoxes().filter(function (b) { return b.checked; }).map(function (b) { return b.value; }); }

  function updateApproveButton() {
    var r = state && state.result;
    var btn = $("approve-btn");
    if (!r || !r.decidable) { btn.disabled = true; return; }
    var all = ticked().length === checklistBoxes().length;
    btn.disabled = r.needs_admin || (r.needs_checklist && !all);
    btn.title = r.needs_admin ? T("本照片未通过检查：只能重拍，或由管理员填写理由后批准")
      : (r.needs_checklist && !all ? T("请勾选全部人工检查项后再批准") : "");
  }

  function withdrawn() { return !!(state && state.student && state.student.withdrawn); }

  function updateCaptureButton() {
    $("capture-btn").disabled = !(state && state.student) || !!(state && state.result) || withdrawn();
    $("capture-btn").title = withdrawn() ? state.student.withdrawn_note : "";
    if (withdrawn()) {
      var box = $("hints");
      text(box, state.student.withdrawn_note);
      box.className = "st-hints notready";
      drawOverlay(null);            // no framing guide for a student who is not photographed
    }
  }

  function decisionError(err) {
    var m = $("decision-msg");
    text(m, err.message);
    m.dataset.code = err.code;
    show(m, true);
  }

  // ------------------------------------------------------------------ search & select
  function search() {
    var q = $("q").value.trim();
    if (!q) { return; }
    api("GET", "/students?q=" + encodeURIComponent(q)).then(function (j) {
      var ul = $("results");
      ul.innerHTML = "";
      if (!j.ok) { text($("search-msg"), j.error.message); return; }
      if (!j.students.length) { text($("search-msg"), T("没有找到学生")); return; }
      if (j.students.length === 1) { text($("search-msg"), ""); selectStudent(j.students[0].id, "search"); return; }
      text($("search-msg"), T("找到 {n} 名学生，请选择", { n: j.total }));
      j.students.forEach(function (s) {
        var li = document.createElement("li");
        li.dataset.id = s.id;
        li.tabIndex = 0;
        text(li, s.name + "  " + s.xh + "  " + s.id_masked + "  " + (s.class_name || "") + "  " + s.status_label);
        if (s.withdrawn) {
          var wb = document.createElement("span");
          wb.className = "badge withdrawn";
          text(wb, s.withdrawn_label || T("已撤销"));
          li.appendChild(document.createTextNode("  "));
          li.appendChild(wb);
          li.classList.add("withdrawn");
        }
        li.addEventListener("click", function () { selectStudent(s.id, "search"); });
        li.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); selectStudent(s.id, "search"); } });
        ul.appendChild(li);
      });
      ul.firstChild.focus();
    });
  }

  function selectStudent(id, via) {
    if (state && state.result && state.result.decidable) { toast(T("请先处理当前照片（A 通过 / R 重拍）"), "warn"); return; }
    api("POST", "/select", { student_id: id, via: via }).then(function (j) {
      if (!j.ok) { text($("search-msg"), j.error.message); toast(j.error.message, "error"); return; }
      $("results").innerHTML = "";
      $("q").value = "";
      $("q").blur();
      render(j.state);
    });
  }

  function nextStudent() {
    if (state && state.result && state.result.decidable) { toast(T("请先处理当前照片（A 通过 / R 重拍）"), "warn"); return; }
    api("POST", "/next").then(function (j) {
      if (!j.ok) { toast(j.error.message, "warn"); return; }
      render(j.state);
    });
  }

  // ------------------------------------------------------------------ camera
  function startBrowserCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      camWarning(T("摄像头不可用：{msg}", { msg: "getUserMedia" }));
      return;
    }
    navigator.mediaDevices.getUserMedia({ audio: false, video: { width: { ideal: 1920 }, height: { ideal: 1080 } } })
      .then(function (stream) {
        video.srcObject = stream;
        return video.play().then(function () {
          var s = stream.getVideoTracks()[0].getSettings();
          var w = s.width || video.videoWidth, h = s.height || video.videoHeight;
          text($("cam-info"), T("摄像头 {w}×{h}", { w: w, h: h }));
          root.dataset.camSize = w + "x" + h;
          if (Math.max(w, h) < MIN_W || Math.min(w, h) < MIN_H) {
            camWarning(T("摄像头分辨率 {w}×{h} 不足：需要 1280×720 或更高，请换摄像头或调高分辨率", { w: w, h: h }));
          }
          guideLoop();
        });
      })
      .catch(function (e) { camWarning(T("摄像头不可用：{msg}", { msg: e.name || e.message || e })); });
  }

  function camWarning(msg) { var w = $("cam-warning"); text(w, msg); show(w, true); }

  function frameBlob(width, quality) {
    var vw = video.videoWidth, vh = video.videoHeight;
    if (!vw || !vh) { return Promise.resolve(null); }
    var k = width ? Math.min(1, width / vw) : 1;
    var c = document.createElement("canvas");
    c.width = Math.round(vw * k);
    c.height = Math.round(vh * k);
    c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
    return new Promise(function (resolve) { c.toBlob(resolve, "image/jpeg", quality); });
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function guideLoop() {
    var t0 = Date.now();
    var step;
    var asked = state && state.student ? state.student.id : null;   // whose frame this is
    if (!state || state.result || busy || document.hidden || withdrawn()) { step = Promise.resolve(); }
    else if (KIND === "browser") {
      step = frameBlob(PREVIEW_WIDTH, 0.8).then(function (blob) {
        if (!blob) { return null; }
        return api("POST", "/guide", blob, { "X-Capture-Size": video.videoWidth + "x" + video.videoHeight });
      });
    } else if (KIND === "opencv") {
      step = api("POST", "/guide");
    } else { step = Promise.resolve(); }
    step.then(function (j) {
      // An answer for a student no longer at the camera (or one since found withdrawn)
      // must not overwrite what the card now says.
      var now = state && state.student ? state.student.id : null;
      if (!j || now !== asked || withdrawn()) { return; }
      if (j && j.ok) { lastHints = j.hints; drawHints(j.hints); }
      else if (j && j.error && j.error.code !== "busy") { text($("hints"), j.error.message); }
    }).then(function () { return sleep(Math.max(30, GUIDE_PERIOD_MS - (Date.now() - t0))); })
      .then(guideLoop, guideLoop);
  }

  function drawHints(h) {
    var box = $("hints");
    box.innerHTML = "";
    var list = h.text && h.text.length ? h.text : [];
    if (!list.length && h.ready) { list = [T("画面已就绪，可以拍照")]; }
    list.forEach(function (t, i) {
      var d = document.createElement("div");
      d.className = "hint " + ((h.hints[i] && h.hints[i].severity) || (h.ready ? "ok" : "block"));
      text(d, t);
      box.appendChild(d);
    });
    box.className = "st-hints " + (h.ready ? "ready" : "notready");
    drawOverlay(h);
  }

  function drawOverlay(h) {
    var el = KIND === "opencv" ? preview : video;
    var W = el.clientWidth, H = el.clientHeight;
    overlay.width = W;
    overlay.height = H;
    var g = overlay.getContext("2d");
    g.clearRect(0, 0, W, H);
    if (!h || !h.frame_size || !h.frame_size[0]) { return; }
    // the element letterboxes the frame (object-fit: contain)
    var fw = h.frame_size[0], fh = h.frame_size[1];
    var k = Math.min(W / fw, H / fh), ox = (W - fw * k) / 2, oy = (H - fh * k) / 2;
    function P(p) { return [ox + p[0] * k, oy + p[1] * k]; }
    function line(a, b, colour, width, dash) {
      g.beginPath(); g.setLineDash(dash || []); g.strokeStyle = colour; g.lineWidth = width || 2;
      var p = P(a), q = P(b); g.moveTo(p[0], p[1]); g.lineTo(q[0], q[1]); g.stroke(); g.setLineDash([]);
    }
    function band(pair, colour, label) {
      if (!pair || pair.length !== 2) { return; }
      var a = pair[0], b = pair[1];
      g.beginPath(); g.fillStyle = colour;
      var p = [P(a[0]), P(a[1]), P(b[1]), P(b[0])];
      g.moveTo(p[0][0], p[0][1]); p.slice(1).forEach(function (q) { g.lineTo(q[0], q[1]); }); g.closePath(); g.fill();
      g.fillStyle = "rgba(255,255,255,.95)"; g.font = "bold 15px sans-serif"; g.fillText(label, p[0][0] + 6, p[0][1] - 4);
    }
    var o = h.overlay || {};
    if (o.crop) {
      for (var i = 0; i < 4; i++) { line(o.crop[i], o.crop[(i + 1) % 4], "rgba(255,255,255,.9)", 2, [8, 6]); }
    }
    band(o.crown_band, "rgba(46,160,67,.30)", T("头顶"));
    band(o.eye_band, "rgba(46,160,67,.30)", T("眼睛"));
    if (o.centre_line) { line(o.centre_line[0], o.centre_line[1], "rgba(255,255,255,.8)", 1, [4, 4]); }
    else { line([fw / 2, 0], [fw / 2, fh], "rgba(255,255,255,.6)", 1, [4, 4]); }
    if (o.eyes) { line(o.eyes[0], o.eyes[1], "#ffd400", 2); }
    if (o.crown) { var c = P(o.crown); g.fillStyle = "#ffd400"; g.beginPath(); g.arc(c[0], c[1], 5, 0, 6.3); g.fill(); }
    if (o.face_box) {
      var a = P([o.face_box[0], o.face_box[1]]), b = P([o.face_box[2], o.face_box[3]]);
      g.strokeStyle = h.ready ? "#2ea043" : "#f0883e"; g.lineWidth = 3; g.strokeRect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
    }
    (o.faces || []).forEach(function (f) {
      var a = P([f[0], f[1]]), b = P([f[2], f[3]]);
      g.strokeStyle = "#e5534b"; g.lineWidth = 3; g.strokeRect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
    });
  }

  function startServerPreview() {
    show(video, false);
    show(preview, true);
    text($("cam-info"), "OpenCV");
    var url = null;
    function tick() {
      if (!state || state.result || document.hidden) { return sleep(300).then(tick); }
      return fetch(API + "/preview.jpg?t=" + Date.now(), { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { return r.json().then(function (j) { camWarning(j.error ? j.error.message : T("相机还没有画面")); }); }
        show($("cam-warning"), false);
        return r.blob().then(function (b) {
          var u = URL.createObjectURL(b);
          preview.onload = function () { if (url) { URL.revokeObjectURL(url); } url = u; };
          preview.src = u;
        });
      }).catch(function () {}).then(function () { return sleep(150); }).then(tick);
    }
    tick();
    guideLoop();
  }

  function startHotFolder() {
    show(video, false);
    show(overlay, false);
    var w = $("hotfolder-wait");
    text(w, T("等待相机传入照片…") + "  " + T("热文件夹") + "：" + (root.dataset.hotfolder || ""));
    show(w, true);
    text($("cam-info"), T("热文件夹"));
    function poll() {
      if (!state || !state.student || withdrawn() || (state.result && state.result.decidable) || busy ||
          document.hidden) {
        return sleep(700).then(poll);
      }
      return api("POST", "/server-capture").then(function (j) {
        if (j.ok && j.captured) { onCaptured(j); }
        else if (j.ok && j.problems && j.problems.length) {
          var p = j.problems[j.problems.length - 1];     // a corrupt/truncated file was set aside
          camWarning(p.name + "：" + (TEXT.__lang === "en" ? p.message_en : p.message_zh));
        }
        else if (!j.ok && j.error.code !== "no_student") { camWarning(j.error.message); }
      }).then(function () { return sleep(700); }).then(poll);
    }
    poll();
  }

  // ------------------------------------------------------------------ capture, QR, decisions
  function capture() {
    if (busy) { return; }
    if (!state || !state.student) { toast(T("请先查找并选择学生"), "warn"); $("q").focus(); return; }
    if (state.result && state.result.decidable) { toast(T("请先处理当前照片（A 通过 / R 重拍）"), "warn"); return; }
    if (withdrawn()) { toast(state.student.withdrawn_note, "error"); return; }
    setBusy(true, T("正在处理照片…"));
    var sent;
    if (KIND === "browser") {
      sent = frameBlob(0, CAPTURE_QUALITY).then(function (blob) {
        if (!blob) { return { ok: false, error: { code: "no_frame", message: T("相机还没有画面") } }; }
        return api("POST", "/capture", blob);
      });
    } else {
      sent = api("POST", "/server-capture");
    }
    sent.then(function (j) {
      setBusy(false);
      if (!j.ok) { toast(j.error.message, "error"); return; }
      if (j.captured === false) { toast(T("等待相机传入照片…"), "warn"); return; }
      onCaptured(j);
    });
  }

  function onCaptured(j) {
    j.state.result = j.result;   // the fresh result carries its timings
    render(j.state);
    if (document.activeElement && document.activeElement.blur) { document.activeElement.blur(); }
  }

  function scanQr(replace) {
    if (busy) { return; }
    var body;
    setBusy(true, T("正在识别采集码…"));
    if (KIND === "browser") { body = frameBlob(0, 0.95); } else { body = Promise.resolve(undefined); }
    body.then(function (blob) {
      return api("POST", "/qr" + (replace ? "?replace=1" : ""), blob || undefined);
    }).then(function (j) {
      setBusy(false);
      if (!j.ok) {
        if (j.error.code === "code_exists" && !replace && window.confirm(T("确认更换该学生的采集码？"))) { scanQr(true); return; }
        toast(j.error.message, "error");
        return;
      }
      render(j.state);
      toast(j.action === "selected" ? T("已按采集码选择学生") : T("已保存采集码"), "ok");
    });
  }

  function approve() {
    var r = state && state.result;
    if (!r || !r.decidable || busy) { return; }
    // The server decides; a disabled button is only a hint.
    setBusy(true);
    api("POST", "/photos/" + r.photo_id + "/approve", { checklist: ticked() }).then(function (j) {
      setBusy(false);
      if (!j.ok) { decisionError(j.error); return; }
      var name = state.student ? state.student.name : "";
      render(j.state);
      toast(T("已通过：{name}", { name: name }), "ok");
      $("q").focus();
    });
  }

  function retake() {
    var r = state && state.result;
    if (!r || busy) { return; }
    setBusy(true);
    api("POST", "/photos/" + r.photo_id + "/retake").then(function (j) {
      setBusy(false);
      if (!j.ok) { decisionError(j.error); return; }
      render(j.state);
      toast(T("已选择重拍"), "warn");
    });
  }

  function openOverride() {
    var r = state && state.result;
    if (!r || !r.decidable) { return; }
    ["ov-username", "ov-password", "ov-reason"].forEach(function (id) { $(id).value = ""; });
    show($("ov-msg"), false);
    $("override-dialog").showModal();
    $("ov-username").focus();
  }

  function submitOverride() {
    var r = state && state.result;
    if (!r) { return; }
    api("POST", "/photos/" + r.photo_id + "/override", {
      username: $("ov-username").value, password: $("ov-password").value, reason: $("ov-reason").value
    }).then(function (j) {
      if (!j.ok) { var m = $("ov-msg"); text(m, j.error.message); m.dataset.code = j.error.code; show(m, true); return; }
      $("override-dialog").close();
      var name = state.student ? state.student.name : "";
      render(j.state);
      toast(T("已通过：{name}", { name: name }), "ok");
    });
  }

  // ------------------------------------------------------------------ keyboard
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" && t.type !== "checkbox" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if ($("override-dialog").open) { return; }
    if (e.target === $("q")) {
      if (e.key === "Enter") { e.preventDefault(); search(); }
      else if (e.key === "Escape") { $("q").value = ""; $("results").innerHTML = ""; $("q").blur(); }
      return;
    }
    if (typing(e)) { return; }
    var k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (k === "Enter" && !(e.target && (e.target.tagName === "BUTTON" || e.target.tagName === "A" || e.target.tagName === "LI"))) {
      e.preventDefault();
      if (!(state && state.result)) { capture(); }
    } else if (k === "a") { e.preventDefault(); approve(); }
    else if (k === "r") { e.preventDefault(); retake(); }
    else if (k === "q") { e.preventDefault(); scanQr(false); }
    else if (k === "n") { e.preventDefault(); nextStudent(); }
    else if (k === "/" || k === "s") { e.preventDefault(); $("q").focus(); }
    else if (/^[1-9]$/.test(k) && state && state.result) {
      var b = checklistBoxes()[Number(k) - 1];
      if (b) { e.preventDefault(); b.checked = !b.checked; updateApproveButton(); }
    }
  });

  $("capture-btn").addEventListener("click", capture);
  $("scan-btn").addEventListener("click", function () { scanQr(false); });
  $("approve-btn").addEventListener("click", approve);
  $("retake-btn").addEventListener("click", retake);
  $("override-btn").addEventListener("click", openOverride);
  $("ov-submit").addEventListener("click", submitOverride);
  $("ov-cancel").addEventListener("click", function () { $("override-dialog").close(); });
  $("next-btn").addEventListener("click", nextStudent);
  checklistBoxes().forEach(function (b) { b.addEventListener("change", updateApproveButton); });

  // ------------------------------------------------------------------ start
  api("GET", "/state").then(function (j) {
    if (!j.ok) { toast(j.error.message, "error"); return; }
    render(j.state);
    if (j.camera_error) { camWarning(T("摄像头不可用：{msg}", { msg: j.camera_error.message })); }
    root.dataset.ready = "1";
    if (KIND === "browser") { startBrowserCamera(); }
    else if (KIND === "opencv") { startServerPreview(); }
    else { startHotFolder(); }
    if (!j.state.student) { $("q").focus(); }
  });
})();
