/* The agent console: the queue, my conversations, a transcript and the reply box over
 * /v1/agent (docs/protocol.md, "Agent protocol"). Plain ES2019, no dependencies. Every text from
 * the network reaches the page through textContent: markup in a message is shown, never run.
 */
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("agent-texts").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var queueList = $("queue"), mineList = $("mine"), transcript = $("transcript");
  var who = $("who"), form = $("reply"), input = $("reply-text"), search = $("canned");
  var cannedList = $("canned-results"), state = $("conn-state");
  var releaseBtn = $("release"), closeBtn = $("close"), soundBox = $("sound");
  var baseTitle = document.title;
  var ws = null, retry = 0, queue = [], held = {}, current = null, unseen = 0, typingAt = 0;

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    return n;
  }
  function fmt(s, vars) {
    Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    return s;
  }
  function time(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? "" : d.toLocaleTimeString(T.locale, { hour: "2-digit", minute: "2-digit" });
  }
  function newId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
  }

  // ------------------------------------------------------------------ socket

  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/agent";
    ws = new WebSocket(url);
    state.textContent = T.connecting;
    ws.onopen = function () { retry = 0; state.textContent = T.online; state.dataset.state = "online"; };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f && typeof f === "object") { onFrame(f); }
    };
    ws.onclose = function () {
      ws = null;
      state.textContent = T.reconnecting;
      state.dataset.state = "offline";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, retry) * Math.random() + 300);
    };
  }
  function send(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function onFrame(f) {
    switch (f.type) {
      case "queue": onQueue(f.items || []); break;
      case "assigned": onAssigned(f); break;
      case "conversation.message": onMessage(f.conversation, f.message); break;
      case "released": drop(f.conversation, T.released); break;
      case "conversation.ended": drop(f.conversation, T.ended); break;
      case "conversation.typing": onTyping(f); break;
      case "transcript": if (current === f.conversation) { showHistory(f.history || []); } break;
      case "ack": break;
      case "error": flash(T.errors[f.code] || f.message || T.errors.bad_frame); break;
      default: break;
    }
  }

  // ------------------------------------------------------------------ queue

  function onQueue(items) {
    var known = {};
    queue.forEach(function (q) { known[q.conversation] = true; });
    var fresh = items.filter(function (q) { return !known[q.conversation]; }).length;
    queue = items;
    queueList.textContent = "";
    $("queue-count").textContent = String(items.length);
    if (!items.length) { queueList.appendChild(el("li", "empty", T.queueEmpty)); }
    items.forEach(function (q, i) {
      var li = el("li", "item");
      var b = el("button", "accept", T.accept);
      b.type = "button";
      b.dataset.conversation = q.conversation;
      b.addEventListener("click", function () { send({ type: "accept", conversation: q.conversation }); });
      var text = el("div", "preview", q.preview || "…");
      var meta = el("div", "meta", fmt(T.waiting, { t: time(q.waiting_since) }) +
        (q.locale ? " · " + q.locale : "") + (q.page ? " · " + q.page : ""));
      li.appendChild(text);
      li.appendChild(meta);
      li.appendChild(b);
      if (i === 0) { b.setAttribute("aria-keyshortcuts", "Alt+A"); }
      queueList.appendChild(li);
    });
    if (fresh > 0) { newRequest(fresh); }
  }

  // A new request: a title badge until the page is looked at, and a short tone if chosen.
  function newRequest(n) {
    if (document.hasFocus() && !document.hidden) { return; }
    unseen += n;
    document.title = "(" + unseen + ") " + baseTitle;
    if (soundBox && soundBox.checked) { beep(); }
  }
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no audio: the title badge is enough */ }
  }
  window.addEventListener("focus", function () { unseen = 0; document.title = baseTitle; });

  // ------------------------------------------------------------------ my conversations

  function onAssigned(f) {
    held[f.conversation] = { history: f.history || [], endUser: f.end_user || {}, typing: false };
    renderMine();
    if (!current || !held[current]) { select(f.conversation); }
    else if (current === f.conversation) { select(current); }
  }

  function renderMine() {
    mineList.textContent = "";
    var ids = Object.keys(held);
    $("mine-count").textContent = String(ids.length);
    if (!ids.length) { mineList.appendChild(el("li", "empty", T.mineEmpty)); }
    ids.forEach(function (id, i) {
      var c = held[id];
      var last = c.history.length ? c.history[c.history.length - 1] : null;
      var b = el("button", "conv" + (id === current ? " current" : ""), last ? last.text : id);
      b.type = "button";
      if (c.unread) { b.classList.add("unread"); }
      if (i < 9) { b.setAttribute("aria-keyshortcuts", "Alt+" + (i + 1)); }
      b.addEventListener("click", function () { select(id); });
      var li = el("li");
      li.appendChild(b);
      mineList.appendChild(li);
    });
  }

  function select(id) {
    current = id;
    var c = held[id];
    if (c) { c.unread = false; }
    renderMine();
    var on = !!c;
    input.disabled = releaseBtn.disabled = closeBtn.disabled = !on;
    $("send").disabled = !on;
    who.textContent = on ? fmt(T.endUser, { page: c.endUser.page || "-", locale: c.endUser.locale || "-" }) : "";
    showHistory(on ? c.history : []);
    if (on) { input.focus(); }
  }

  function showHistory(items) {
    transcript.textContent = "";
    items.forEach(addRow);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function addRow(m) {
    var row = el("div", "msg " + m.role);
    row.dataset.id = m.id;
    var head = el("div", "msg-head", (T.roles[m.role] || m.role) + " · " + time(m.at));
    if (m.ai) {
      head.appendChild(el("span", "ai", m.ai.label + " · " + m.ai.model));
    }
    row.appendChild(head);
    row.appendChild(el("div", "msg-text", m.text));
    transcript.appendChild(row);
  }

  function onMessage(id, m) {
    var c = held[id];
    if (!c || !m) { return; }
    if (c.history.some(function (h) { return h.id === m.id; })) { return; }
    c.history.push(m);
    if (id === current) {
      if (m.role === "visitor") { $("typing").hidden = true; }
      addRow(m);
      transcript.scrollTop = transcript.scrollHeight;
    } else {
      c.unread = true;
    }
    renderMine();
    if (m.role === "visitor") { newRequest(1); }
  }

  // The end user's typing shows until they send, say they stopped, or 6 s pass.
  var typingTimer = null;
  function onTyping(f) {
    if (f.conversation !== current) { return; }
    $("typing").hidden = !f.on;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { $("typing").hidden = true; }, 6000);
  }

  function drop(id, why) {
    if (!held[id]) { return; }
    delete held[id];
    if (current === id) {
      current = null;
      select(Object.keys(held)[0] || null);
      flash(why);
    }
    renderMine();
  }

  function flash(text) {
    var n = $("flash");
    n.textContent = text;
    n.hidden = false;
    setTimeout(function () { n.hidden = true; }, 4000);
  }

  // ------------------------------------------------------------------ reply, release, close

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!current || !text) { return; }
    if (send({ type: "message", conversation: current, id: newId(), text: text })) {
      input.value = "";
      send({ type: "typing", conversation: current, on: false });
    }
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", function () {
    if (current && Date.now() - typingAt > 3000) {
      typingAt = Date.now();
      send({ type: "typing", conversation: current, on: true });
    }
  });
  releaseBtn.addEventListener("click", function () {
    if (current) { send({ type: "release", conversation: current }); }
  });
  // Closing asks twice (a second press within 4 s), without a modal dialog.
  var closeLabel = closeBtn.textContent, disarm = null;
  closeBtn.addEventListener("click", function () {
    if (!current) { return; }
    if (closeBtn.dataset.armed === current) {
      send({ type: "close", conversation: current });
    } else {
      closeBtn.dataset.armed = current;
      closeBtn.textContent = T.confirmClose;
      clearTimeout(disarm);
      disarm = setTimeout(function () { delete closeBtn.dataset.armed; closeBtn.textContent = closeLabel; }, 4000);
      return;
    }
    delete closeBtn.dataset.armed;
    closeBtn.textContent = closeLabel;
  });

  // ------------------------------------------------------------------ canned answers

  var searchTimer = null;
  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(findAnswers, 150);
  });
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { search.value = ""; cannedList.textContent = ""; input.focus(); }
    if (ev.key === "ArrowDown" && cannedList.firstChild) { ev.preventDefault(); cannedList.firstChild.firstChild.focus(); }
  });
  function findAnswers() {
    var q = search.value.trim();
    if (!q) { cannedList.textContent = ""; return; }
    fetch("/admin/api/agent/answers?q=" + encodeURIComponent(q), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (data) {
        if (search.value.trim() !== q) { return; }
        cannedList.textContent = "";
        (data.items || []).forEach(function (a) {
          var li = el("li");
          var b = el("button", "canned", a.question);
          b.type = "button";
          b.title = a.answer;
          b.appendChild(el("span", "answer", a.answer));
          b.addEventListener("click", function () {
            input.value = input.value ? input.value + "\n" + a.answer : a.answer;
            input.focus();
          });
          b.addEventListener("keydown", function (ev) {
            var li2 = ev.target.parentNode;
            if (ev.key === "ArrowDown" && li2.nextSibling) { ev.preventDefault(); li2.nextSibling.firstChild.focus(); }
            if (ev.key === "ArrowUp") { ev.preventDefault(); (li2.previousSibling ? li2.previousSibling.firstChild : search).focus(); }
          });
          li.appendChild(b);
          cannedList.appendChild(li);
        });
        if (!cannedList.firstChild) { cannedList.appendChild(el("li", "empty", T.noAnswers)); }
      })
      .catch(function () { /* the list stays as it was */ });
  }

  // ------------------------------------------------------------------ keyboard

  document.addEventListener("keydown", function (ev) {
    if (ev.altKey && (ev.key === "a" || ev.key === "A") && queue.length) {
      ev.preventDefault();
      send({ type: "accept", conversation: queue[0].conversation });
    } else if (ev.altKey && /^[1-9]$/.test(ev.key)) {
      var id = Object.keys(held)[Number(ev.key) - 1];
      if (id) { ev.preventDefault(); select(id); }
    } else if (ev.key === "/" && document.activeElement !== input && document.activeElement !== search) {
      ev.preventDefault();
      search.focus();
    }
  });

  select(null);
  connect();
})();
