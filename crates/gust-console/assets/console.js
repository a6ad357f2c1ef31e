// Gust console: small enhancements over pages that work without them.
"use strict";
(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Timestamps in the viewer's zone; UTC stays in the title.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = d.toLocaleString();
    });
  }
  function timeEl(iso) {
    var t = document.createElement("time");
    var d = new Date(iso);
    t.setAttribute("datetime", iso);
    t.title = isNaN(d) ? iso : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    t.textContent = isNaN(d) ? iso : d.toLocaleString();
    return t;
  }

  // Copy buttons: hidden until a script can make them work.
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var el = document.getElementById(b.getAttribute("data-copy"));
        if (!el || !navigator.clipboard) return;
        navigator.clipboard.writeText(el.textContent.trim()).then(function () {
          var was = b.textContent;
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = was; }, 1500);
        });
      });
    });
  }

  function confirms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  }

  // Uploads: drop a file on the zone (or choose one); sent as the request body with progress.
  function uploads() {
    document.querySelectorAll("form[data-upload]").forEach(function (form) {
      var zone = form.querySelector("[data-drop]");
      var input = form.querySelector('input[type="file"]');
      var box = form.querySelector("[data-progress]");
      var bar = box && box.querySelector("progress");
      var text = box && box.querySelector("[data-progress-text]");
      function send(file) {
        var activate = form.querySelector('input[name="activate"]');
        var url = form.getAttribute("data-upload") + (activate && activate.checked ? "?activate=true" : "");
        var xhr = new XMLHttpRequest();
        xhr.open("POST", url);
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
        box.hidden = false;
        xhr.upload.onprogress = function (e) {
          if (e.lengthComputable) {
            bar.value = Math.round((e.loaded / e.total) * 100);
            text.textContent = bar.value + "% of " + Math.round(e.total / 1024) + " KiB";
          }
        };
        xhr.onload = function () {
          var body = {};
          try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
          if (xhr.status === 201 && body.location) {
            text.textContent = "Uploaded; opening the build log…";
            window.location = body.location;
          } else {
            text.textContent = "Refused: " + (body.error || xhr.status);
          }
        };
        xhr.onerror = function () { text.textContent = "The upload failed; check the connection."; };
        xhr.send(file);
      }
      form.addEventListener("submit", function (e) {
        if (input.files.length) { e.preventDefault(); send(input.files[0]); }
      });
      if (!zone) return;
      ["dragenter", "dragover"].forEach(function (n) {
        zone.addEventListener(n, function (e) { e.preventDefault(); zone.classList.add("over"); });
      });
      ["dragleave", "drop"].forEach(function (n) {
        zone.addEventListener(n, function () { zone.classList.remove("over"); });
      });
      zone.addEventListener("drop", function (e) {
        e.preventDefault();
        if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
      });
    });
  }

  // A build's log as it is written.
  function buildLogs() {
    document.querySelectorAll("[data-build-log]").forEach(function (pre) {
      var status = document.querySelector("[data-build-status]");
      var hint = document.querySelector("[data-build-hint]");
      var source = new EventSource(pre.getAttribute("data-build-log"));
      source.addEventListener("status", function (e) {
        if (status) { status.textContent = e.data; status.className = "status s-" + e.data; }
      });
      source.addEventListener("log", function (e) {
        pre.textContent += e.data + "\n";
        pre.scrollTop = pre.scrollHeight;
      });
      source.addEventListener("end", function (e) {
        source.close();
        var end = {};
        try { end = JSON.parse(e.data); } catch (x) { /* plain message */ }
        if (hint) hint.textContent = "Build " + (end.status || "ended") + (end.error_message ? ": " + end.error_message : "") + ".";
      });
    });
  }

  // A running execution's output as it is printed; the whole record once it ends.
  function executionLogs() {
    document.querySelectorAll("[data-exec-log]").forEach(function (pre) {
      var hint = document.querySelector("[data-exec-hint]");
      var source = new EventSource(pre.getAttribute("data-exec-log"));
      function add(e) { pre.textContent += e.data; pre.scrollTop = pre.scrollHeight; }
      source.addEventListener("stdout", add);
      source.addEventListener("stderr", add);
      source.addEventListener("retry", function () { pre.textContent += "\n— attempt failed; retrying —\n"; });
      source.addEventListener("end", function () {
        source.close();
        if (hint) hint.textContent = "Ended; loading the record…";
        window.location.reload();
      });
    });
  }

  // Live tail: each finished execution's output as it arrives; pausable and filterable.
  function tails() {
    document.querySelectorAll("[data-tail]").forEach(function (box) {
      var list = box.querySelector("[data-tail-list]");
      var pause = box.querySelector("[data-tail-pause]");
      var filter = box.querySelector("[data-tail-filter]");
      var state = box.querySelector("[data-tail-state]");
      var paused = false, held = [];
      var source = new EventSource(box.getAttribute("data-tail"));
      function matches(el) {
        var q = (filter.value || "").toLowerCase();
        return !q || el.textContent.toLowerCase().indexOf(q) >= 0;
      }
      function show(el) {
        el.hidden = !matches(el);
        list.appendChild(el);
        while (list.children.length > 500) list.removeChild(list.firstChild);
        list.scrollTop = list.scrollHeight;
      }
      source.addEventListener("open", function () { state.textContent = "Connected: waiting for executions."; });
      source.addEventListener("error", function () { state.textContent = "Disconnected; retrying…"; });
      source.addEventListener("execution", function (e) {
        var x;
        try { x = JSON.parse(e.data); } catch (err) { return; }
        var el = document.createElement("div");
        el.className = "entry";
        var head = document.createElement("div");
        var link = document.createElement("a");
        link.href = box.getAttribute("data-exec-base") + "/" + x.id;
        link.textContent = x.id;
        link.className = "mono";
        var st = document.createElement("span");
        st.className = "status s-" + x.status;
        st.textContent = x.status;
        head.append(timeEl(x.created_at), " ", link, " ", st, " " + x.trigger + (x.error_message ? " — " + x.error_message : ""));
        el.appendChild(head);
        [["stdout", x.stdout], ["stderr", x.stderr]].forEach(function (p) {
          if (!p[1]) return;
          var pre = document.createElement("pre");
          pre.className = p[0];
          pre.textContent = p[1];
          el.appendChild(pre);
        });
        if (paused) { held.push(el); state.textContent = "Paused: " + held.length + " waiting."; } else show(el);
      });
      pause.addEventListener("click", function () {
        paused = !paused;
        pause.textContent = paused ? "Resume" : "Pause";
        pause.setAttribute("aria-pressed", paused ? "true" : "false");
        if (!paused) { held.forEach(show); held = []; state.textContent = "Live."; }
      });
      filter.addEventListener("input", function () {
        Array.prototype.forEach.call(list.children, function (el) { el.hidden = !matches(el); });
      });
    });
  }

  // Cron: the next fire times, asked again as the schedule is typed.
  function cronPreviews() {
    document.querySelectorAll("form[data-preview]").forEach(function (form) {
      var out = document.getElementById(form.getAttribute("data-preview-out"));
      var timer;
      function ask() {
        var s = form.querySelector('[name="schedule"]').value;
        var tz = form.querySelector('[name="timezone"]').value;
        if (!s) { out.textContent = ""; return; }
        var url = form.getAttribute("data-preview") + "?schedule=" + encodeURIComponent(s) + "&timezone=" + encodeURIComponent(tz);
        fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (body) {
            out.textContent = "";
            if (body.error) { var p = document.createElement("p"); p.className = "error"; p.textContent = body.error; out.appendChild(p); return; }
            var ol = document.createElement("ol");
            body.times.forEach(function (iso) { var li = document.createElement("li"); li.appendChild(timeEl(iso)); ol.appendChild(li); });
            out.appendChild(ol);
          });
      }
      form.querySelectorAll('[name="schedule"], [name="timezone"]').forEach(function (el) {
        el.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 300); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    copyButtons();
    confirms();
    uploads();
    buildLogs();
    executionLogs();
    tails();
    cronPreviews();
  });
})();
