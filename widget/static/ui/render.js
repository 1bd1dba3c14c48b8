/* The chat panel's DOM pieces: icons, the Markdown subset, the panel's parts, message rows.
 *
 * Every piece of text that comes from the network or from the user reaches the DOM through
 * textContent / createTextNode only; markup is never parsed. Robot answers may use a small
 * Markdown subset, which is turned into DOM nodes here, never into HTML.
 */
function render(ctx, texts) {
  var el = ctx.el;
  var t = texts.t;
  var renderMarkdown = markdown(el);

  function str(value) {
    return typeof value === "string" ? value : "";
  }

  var ICONS = {
    minimise: ["M6 12h12"],
    send: ["M4 12l15-7-5 15-3-6-7-2z", "M11 14l8-9"],
    agent: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4.5 20a7.5 7.5 0 0 1 15 0"],
    spark: ["M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8z"],
    pause: ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z", "M10 9v6M14 9v6"],
    tool: ["M14.7 6.3a4 4 0 0 0-5.4 5.2L4 16.8 7.2 20l5.3-5.3a4 4 0 0 0 5.2-5.4l-2.5 2.5-2.3-.7-.7-2.3z"]
  };
  function icon(name) {
    return ctx.icon(ICONS[name]);
  }

  // ---------------------------------------------------------------- DOM building

  // An element that tests and styles find by its data-kefu name.
  function part(tag, className, name, text) {
    var node = el(tag, className, text);
    node.setAttribute("data-kefu", name);
    return node;
  }

  // The panel's elements, unwired; the view adds the listeners and texts.
  function buildPanel() {
    var panel = part("div", "panel", "panel");
    panel.hidden = true;
    panel.id = "kefu-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "true");
    panel.setAttribute("aria-labelledby", "kefu-title");
    panel.setAttribute("data-status", "connecting");
    ctx.launcher.setAttribute("aria-controls", "kefu-panel");

    var head = el("div", "head");
    var avatar = el("div", "avatar");
    avatar.appendChild(icon("agent"));
    var headText = el("div", "head-text");
    var title = part("h2", "title", "title");
    title.id = "kefu-title";
    var status = part("div", "status", "status");
    status.setAttribute("role", "status");
    // Connected with a test key: these conversations are not billed, and the visitor sees it.
    var testMark = part("span", "test-mark", "test-mode");
    testMark.hidden = true;
    headText.appendChild(title);
    headText.appendChild(status);
    var endBtn = part("button", "end-btn", "end");
    endBtn.type = "button";
    // "Talk to a person": shown when the licensee has agents.
    var personBtn = part("button", "end-btn", "person");
    personBtn.type = "button";
    personBtn.hidden = true;
    var minBtn = part("button", "icon-btn", "minimise");
    minBtn.type = "button";
    minBtn.appendChild(icon("minimise"));
    head.appendChild(avatar);
    head.appendChild(headText);
    head.appendChild(testMark);
    head.appendChild(personBtn);
    head.appendChild(endBtn);
    head.appendChild(minBtn);
    panel.appendChild(head);

    var banner = part("div", "banner", "banner");
    banner.hidden = true;
    banner.setAttribute("role", "status");
    var bannerText = el("div", "banner-text");
    var bannerClose = el("button", "x", "\u00d7");
    bannerClose.type = "button";
    banner.appendChild(bannerText);
    banner.appendChild(bannerClose);
    panel.appendChild(banner);

    var body = el("div", "body");
    var list = part("div", "list", "messages");
    list.setAttribute("role", "log");
    list.setAttribute("aria-live", "polite");
    list.tabIndex = 0; // scrollable with the keyboard
    var typing = part("div", "typing", "typing");
    typing.hidden = true;
    typing.appendChild(el("span"));
    typing.appendChild(el("span"));
    typing.appendChild(el("span"));
    var typingLabel = el("span", "sr-only");
    typing.appendChild(typingLabel);
    body.appendChild(list);

    var state = part("div", "state", "unavailable");
    state.hidden = true;
    state.setAttribute("role", "alert");
    var stateIcon = el("div", "state-icon");
    var stateTitle = el("div", "state-title");
    var stateText = el("div", "state-text");
    var stateWhen = el("div", "state-text");
    state.appendChild(stateIcon);
    state.appendChild(stateTitle);
    state.appendChild(stateText);
    state.appendChild(stateWhen);
    body.appendChild(state);
    panel.appendChild(body);

    var counter = part("div", "counter", "counter");
    counter.hidden = true;
    panel.appendChild(counter);

    var composer = part("form", "composer", "composer");
    var input = part("textarea", "", "input");
    input.rows = 1;
    var sendBtn = part("button", "send", "send");
    sendBtn.type = "submit";
    sendBtn.disabled = true;
    sendBtn.appendChild(icon("send"));
    composer.appendChild(input);
    composer.appendChild(sendBtn);
    panel.appendChild(composer);

    var foot = el("div", "foot");
    var attribution = part("span", "attribution", "attribution");
    var sep = el("span", "sep", "\u00b7");
    var disclaimer = part("span", "disclaimer", "disclaimer");
    foot.appendChild(attribution);
    foot.appendChild(sep);
    foot.appendChild(disclaimer);
    panel.appendChild(foot);

    return {
      wrap: ctx.wrap, launcher: ctx.launcher, panel: panel, title: title,
      status: status, endBtn: endBtn, minBtn: minBtn, banner: banner, bannerText: bannerText,
      bannerClose: bannerClose, list: list, typing: typing, typingLabel: typingLabel, state: state,
      stateIcon: stateIcon, stateTitle: stateTitle, stateText: stateText, stateWhen: stateWhen,
      counter: counter, composer: composer, input: input, sendBtn: sendBtn,
      attribution: attribution, disclaimer: disclaimer, testMark: testMark, personBtn: personBtn
    };
  }

  function aiLabel(text) {
    var label = part("div", "ai-label", "ai-label");
    label.appendChild(icon("spark"));
    label.appendChild(document.createTextNode(text));
    return label;
  }

  function setAiData(row, ai) {
    if (!ai || typeof ai !== "object") {
      return;
    }
    row.setAttribute("data-ai", JSON.stringify(ai));
    row.setAttribute("data-ai-label", str(ai.label));
    row.setAttribute("data-ai-producer", str(ai.producer));
    row.setAttribute("data-ai-model", str(ai.model));
    row.setAttribute("data-ai-content-id", str(ai.content_id));
  }

  // `name`: an agent's, shown above their words (plain text, as the visitor's: never Markdown).
  function messageRow(role, text, at, name) {
    var row = el("div", "row " + role);
    row.setAttribute("data-role", role);
    if (role === "agent") {
      row.appendChild(el("div", "who", name || t("agent")));
    }
    var bubble = el("div", "bubble");
    if (role === "visitor" || role === "agent") {
      bubble.textContent = text;
    } else {
      renderMarkdown(bubble, text);
    }
    row.appendChild(bubble);
    var when = texts.time(at);
    if (when) {
      bubble.title = when;
    }
    return row;
  }

  function visitorRow(text, clientId, stateName) {
    var row = messageRow("visitor", text, null);
    if (clientId) {
      row.setAttribute("data-client-id", clientId);
    }
    row.appendChild(el("div", "meta"));
    setRowState(row, stateName || "sent");
    return row;
  }

  function setRowState(row, stateName, detail) {
    row.setAttribute("data-state", stateName);
    var meta = row.querySelector(".meta");
    if (!meta) {
      return;
    }
    meta.textContent = "";
    if (stateName === "pending") {
      meta.textContent = t("pending");
    } else if (stateName === "queued") {
      meta.textContent = t("queued");
    } else if (stateName === "failed") {
      meta.appendChild(document.createTextNode(detail || t("failed")));
    }
  }

  // The 1-5 stars shown when a conversation ends; `send(score)` is false when it could not go.
  function ratingBox(send) {
    var box = part("div", "rating", "rating");
    var label = el("div", "", t("rate"));
    var stars = el("div", "stars");
    var buttons = [];
    for (var i = 1; i <= 5; i++) {
      var b = el("button", "", "\u2605");
      b.type = "button";
      b.setAttribute("data-score", String(i));
      b.setAttribute("aria-label", t("star", { n: i }));
      b.title = t("star", { n: i });
      buttons.push(b);
      stars.appendChild(b);
    }
    function highlight(n) {
      buttons.forEach(function (btn, idx) {
        btn.classList.toggle("on", idx < n);
      });
    }
    buttons.forEach(function (b, idx) {
      b.addEventListener("mouseenter", function () {
        if (!box.getAttribute("data-score")) {
          highlight(idx + 1);
        }
      });
      b.addEventListener("click", function () {
        var score = idx + 1;
        if (!send(score)) {
          label.textContent = t("rateFailed");
          return;
        }
        box.setAttribute("data-score", String(score));
        highlight(score);
        buttons.forEach(function (btn) {
          btn.disabled = true;
        });
        label.textContent = t("rated");
      });
    });
    stars.addEventListener("mouseleave", function () {
      if (!box.getAttribute("data-score")) {
        highlight(0);
      }
    });
    box.appendChild(label);
    box.appendChild(stars);
    return box;
  }

  // `text` in `node` with its last two words (or, without spaces, its last four characters) in
  // one unbreakable span: a line break never leaves a lone word or character at the end.
  function withTail(node, text) {
    var words = text.split(" ");
    var chars = Array.from(text);
    var cut = words.length > 2 ? [words.slice(0, -2).join(" ") + " ", words.slice(-2).join(" ")] :
      [chars.slice(0, -4).join(""), chars.slice(-4).join("")];
    node.textContent = cut[0];
    node.appendChild(el("span", "tail", cut[1]));
  }

  return {
    icon: icon,
    part: part,
    markdown: renderMarkdown,
    panel: buildPanel,
    aiLabel: aiLabel,
    setAiData: setAiData,
    messageRow: messageRow,
    visitorRow: visitorRow,
    setRowState: setRowState,
    ratingBox: ratingBox,
    withTail: withTail
  };
}
