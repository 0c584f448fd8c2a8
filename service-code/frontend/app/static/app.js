// Minimal chat client: everything goes through this origin's /api proxy.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("chat");
  var status = document.getElementById("status");
  var sessionId = null;

  function add(role, text) {
    var div = document.createElement("div");
    div.className = "msg " + role;
    div.textContent = role + ": " + text; // textContent: never inject model output as HTML
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var message = document.getElementById("message").value.trim();
    var model = document.getElementById("model").value.trim();
    if (!message) { return; }
    add("user", message);
    document.getElementById("message").value = "";
    status.textContent = "thinking…";
    fetch("/api/v1/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message: message, model: model || null, session_id: sessionId })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) { throw new Error(res.body.detail || "request failed"); }
      sessionId = res.body.session_id;
      add("assistant", res.body.response);
      status.textContent = res.body.cached ? "(cached)" : "";
    }).catch(function (err) {
      add("error", String(err.message || err));
      status.textContent = "";
    });
  });
}());
