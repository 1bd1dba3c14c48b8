/* The chat panel: its state, what each server frame does to it, what the visitor does, and the
 * API the loader's window.Kefu calls. `view(ctx)` is what the loader mounts (ctx: its shared
 * pieces: the shadow root, the launcher, storage, options and helpers).
 */
function view(ctx) {
  var TYPING_WATCHDOG_MS = 90000;

  var store = ctx.store;
  var keys = ctx.keys;
  var el = ctx.el;
  var texts = strings(ctx.pageLocale());
  var t = texts.t;
  var dom = render(ctx, texts);

  function str(value) {
    return typeof value === "string" ? value : "";
  }

  function codePoints(text) {
    return Array.from(text).length;
  }

  function clipCodePoints(text, max) {
    var chars = Array.from(text);
    return chars.length > max ? chars.slice(0, max).join("") : text;
  }

  // ---------------------------------------------------------------- state

  var config = null;          // welcome.config
  var conversation = null;    // the open conversation, or null
  var unavailable = null;     // null, or {kind, text, startsAt, endsAt}
  var replies = {};           // reply id -> {row, bubble, to, text}
  var typingWatchdog = null;
  var user = ctx.want.user;   // {id, hash} from Kefu.identify, or null
  var myVisitor = null;       // the visitor token of this tab's last welcome
  var HISTORY_PAGE = 50;
  var earlier = null;         // the "earlier messages" button while more history exists
  var loadingEarlier = false; // a history request is on its way
  var ui = { wrap: ctx.wrap, launcher: ctx.launcher };
  var person = null;          // the last handoff frame while queued or with an agent, else null
  var agentTyping = false;
  var typedAt = 0;            // when the visitor's typing was last told to the agent
  var leaveBox = null;        // the "leave a message" form, once sent: awaiting its ack

  var conn = connection(
    (ctx.scriptUrl.protocol === "https:" ? "wss://" : "ws://") + ctx.scriptUrl.host +
      "/v1/chat?key=" + encodeURIComponent(ctx.siteKey),
    {
      hello: function () {
        var page = window.location.origin + window.location.pathname;
        return protocol.hello(store("localStorage", keys.visitor), ctx.pageLocale(), page, user);
      },
      frame: handleFrame,
      status: updateStatus,
      lost: function () {
        clearTyping();
      },
      unavailable: function (kind, n) {
        showUnavailable(kind, n ? str(n.text) : "", n ? n.starts_at : null, n ? n.ends_at : null);
      },
      unreachable: function () {
        setBanner(t("unreachable"), "unreachable");
      },
      paused: function () {
        return !!unavailable;
      },
      state: function (m, name, unlessFailed) {
        if (!(unlessFailed && m.row.getAttribute("data-state") === "failed")) {
          dom.setRowState(m.row, name);
        }
      }
    }
  );

  // ---------------------------------------------------------------- panel

  function buildUi() {
    ctx.addStyles(ctx.root, styles);
    ui = dom.panel();
    ui.minBtn.addEventListener("click", function () {
      closePanel();
    });
    ui.endBtn.addEventListener("click", endConversation);
    ui.personBtn.addEventListener("click", askPerson);
    ui.bannerClose.addEventListener("click", function () {
      ui.banner.hidden = true;
    });
    ui.composer.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submitInput();
    });
    ui.input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        submitInput();
      }
    });
    ui.input.addEventListener("input", onInput);
    ui.panel.addEventListener("keydown", onPanelKey);
    ui.list.addEventListener("scroll", function () {
      if (ui.list.scrollTop === 0) {
        loadEarlier();
      }
    });
    applyTexts();
    ctx.wrap.appendChild(ui.panel);
  }

  // Escape closes; Tab and Shift+Tab stay inside the open panel (a modal dialog).
  function onPanelKey(ev) {
    if (ev.key === "Escape" && !ev.isComposing) {
      ev.stopPropagation();
      closePanel();
      return;
    }
    if (ev.key !== "Tab") {
      return;
    }
    var items = Array.prototype.filter.call(
      ui.panel.querySelectorAll("button,textarea,a[href],[tabindex]"),
      function (n) {
        return !n.disabled && n.tabIndex >= 0 && n.getClientRects().length > 0;
      }
    );
    if (!items.length) {
      return;
    }
    var active = ctx.root.activeElement;
    var first = items[0];
    var last = items[items.length - 1];
    if (ev.shiftKey && (active === first || !ui.panel.contains(active))) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && (active === last || !ui.panel.contains(active))) {
      ev.preventDefault();
      first.focus();
    }
  }

  // Static texts that depend on the UI language and on the server's config.
  function applyTexts() {
    var cfg = config || {};
    ui.title.textContent = str(cfg.title) || t("title");
    ui.title.title = ui.title.textContent;
    ui.endBtn.textContent = t("endChat");
    ui.personBtn.textContent = t("person");
    ui.personBtn.hidden = !cfg.handoff || !!person;
    ui.minBtn.setAttribute("aria-label", t("minimise"));
    ui.minBtn.title = t("minimise");
    ui.bannerClose.setAttribute("aria-label", t("dismiss"));
    ui.input.placeholder = t("placeholder");
    ui.input.setAttribute("aria-label", t("placeholder"));
    ui.sendBtn.setAttribute("aria-label", t("send"));
    ui.sendBtn.title = t("send");
    ui.typingLabel.textContent = t("typing");
    ui.list.setAttribute("aria-label", t("messages"));
    ui.testMark.textContent = t("testMode");
    ui.testMark.hidden = cfg.test !== true;
    if (earlier) {
      earlier.textContent = t("earlier");
    }
    // The attribution line is a licence term: it is always shown, whatever the config says.
    ui.attribution.textContent = str(cfg.attribution) || t("attribution");
    dom.withTail(ui.disclaimer, str(cfg.disclaimer) || t("disclaimer"));
    updateStatus();
  }

  // The brand colour and position come with the welcome; they are remembered so that the
  // launcher wears them on the next page before any connection is made.
  function applyTheme() {
    var theme = config && config.theme && typeof config.theme === "object" ? config.theme : {};
    var color = theme.color || theme.primary;
    if (!ctx.options.color && ctx.isCssColor(color)) {
      ctx.setBrand(color);
      store("localStorage", keys.color, color);
    }
    if (theme.position === "left" || theme.position === "right") {
      ctx.setPosition(theme.position);
      store("localStorage", keys.position, theme.position);
    }
  }

  function fitViewport() {
    var vv = window.visualViewport;
    if (vv) {
      var style = ui.wrap.style;
      style.setProperty("--vv-x", vv.offsetLeft + "px");
      style.setProperty("--vv-y", vv.offsetTop + "px");
      style.setProperty("--vv-w", vv.width + "px");
      style.setProperty("--vv-h", vv.height + "px");
    }
  }
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", fitViewport);
    window.visualViewport.addEventListener("scroll", fitViewport);
  }

  function openPanel() {
    fitViewport();
    ui.panel.hidden = false;
    ui.wrap.classList.add("is-open");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.classList.remove("has-unread");
    store("sessionStorage", keys.open, "1");
    conn.start();
    scrollToEnd(true);
    if (!ui.input.disabled && window.matchMedia && !window.matchMedia("(max-width: 480px)").matches) {
      ui.input.focus();
    } else {
      ui.minBtn.focus();
    }
  }

  function closePanel() {
    var hadFocus = ui.panel.contains(ctx.root.activeElement);
    ui.panel.hidden = true;
    ui.wrap.classList.remove("is-open");
    ui.launcher.setAttribute("aria-expanded", "false");
    store("sessionStorage", keys.open, null);
    if (hadFocus && ctx.options.launcher) {
      ui.launcher.focus();
    }
  }

  // True when the visitor has not scrolled up to read older messages.
  function atEnd() {
    var list = ui.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToEnd(force, wasAtEnd) {
    if (force || wasAtEnd || atEnd()) {
      ui.list.scrollTop = ui.list.scrollHeight;
    }
    if (ui.panel.hidden && !force) {
      ui.launcher.classList.add("has-unread");
    }
  }

  function updateStatus() {
    var key;
    if (unavailable) {
      key = unavailable.kind === "maintenance" ? "maintenanceTitle" : "suspendedTitle";
      ui.panel.setAttribute("data-status", "unavailable");
    } else if (conn.welcomed()) {
      ui.panel.setAttribute("data-status", "ready");
      ui.status.textContent = person ? str(person.agent ? person.agent.name : person.text) : t("online");
      return;
    } else {
      key = conn.everWelcomed() ? "reconnecting" : "connecting";
      ui.panel.setAttribute("data-status", conn.everWelcomed() ? "reconnecting" : "connecting");
    }
    ui.status.textContent = t(key);
  }

  // Append a node to the message list, keeping the typing indicator last.
  function appendToList(node) {
    var wasAtEnd = atEnd();
    if (ui.typing.parentNode === ui.list) {
      ui.list.insertBefore(node, ui.typing);
    } else {
      ui.list.appendChild(node);
    }
    scrollToEnd(false, wasAtEnd);
    return node;
  }

  function systemLine(text) {
    var node = el("div", "system", text);
    node.setAttribute("data-role", "system");
    return appendToList(node);
  }

  function aiLabelNode(ai) {
    return dom.aiLabel((config && str(config.ai_label)) || (ai && str(ai.label)) || t("aiLabel"));
  }

  var lastInlineError = null;
  function inlineError(text) {
    if (lastInlineError && lastInlineError.parentNode) {
      lastInlineError.parentNode.removeChild(lastInlineError);
    }
    lastInlineError = dom.part("div", "inline-error", "error", text);
    lastInlineError.setAttribute("role", "alert");
    return appendToList(lastInlineError);
  }
  // ------------------------------------------------------------------ typing indicator

  function activeReplies() {
    return Object.keys(replies).filter(function (k) {
      return !replies[k].done;
    });
  }

  function refreshTyping() {
    var active = activeReplies();
    var waiting = active.some(function (k) {
      return !replies[k].text;
    });
    // While an answer streams in, its bubble is rebuilt piece by piece: screen readers are
    // told to wait (aria-busy) and read the finished answer once.
    if (active.length) {
      ui.list.setAttribute("aria-busy", "true");
    } else {
      ui.list.removeAttribute("aria-busy");
    }
    var show = (waiting || agentTyping) && !unavailable;
    if (show) {
      var wasAtEnd = atEnd();
      ui.list.appendChild(ui.typing);
      ui.typing.hidden = false;
      scrollToEnd(false, wasAtEnd);
      if (!typingWatchdog) {
        typingWatchdog = setTimeout(function () {
          typingWatchdog = null;
          clearTyping();
        }, TYPING_WATCHDOG_MS);
      }
    } else {
      ui.typing.hidden = true;
      if (typingWatchdog) {
        clearTimeout(typingWatchdog);
        typingWatchdog = null;
      }
    }
  }

  // Forget every reply in progress; partial answers stay visible but unfinished ones are
  // replaced by the server's history on the next welcome.
  function clearTyping(onlyTo) {
    Object.keys(replies).forEach(function (k) {
      if (onlyTo === undefined || replies[k].to === onlyTo) {
        var r = replies[k];
        if (r.row && !r.done) {
          r.row.setAttribute("data-state", "interrupted");
        }
        delete replies[k];
      }
    });
    refreshTyping();
  }

  // ------------------------------------------------------------------ unavailable state

  function showUnavailable(kind, text, startsAt, endsAt) {
    unavailable = { kind: kind, text: text, startsAt: startsAt, endsAt: endsAt };
    var maint = kind === "maintenance";
    ui.state.hidden = false;
    ui.state.setAttribute("data-kind", maint ? "maintenance" : "suspended");
    ui.stateIcon.textContent = "";
    ui.stateIcon.appendChild(dom.icon(maint ? "tool" : "pause"));
    ui.stateTitle.textContent = t(maint ? "maintenanceTitle" : "suspendedTitle");
    ui.stateText.textContent = text || t(maint ? "maintenanceText" : "suspendedText");
    var until = texts.time(endsAt);
    ui.stateWhen.textContent = maint && until ? t("until", { t: until }) : "";
    ui.input.disabled = true;
    ui.sendBtn.disabled = true;
    ui.endBtn.disabled = true;
    ui.banner.hidden = true;
    clearTyping();
    updateStatus();
  }

  function hideUnavailable() {
    if (!unavailable) {
      return;
    }
    unavailable = null;
    ui.state.hidden = true;
    ui.input.disabled = false;
    ui.endBtn.disabled = false;
    onInput();
    updateStatus();
  }

  function showNotice(notice) {
    if (!notice || typeof notice !== "object") {
      return;
    }
    var kind = str(notice.kind);
    var text = str(notice.text);
    if (kind === "suspended") {
      showUnavailable("suspended", text, notice.starts_at, notice.ends_at);
      return;
    }
    if (kind === "maintenance") {
      var startsAt = notice.starts_at ? new Date(notice.starts_at).getTime() : NaN;
      var endsAt = notice.ends_at ? new Date(notice.ends_at).getTime() : NaN;
      var inWindow = (isNaN(startsAt) || startsAt <= Date.now()) && (isNaN(endsAt) || endsAt > Date.now());
      // A maintenance notice on a live connection is an announcement unless it is under way
      // and the server says so by closing (4503); show it as a banner with its window.
      var line = text || t("maintenanceText");
      var s = texts.time(notice.starts_at);
      var e = texts.time(notice.ends_at);
      if (s && e && !inWindow) {
        line += "\n" + t("window", { s: s, e: e });
      }
      setBanner(line, "maintenance");
      return;
    }
    if (text) {
      setBanner(text, kind || "info");
    }
  }

  function setBanner(text, kind) {
    ui.bannerText.textContent = text;
    ui.banner.className = "banner " + (kind === "suspended" ? "suspended" : "");
    ui.banner.setAttribute("data-kind", kind);
    ui.banner.hidden = false;
  }
  // ------------------------------------------------------------------ frames

  function handleFrame(f) {
    switch (f.type) {
      case "welcome": onWelcome(f); break;
      case "ack": onAck(f); break;
      case "reply.start": onReplyStart(f); break;
      case "reply.delta": onReplyDelta(f); break;
      case "reply.restart": onReplyRestart(f); break;
      case "reply.end": onReplyEnd(f); break;
      case "ended": onEnded(f); break;
      case "notice": showNotice(f); break;
      case "error": onError(f); break;
      case "history": onHistory(f); break;
      case "handoff": onHandoff(f, true); break;
      case "agent.message": onAgentMessage(f); break;
      case "agent.typing": agentTyping = f.on === true; refreshTyping(); break;
      default: break; // unknown frame types are ignored
    }
  }

  function onWelcome(f) {
    if (typeof f.visitor === "string" && f.visitor) {
      store("localStorage", keys.visitor, f.visitor);
      myVisitor = f.visitor; // this tab's own visitor, whatever other tabs store later
    }
    config = f.config && typeof f.config === "object" ? f.config : {};
    if (str(config.locale)) {
      texts.locale = config.locale;
    }
    conversation = f.conversation || null;
    if (user && f.user !== user.id && window.console) {
      console.warn("Kefu: the identify hash was not accepted; this chat is anonymous");
    }
    applyTheme();
    hideUnavailable();
    applyTexts();
    onHandoff(f.handoff || {}, false); // first: history rows name the agent
    renderHistory(Array.isArray(f.history) ? f.history : [], f.more_history === true);
    ui.banner.hidden = true;
    if (f.notice) {
      showNotice(f.notice);
    }
    conn.flush();
    scrollToEnd(true);
  }

  // One history item as its row (null for an item this client cannot show); a visitor row is
  // filed in `seen` under its client id.
  function historyRow(item, seen) {
    if (!item || typeof item !== "object") {
      return null;
    }
    var role = str(item.role);
    var text = str(item.text);
    var row;
    if (role === "visitor") {
      var cid = str(item.client_id);
      row = dom.visitorRow(text, cid, "sent");
      if (cid) {
        seen[cid] = row;
      }
    } else if (role === "robot") {
      row = dom.messageRow("robot", text, item.at);
      dom.setAiData(row, item.ai);
      row.appendChild(aiLabelNode(item.ai));
    } else if (role === "agent") {
      row = dom.messageRow("agent", text, item.at, person && person.agent && str(person.agent.name));
    } else if (role === "system") {
      row = el("div", "system", text);
      row.setAttribute("data-role", "system");
    } else {
      return null;
    }
    if (item.id) {
      row.setAttribute("data-id", String(item.id));
    }
    return row;
  }

  // The welcome carries the latest messages; earlier ones come a page at a time, when the
  // visitor scrolls to the top or presses the button above the oldest one.
  function setEarlier(more) {
    if (earlier) {
      earlier.remove();
      earlier = null;
    }
    loadingEarlier = false;
    if (!more) {
      return;
    }
    earlier = dom.part("button", "earlier", "earlier", t("earlier"));
    earlier.type = "button";
    earlier.addEventListener("click", loadEarlier);
    var first = ui.list.querySelector("[data-id]");
    ui.list.insertBefore(earlier, first);
  }

  function loadEarlier() {
    var oldest = ui.list.querySelector("[data-id]");
    if (!earlier || loadingEarlier || !oldest || !conn.welcomed()) {
      return;
    }
    loadingEarlier = conn.send(protocol.history(oldest.getAttribute("data-id"), HISTORY_PAGE));
  }

  function onHistory(f) {
    var oldest = ui.list.querySelector("[data-id]");
    if (!oldest) {
      return; // the view was redrawn meanwhile; the next welcome starts again
    }
    var before = ui.list.scrollHeight;
    var seen = {};
    (Array.isArray(f.items) ? f.items : []).forEach(function (item) {
      var row = historyRow(item, seen);
      if (row) {
        ui.list.insertBefore(row, oldest);
      }
    });
    setEarlier(f.more === true);
    // Keep the message the visitor was reading where it was.
    ui.list.scrollTop += ui.list.scrollHeight - before;
  }

  function renderHistory(items, more) {
    replies = {};
    lastInlineError = null;
    ui.list.textContent = "";
    earlier = null;
    ui.typing.hidden = true;
    var greeting = str(config && config.greeting);
    if (greeting) {
      var g = dom.messageRow("greeting", greeting, null);
      g.setAttribute("data-kefu", "greeting");
      ui.list.appendChild(g);
    }
    var seen = {};
    items.forEach(function (item) {
      var row = historyRow(item, seen);
      if (row) {
        ui.list.appendChild(row);
      }
    });
    setEarlier(!!more);
    // Messages not yet acknowledged: keep their bubbles (once) after the history.
    conn.outbox().forEach(function (m) {
      if (seen[m.id]) {
        seen[m.id].setAttribute("data-state", "pending");
        m.row = seen[m.id];
        dom.setRowState(m.row, "pending");
      } else {
        ui.list.appendChild(m.row);
      }
    });
  }

  function onAck(f) {
    if (f.id === null || f.id === undefined) {
      if (leaveBox) {
        leaveBox.textContent = t("left"); // a left message's ack
        leaveBox = null;
        return;
      }
      onRatingAck(); // it names the rated (ended) conversation: not an open one
      return;
    }
    if (f.conversation && typeof f.conversation === "object") {
      conversation = f.conversation;
    }
    var id = String(f.id);
    var m = conn.ack(id);
    if (m) {
      dom.setRowState(m.row, "sent");
      tell({ kind: "visitor", id: m.id, text: m.text });
    }
  }

  function replyRow(replyId) {
    var r = replies[replyId];
    if (!r) {
      r = replies[replyId] = { row: null, bubble: null, to: null, text: "", done: false };
    }
    if (!r.row) {
      // A reply the typing watchdog gave up on may still come: reuse its row.
      r.row = Array.prototype.filter.call(ui.list.children, function (n) {
        return n.getAttribute("data-reply") === replyId;
      })[0] || null;
      if (r.row) {
        r.bubble = r.row.querySelector(".bubble");
        r.text = "";
        r.bubble.textContent = "";
        r.row.setAttribute("data-state", "streaming");
        return r;
      }
      r.row = dom.messageRow("robot", "", null);
      r.row.setAttribute("data-reply", replyId);
      r.row.setAttribute("data-state", "streaming");
      r.bubble = r.row.querySelector(".bubble");
      appendToList(r.row);
    }
    return r;
  }

  function onReplyStart(f) {
    var id = str(f.reply);
    if (!id) {
      return;
    }
    replies[id] = replies[id] || { row: null, bubble: null, to: null, text: "", done: false };
    replies[id].to = typeof f.to === "string" ? f.to : null;
    refreshTyping();
  }

  function onReplyDelta(f) {
    var id = str(f.reply);
    var text = str(f.text);
    if (!id || !text) {
      return;
    }
    var r = replyRow(id);
    if (r.done) {
      return;
    }
    var wasAtEnd = atEnd();
    r.text += text;
    dom.markdown(r.bubble, r.text);
    refreshTyping();
    scrollToEnd(false, wasAtEnd);
  }

  // The pieces so far are replaced by what follows (a fallback model, or a filtered answer).
  function onReplyRestart(f) {
    var r = replies[str(f.reply)];
    if (r && r.row && !r.done) {
      r.text = "";
      r.bubble.textContent = "";
      refreshTyping();
    }
  }

  function onReplyEnd(f) {
    var id = str(f.reply);
    if (!id) {
      clearTyping();
      return;
    }
    var r = replyRow(id);
    var wasAtEnd = atEnd();
    r.text = str(f.text) || r.text;
    dom.markdown(r.bubble, r.text);
    r.row.setAttribute("data-state", "done");
    r.row.setAttribute("data-id", id);
    dom.setAiData(r.row, f.ai);
    if (!r.row.querySelector(".ai-label")) {
      r.row.appendChild(aiLabelNode(f.ai));
    }
    if (Array.isArray(f.sources)) {
      r.row.setAttribute("data-sources", String(f.sources.length));
    }
    if (f.handoff === true && config && config.handoff && !person) {
      // The robot did not know: a button, not text to retype.
      var offer = dom.part("button", "earlier", "offer", t("person"));
      offer.type = "button";
      offer.addEventListener("click", askPerson);
      r.row.appendChild(offer);
    }
    r.done = true;
    delete replies[id];
    refreshTyping();
    scrollToEnd(false, wasAtEnd);
    tell({ kind: "robot", id: id, text: r.text, ai: f.ai });
  }

  function onEnded(f) {
    conversation = null;
    onHandoff({}, false);
    clearTyping();
    var reasons = t("endReason") || {};
    var reason = str(f.reason);
    systemLine(reasons[reason] || t("ended"));
    if (reason === "suspended") {
      return;
    }
    showRating();
  }

  var ratingBox = null;
  function showRating() {
    if (ratingBox && ratingBox.parentNode) {
      ratingBox.parentNode.removeChild(ratingBox);
    }
    ratingBox = dom.ratingBox(function (score) {
      return conn.send(protocol.rating(score));
    });
    appendToList(ratingBox);
  }

  function onRatingAck() {
    if (ratingBox) {
      ratingBox.setAttribute("data-acked", "true");
    }
  }

  function onError(f) {
    loadingEarlier = false; // a refused history request may be asked again
    var code = protocol.errorCode(str(f.code));
    var id = typeof f.id === "string" ? f.id : null;
    if (id) {
      clearTyping(id);
    } else if (code === "unavailable") {
      clearTyping();
    }
    var text;
    if (code === "rate_limited") {
      var wait = Math.max(1, Math.ceil(Number(f.retry_after) || 1));
      text = t("rateLimited", { n: wait });
    } else if (code === "message_too_long") {
      text = t("tooLong");
    } else if (code === "no_conversation") {
      text = t("noConversation");
    } else if (code === "unavailable") {
      text = t("unavailable");
    } else if (code === "hello_required") {
      return; // a race during the handshake; the next welcome sorts it out
    } else {
      text = t("badFrame");
    }
    var failedMessage = id ? conn.find(id) : null;
    if (failedMessage) {
      failMessage(failedMessage, text, code === "rate_limited" || code === "unavailable");
    } else {
      inlineError(text);
    }
  }

  // The server refused this message: it is not retried by itself; the user may retry it.
  function failMessage(m, text, retryable) {
    m.failed = true;
    dom.setRowState(m.row, "failed", text);
    if (!retryable) {
      conn.drop(m);
      return;
    }
    var meta = m.row.querySelector(".meta");
    var retry = el("button", "", t("retry"));
    retry.type = "button";
    retry.addEventListener("click", function () {
      conn.retry(m);
    });
    meta.appendChild(retry);
  }

  // ------------------------------------------------------------------ a person

  // Where a request for a person stands; `said`: a new frame (shown in the list), not the
  // state a welcome restores.
  function onHandoff(f, said) {
    var status = str(f.status);
    person = status === "queued" || status === "assigned" ? f : null;
    agentTyping = false;
    ui.panel.setAttribute("data-person", status);
    var text = str(f.text);
    if (status === "queued" && f.wait > 0) {
      text += " " + t("wait", { n: Math.ceil(f.wait / 60) });
    }
    if (said && text) {
      systemLine(text).setAttribute("data-kefu", "handoff");
    }
    if (status === "unavailable" && said) {
      showLeave();
    }
    applyTexts();
    refreshTyping();
  }

  function askPerson() {
    if (conn.welcomed()) {
      conn.send({ type: "handoff" });
    }
  }

  function onAgentMessage(f) {
    agentTyping = false;
    refreshTyping();
    var row = dom.messageRow("agent", str(f.text), f.at, f.agent && str(f.agent.name));
    row.setAttribute("data-id", str(f.id));
    appendToList(row);
  }

  // Nobody there: a contact and the question, for the licensee's agents to answer later.
  function showLeave() {
    var form = dom.part("form", "rating", "leave");
    var contact = el("input");
    var question = el("textarea");
    var send = el("button", "", t("leave"));
    contact.placeholder = t("contact");
    question.placeholder = t("question");
    contact.setAttribute("aria-label", t("contact"));
    question.setAttribute("aria-label", t("question"));
    contact.maxLength = 200;
    form.appendChild(contact);
    form.appendChild(question);
    form.appendChild(send);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (contact.value.trim() && question.value.trim() &&
          conn.send({ type: "leave", contact: contact.value, text: question.value })) {
        leaveBox = form;
      }
    });
    appendToList(form);
  }

  // ------------------------------------------------------------------ user actions

  function onInput(ev) {
    var text = ui.input.value;
    var n = codePoints(text);
    if (n > protocol.MAX_TEXT_CHARS && !(ev && ev.isComposing)) {
      ui.input.value = clipCodePoints(text, protocol.MAX_TEXT_CHARS);
      n = protocol.MAX_TEXT_CHARS;
    }
    ui.counter.hidden = n < protocol.MAX_TEXT_CHARS - 200;
    ui.counter.textContent = t("counter", { n: n });
    ui.counter.classList.toggle("over", n >= protocol.MAX_TEXT_CHARS);
    ui.sendBtn.disabled = !!unavailable || !ui.input.value.trim();
    if (ev && person && person.agent && Date.now() - typedAt > 3000) {
      typedAt = Date.now(); // the agent sees the visitor typing, told at most every 3 s
      conn.send({ type: "typing", on: true });
    }
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
  }

  function submitInput() {
    if (unavailable) {
      return;
    }
    var text = ui.input.value;
    if (!text.trim()) {
      return;
    }
    if (codePoints(text) > protocol.MAX_TEXT_CHARS) {
      inlineError(t("tooLong"));
      return;
    }
    ui.input.value = "";
    onInput();
    sendMessage(text);
  }

  function sendMessage(text) {
    var id = protocol.newClientId();
    var row = dom.visitorRow(text, id, conn.welcomed() ? "pending" : "queued");
    appendToList(row);
    scrollToEnd(true);
    conn.queue({ id: id, text: text, row: row });
  }

  function endConversation() {
    if (!conn.welcomed()) {
      return;
    }
    if (!conversation) {
      inlineError(t("noConversation"));
      return;
    }
    conn.send(protocol.close());
  }

  // ---------------------------------------------------------------- other tabs

  var post = tabs("kefu." + ctx.siteKey, onTab);

  function tell(event) {
    event.visitor = myVisitor;
    post(event);
  }

  function onTab(m) {
    if (!conn.welcomed() || !m || typeof m !== "object" || typeof m.id !== "string" ||
        !myVisitor || m.visitor !== myVisitor) {
      return;
    }
    var text = str(m.text);
    var found = Array.prototype.some.call(ui.list.children, function (n) {
      return n.getAttribute("data-client-id") === m.id || n.getAttribute("data-id") === m.id;
    });
    if (found || !text) {
      return;
    }
    var row;
    if (m.kind === "visitor") {
      row = dom.visitorRow(text, m.id, "sent");
    } else if (m.kind === "robot") {
      row = dom.messageRow("robot", text, null);
      row.setAttribute("data-id", m.id);
      dom.setAiData(row, m.ai);
      row.appendChild(aiLabelNode(m.ai));
    } else {
      return;
    }
    appendToList(row);
  }

  function sameUser(a, b) {
    return (!a && !b) || (!!a && !!b && a.id === b.id && a.hash === b.hash);
  }

  // ---------------------------------------------------------------- light and dark

  // data-theme="light" or "dark" wins; "auto" (the default) follows the visitor's system.
  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function applyMode() {
    var mode = ctx.options.theme;
    ui.wrap.classList.toggle("dark", mode === "dark" || (mode !== "light" && !!(darkQuery && darkQuery.matches)));
  }
  if (darkQuery && darkQuery.addEventListener) {
    darkQuery.addEventListener("change", applyMode);
  }

  // ---------------------------------------------------------------- mount

  buildUi();
  applyMode();
  if (ctx.want.open) {
    openPanel();
  }

  // What the loader's window.Kefu calls once this UI is mounted.
  return {
    open: openPanel,
    close: closePanel,
    toggle: function () {
      if (ui.panel.hidden) {
        ctx.want.open = true;
        openPanel();
      } else {
        ctx.want.open = false;
        closePanel();
      }
    },
    setLocale: function (locale) {
      texts.locale = locale;
      applyTexts();
      conn.reconnect();
    },
    identify: function (next) {
      if (!sameUser(user, next)) {
        user = next;
        conn.reconnect();
      }
    },
    reset: function () {
      user = null;
      myVisitor = null;
      conversation = null;
      conn.forget();
      renderHistory([]);
      conn.reconnect();
    }
  };}

// The loader's window.Kefu takes the view once; anywhere else this script does nothing.
if (window.Kefu && typeof window.Kefu._mount === "function") {
  window.Kefu._mount(view);
}
