/* Kefu chat widget UI: the protocol v1 client. Plain ES2019, no dependencies.
 *
 * Loaded by the loader (widget.js) when the chat is opened; it registers itself through
 * `window.Kefu._mount` and defines no global of its own.
 *
 * Rules kept throughout this file: every piece of text that comes from the network or from the
 * user reaches the DOM through textContent / createTextNode only; markup is never parsed. Robot
 * answers may use a small Markdown subset, which is turned into DOM nodes here, never into HTML.
 */
(function () {
  "use strict";

  // Protocol v1: every client and server frame type, and every error code (the test suite
  // compares these two lines with the server's definitions).
  var FRAME_TYPES = ["hello", "message", "close", "rating", "welcome", "ack", "reply.start", "reply.delta", "reply.restart", "reply.end", "ended", "notice", "error"];
  var ERROR_CODES = ["hello_required", "bad_frame", "message_too_long", "no_conversation", "rate_limited", "unavailable"];

  var kefu = window.Kefu;
  if (kefu && typeof kefu._mount === "function") {
    kefu._mount(mount);
  }

  function mount(ctx) {
    var MAX_TEXT_CHARS = 2000;
    var BACKOFF_BASE_MS = 500;
    var BACKOFF_MAX_MS = 30000;
    var CONNECT_TIMEOUT_MS = 12000;
    var TYPING_WATCHDOG_MS = 90000;
    var SUSPENDED_RETRY_MS = 10 * 60 * 1000;
    var MAINTENANCE_RETRY_MS = 2 * 60 * 1000;
    var UNAVAILABLE_RETRY_MAX_MS = 30 * 60 * 1000;
    var CLOSE_SUSPENDED = 4403;
    var CLOSE_MAINTENANCE = 4503;
    var PRODUCT_NAME = "Kefu";

    var store = ctx.store;
    var keys = ctx.keys;
    var el = ctx.el;
    var wsUrl = (ctx.scriptUrl.protocol === "https:" ? "wss://" : "ws://") + ctx.scriptUrl.host +
      "/v1/chat?key=" + encodeURIComponent(ctx.siteKey);

    // ---------------------------------------------------------------- small helpers

    function now() {
      return Date.now();
    }

    function codePoints(text) {
      return Array.from(text).length;
    }

    function clipCodePoints(text, max) {
      var chars = Array.from(text);
      return chars.length > max ? chars.slice(0, max).join("") : text;
    }

    function str(value) {
      return typeof value === "string" ? value : "";
    }

    function newClientId() {
      var c = window.crypto;
      if (c && typeof c.randomUUID === "function") {
        try {
          return c.randomUUID();
        } catch (e) { /* not a secure context */ }
      }
      var bytes = new Uint8Array(16);
      if (c && typeof c.getRandomValues === "function") {
        c.getRandomValues(bytes);
      } else {
        for (var i = 0; i < 16; i++) {
          bytes[i] = Math.floor(Math.random() * 256);
        }
      }
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      var hex = "";
      for (var j = 0; j < 16; j++) {
        hex += (bytes[j] + 0x100).toString(16).slice(1);
      }
      return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
        hex.slice(16, 20) + "-" + hex.slice(20);
    }

    // ------------------------------------------------------------------ UI strings
  
    var STRINGS = {
      "zh": {
        title: "在线客服",
        minimise: "最小化",
        endChat: "结束对话",
        placeholder: "请输入您的问题…",
        send: "发送",
        pending: "发送中…",
        queued: "等待网络，恢复后自动发送",
        failed: "未发送",
        retry: "重新发送",
        online: "在线",
        connecting: "正在连接…",
        reconnecting: "连接中断，正在重连…",
        typing: "正在输入",
        agent: "人工客服",
        ended: "对话已结束",
        endReason: {
          closed: "您已结束本次对话",
          idle: "对话因长时间无操作已结束",
          max_length: "对话时间已达上限，已自动结束",
          agent: "客服已结束本次对话",
          suspended: "服务已暂停，对话已结束"
        },
        rate: "请为本次服务打分",
        star: "{n} 星",
        rated: "感谢您的评价！",
        rateFailed: "评价未能提交，请稍后再试",
        rateLimited: "发送太频繁，请 {n} 秒后再试",
        tooLong: "消息过长，最多 2000 字",
        counter: "{n}/2000",
        badFrame: "消息未能发送",
        noConversation: "当前没有进行中的对话",
        unavailable: "服务暂时不可用，请稍后再试",
        unreachable: "暂时无法连接在线客服，正在重试…",
        suspendedTitle: "服务暂不可用",
        suspendedText: "在线客服暂时无法使用，请稍后再来。",
        maintenanceTitle: "系统维护中",
        maintenanceText: "在线客服正在维护，请稍后再来。",
        until: "预计恢复时间：{t}",
        window: "维护时间：{s} – {e}",
        aiLabel: "内容由AI生成",
        disclaimer: "AI 回答仅供参考，可能不准确",
        attribution: "技术支持：" + PRODUCT_NAME,
        dismiss: "关闭提示",
        messages: "对话消息"
      },
      "en": {
        title: "Customer service",
        minimise: "Minimise",
        endChat: "End chat",
        placeholder: "Type your question…",
        send: "Send",
        pending: "Sending…",
        queued: "Offline: will be sent when the connection is back",
        failed: "Not sent",
        retry: "Retry",
        online: "Online",
        connecting: "Connecting…",
        reconnecting: "Reconnecting…",
        typing: "Typing",
        agent: "Agent",
        ended: "The conversation has ended",
        endReason: {
          closed: "You ended the conversation",
          idle: "The conversation ended after a period of inactivity",
          max_length: "The conversation reached its maximum length",
          agent: "The agent ended the conversation",
          suspended: "The service was suspended and the conversation ended"
        },
        rate: "How was our service?",
        star: "{n} stars",
        rated: "Thank you for your feedback!",
        rateFailed: "Your rating could not be sent, please try again later",
        rateLimited: "Too many messages, please wait {n} s and try again",
        tooLong: "Message too long (2,000 characters at most)",
        counter: "{n}/2000",
        badFrame: "The message could not be sent",
        noConversation: "There is no open conversation",
        unavailable: "The service is temporarily unavailable, please try again later",
        unreachable: "Customer service cannot be reached at the moment. Still trying…",
        suspendedTitle: "Service unavailable",
        suspendedText: "Customer service is unavailable at the moment. Please come back later.",
        maintenanceTitle: "Under maintenance",
        maintenanceText: "Customer service is under maintenance. Please come back later.",
        until: "Expected back: {t}",
        window: "Maintenance: {s} – {e}",
        aiLabel: "AI-generated",
        disclaimer: "AI answers may be inaccurate",
        attribution: "Powered by " + PRODUCT_NAME,
        dismiss: "Dismiss",
        messages: "Conversation messages"
      }
    };
  
    var uiLocale = ctx.pageLocale();
    function lang() {
      return /^zh/i.test(uiLocale) ? "zh" : "en";
    }
    function t(name, vars) {
      var s = STRINGS[lang()][name];
      if (typeof s !== "string") {
        return s;
      }
      if (vars) {
        Object.keys(vars).forEach(function (k) {
          s = s.split("{" + k + "}").join(String(vars[k]));
        });
      }
      return s;
    }
  
    function formatTime(iso) {
      if (!iso) {
        return "";
      }
      var d = new Date(iso);
      if (isNaN(d.getTime())) {
        return "";
      }
      try {
        return d.toLocaleString(lang() === "zh" ? "zh-CN" : "en", {
          month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
        });
      } catch (e) {
        return d.toISOString();
      }
    }
    // ---------------------------------------------------------------- styles (static text)

    var CSS_TEXT = [
      ".kefu{--fg:#1f2430;--muted:#6b7280;--line:#e6e8ee;--bg:#fff;--soft:#f4f6fa;--chip:#eceff5;",
      "--danger:#c62828;--danger-bg:#fdecec;",
      "font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"PingFang SC\",\"Hiragino Sans GB\",",
      "\"Microsoft YaHei\",\"Noto Sans CJK SC\",\"Noto Sans SC\",\"Helvetica Neue\",Arial,sans-serif;",
      "font-size:14px;line-height:1.5;color:var(--fg);-webkit-font-smoothing:antialiased;}",
      ".kefu.dark{--fg:#e6e8ee;--muted:#9aa3b2;--line:#2c3340;--bg:#171b22;--soft:#0f1217;",
      "--chip:#252b36;--danger:#f87171;--danger-bg:#3a1d1d;color-scheme:dark;}",
      ".kefu *,.kefu *::before,.kefu *::after{box-sizing:border-box;}",
      ".panel button{font:inherit;color:inherit;cursor:pointer;border:0;background:none;padding:0;margin:0;}",
      ".panel button:focus-visible,textarea:focus-visible,a:focus-visible{outline:2px solid var(--brand);outline-offset:2px;}",
      ".panel{position:fixed;right:20px;bottom:88px;width:360px;height:560px;",
      "max-width:calc(100vw - 24px);max-height:calc(100vh - 108px);background:var(--bg);",
      "border-radius:16px;box-shadow:0 16px 48px rgba(17,24,39,.22),0 2px 8px rgba(17,24,39,.08);",
      "display:flex;flex-direction:column;overflow:hidden;z-index:2147483647;",
      "transform-origin:bottom right;animation:kefu-in .18s ease-out;}",
      ".kefu.left .panel{right:auto;left:20px;transform-origin:bottom left;}",
      ".kefu.no-launcher .panel{bottom:20px;max-height:calc(100vh - 40px);}",
      ".panel[hidden]{display:none;}",
      "@keyframes kefu-in{from{opacity:0;transform:translateY(8px) scale(.98);}to{opacity:1;transform:none;}}",
      ".head{display:flex;align-items:center;gap:10px;padding:12px 10px 12px 16px;",
      "background:var(--brand);color:var(--brand-text);flex:none;}",
      ".avatar{width:34px;height:34px;border-radius:50%;background:rgba(255,255,255,.2);flex:none;",
      "display:flex;align-items:center;justify-content:center;}",
      ".avatar svg{width:20px;height:20px;}",
      ".head-text{flex:1;min-width:0;}",
      ".title{font-size:15px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;margin:0;}",
      ".status{font-size:12px;opacity:.85;display:flex;align-items:center;gap:6px;}",
      ".status::before{content:\"\";width:7px;height:7px;border-radius:50%;background:#fbbf24;}",
      ".panel[data-status=ready] .status::before{background:#34d399;}",
      ".panel[data-status=unavailable] .status::before{background:#f87171;}",
      ".icon-btn{width:32px;height:32px;border-radius:8px;display:flex;align-items:center;",
      "justify-content:center;color:inherit;opacity:.9;flex:none;}",
      ".icon-btn:hover{background:rgba(255,255,255,.18);opacity:1;}",
      ".icon-btn svg{width:18px;height:18px;}",
      ".head button:focus-visible{outline-color:var(--brand-text);}",
      ".end-btn{height:28px;padding:0 10px;border-radius:999px;font-size:12px;white-space:nowrap;",
      "border:1px solid rgba(255,255,255,.45);color:inherit;flex:none;}",
      ".end-btn:hover{background:rgba(255,255,255,.18);}",
      ".end-btn:disabled{opacity:.5;cursor:default;}",
      ".banner{flex:none;display:flex;gap:8px;align-items:flex-start;padding:8px 12px;font-size:12.5px;",
      "background:#fff7e6;color:#8a5a00;border-bottom:1px solid #fde7b0;}",
      ".banner[hidden]{display:none;}",
      ".banner.suspended{background:#fdecec;color:#9b1c1c;border-bottom-color:#f8caca;}",
      ".banner-text{flex:1;white-space:pre-wrap;overflow-wrap:anywhere;}",
      ".banner .x{font-size:16px;line-height:1;opacity:.6;padding:0 2px;}",
      ".banner .x:hover{opacity:1;}",
      ".body{flex:1;min-height:0;position:relative;display:flex;flex-direction:column;background:var(--soft);}",
      ".list{flex:1;overflow-y:auto;padding:16px 14px 8px;display:flex;flex-direction:column;gap:10px;",
      "overscroll-behavior:contain;}",
      ".row{display:flex;flex-direction:column;max-width:84%;}",
      ".row.visitor{align-self:flex-end;align-items:flex-end;}",
      ".row.robot,.row.agent,.row.greeting{align-self:flex-start;align-items:flex-start;}",
      ".bubble{padding:9px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere;",
      "word-break:break-word;}",
      ".bubble p,.bubble ul,.bubble ol{margin:0;}",
      ".bubble p+p,.bubble p+ul,.bubble p+ol,.bubble ul+p,.bubble ol+p{margin-top:6px;}",
      ".bubble ul,.bubble ol{padding-left:20px;white-space:normal;}",
      ".bubble li{white-space:pre-wrap;}",
      ".bubble a{color:var(--brand);text-decoration:underline;}",
      ".kefu.dark .bubble a{color:inherit;}",
      ".row.visitor .bubble{background:var(--brand);color:var(--brand-text);border-bottom-right-radius:4px;}",
      ".row.robot .bubble,.row.agent .bubble,.row.greeting .bubble{background:var(--bg);color:var(--fg);",
      "border:1px solid var(--line);border-bottom-left-radius:4px;}",
      ".row.visitor[data-state=pending] .bubble,.row.visitor[data-state=queued] .bubble{opacity:.65;}",
      ".row.visitor[data-state=failed] .bubble{opacity:.65;}",
      ".meta{font-size:11.5px;color:var(--muted);margin-top:3px;padding:0 4px;display:flex;gap:8px;",
      "align-items:center;}",
      ".meta:empty{display:none;}",
      ".row[data-state=failed] .meta{color:var(--danger);}",
      ".meta button{color:var(--brand);text-decoration:underline;font-size:11.5px;}",
      ".who{font-size:11.5px;color:var(--muted);margin:0 4px 3px;}",
      ".ai-label{font-size:11px;color:var(--muted);margin-top:4px;padding:1px 7px;border-radius:999px;",
      "background:var(--chip);display:inline-flex;align-items:center;gap:4px;}",
      ".ai-label svg{width:11px;height:11px;}",
      ".system{align-self:center;font-size:12px;color:var(--muted);background:var(--chip);",
      "padding:3px 10px;border-radius:999px;max-width:90%;text-align:center;white-space:pre-wrap;",
      "overflow-wrap:anywhere;}",
      ".inline-error{align-self:center;font-size:12px;color:var(--danger);background:var(--danger-bg);",
      "padding:4px 10px;border-radius:8px;max-width:90%;text-align:center;}",
      ".typing{align-self:flex-start;background:var(--bg);border:1px solid var(--line);border-radius:14px;",
      "border-bottom-left-radius:4px;padding:11px 14px;display:flex;gap:4px;}",
      ".typing[hidden]{display:none;}",
      ".typing span{width:6px;height:6px;border-radius:50%;background:#9aa3b2;",
      "animation:kefu-dot 1.2s infinite ease-in-out;}",
      ".typing span:nth-child(2){animation-delay:.15s;}",
      ".typing span:nth-child(3){animation-delay:.3s;}",
      "@keyframes kefu-dot{0%,60%,100%{transform:translateY(0);opacity:.5;}30%{transform:translateY(-4px);opacity:1;}}",
      ".rating{align-self:center;background:var(--bg);border:1px solid var(--line);border-radius:12px;",
      "padding:10px 14px;text-align:center;font-size:13px;}",
      ".stars{display:flex;gap:2px;justify-content:center;margin-top:4px;}",
      ".stars button{font-size:24px;line-height:1;color:#c4c9d2;padding:2px;transition:color .1s;}",
      ".stars button.on{color:#f59e0b;}",
      ".stars button:disabled{cursor:default;}",
      ".state{position:absolute;inset:0;background:var(--soft);display:flex;flex-direction:column;",
      "align-items:center;justify-content:center;text-align:center;padding:32px;gap:8px;}",
      ".state[hidden]{display:none;}",
      ".state-icon{width:56px;height:56px;border-radius:50%;background:var(--bg);border:1px solid var(--line);",
      "display:flex;align-items:center;justify-content:center;color:var(--muted);margin-bottom:6px;}",
      ".state-icon svg{width:26px;height:26px;}",
      ".state-title{font-size:16px;font-weight:600;}",
      ".state-text{color:var(--muted);font-size:13px;white-space:pre-wrap;overflow-wrap:anywhere;}",
      ".composer{flex:none;display:flex;align-items:flex-end;gap:8px;padding:10px 12px;",
      "border-top:1px solid var(--line);background:var(--bg);}",
      ".composer textarea{flex:1;resize:none;border:1px solid var(--line);border-radius:12px;",
      "padding:8px 12px;font:inherit;color:var(--fg);background:var(--bg);max-height:120px;min-height:38px;",
      "line-height:20px;outline:none;}",
      ".composer textarea:focus{border-color:var(--brand);box-shadow:0 0 0 3px rgba(47,111,237,.12);}",
      ".composer textarea:disabled{background:var(--soft);}",
      ".send{width:38px;height:38px;border-radius:50%;background:var(--brand);color:var(--brand-text);",
      "display:flex;align-items:center;justify-content:center;flex:none;transition:opacity .15s;}",
      ".send:disabled{opacity:.4;cursor:default;}",
      ".send svg{width:18px;height:18px;}",
      ".counter{flex:none;font-size:11px;color:var(--muted);padding:0 14px 0;text-align:right;",
      "background:var(--bg);}",
      ".counter[hidden]{display:none;}",
      ".counter.over{color:var(--danger);}",
      ".foot{flex:none;padding:6px 12px 9px;background:var(--bg);font-size:11px;color:var(--muted);",
      "text-align:center;line-height:1.45;}",
      ".foot .attribution{font-weight:500;}",
      ".foot .sep{margin:0 6px;opacity:.6;}",
      ".sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;}",
      "@media (max-width:480px){",
      // The whole visible part of the page (the visual viewport, kept up to date by
      // fitViewport): not 100vw/100vh, which are more than is visible when the host page is
      // wider than the phone or when the on-screen keyboard is up.
      ".panel,.kefu.left .panel,.kefu.no-launcher .panel{left:var(--vv-x,0);top:var(--vv-y,0);",
      "right:auto;bottom:auto;width:var(--vv-w,100%);height:var(--vv-h,100%);max-width:none;",
      "max-height:none;border-radius:0;}",
      ".kefu.is-open .launcher{display:none;}",
      ".composer textarea{font-size:16px;}",
      "}",
      "@media (prefers-reduced-motion:reduce){.panel,.typing span,.stars button{animation:none;transition:none;}}"
    ].join("\n");

    // ---------------------------------------------------------------- icons

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

    // ---------------------------------------------------------------- Markdown subset
    //
    // Paragraphs, "-"/"*"/"1." lists, **bold**, [links](url) and bare http(s) URLs, built as DOM
    // nodes with text nodes inside. Links open in a new tab and only these schemes become links;
    // any other target is shown as plain text.

    var LINK_SCHEMES = ["http:", "https:", "mailto:", "tel:"];
    var INLINE = /\*\*([^*\n]+?)\*\*|\[([^\]\n]{1,300})\]\(([^()\s]{1,2000})\)|(https?:\/\/[^\s<>()"'\u3000-\u303f\uff01-\uff5e]+)/g;
    var LIST_ITEM = /^\s{0,3}(?:([-*\u2022])|(\d{1,3})[.)\u3001])\s+(.*)$/;

    function safeHref(raw) {
      var href = raw.trim();
      if (!/^(https?:\/\/|mailto:|tel:)/i.test(href)) {
        return null;
      }
      try {
        var url = new URL(href);
        return LINK_SCHEMES.indexOf(url.protocol) >= 0 ? url.href : null;
      } catch (e) {
        return null;
      }
    }

    function linkNode(label, target) {
      var href = safeHref(target);
      if (!href) {
        return document.createTextNode(label);
      }
      var a = el("a", "", label);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      return a;
    }

    function inline(parent, text) {
      var last = 0;
      var m;
      INLINE.lastIndex = 0;
      while ((m = INLINE.exec(text)) !== null) {
        if (m.index > last) {
          parent.appendChild(document.createTextNode(text.slice(last, m.index)));
        }
        if (m[1] !== undefined) {
          parent.appendChild(el("strong", "", m[1]));
        } else if (m[2] !== undefined) {
          parent.appendChild(linkNode(m[2], m[3]));
        } else {
          // A bare URL does not take the sentence's closing punctuation with it.
          var url = m[4].replace(/[.,;:!?]+$/, "");
          parent.appendChild(linkNode(url, url));
          INLINE.lastIndex = m.index + url.length;
        }
        last = INLINE.lastIndex;
      }
      if (last < text.length) {
        parent.appendChild(document.createTextNode(text.slice(last)));
      }
    }

    function renderMarkdown(container, text) {
      container.textContent = "";
      var para = [];
      var list = null;
      function flush() {
        if (para.length) {
          var p = el("p");
          inline(p, para.join("\n"));
          container.appendChild(p);
          para = [];
        }
      }
      text.replace(/\r\n?/g, "\n").split("\n").forEach(function (line) {
        var m = LIST_ITEM.exec(line);
        if (m) {
          flush();
          var ordered = !m[1];
          if (!list || list.ordered !== ordered) {
            list = { node: el(ordered ? "ol" : "ul"), ordered: ordered };
            if (ordered && m[2] !== "1") {
              list.node.start = Number(m[2]);
            }
            container.appendChild(list.node);
          }
          var li = el("li");
          inline(li, m[3]);
          list.node.appendChild(li);
        } else if (!line.trim()) {
          flush();
          list = null;
        } else if (list && /^\s{2,}/.test(line)) {
          inline(list.node.lastChild, "\n" + line.trim()); // a list item's continuation line
        } else {
          list = null;
          para.push(line);
        }
      });
      flush();
    }

    // ---------------------------------------------------------------- DOM building

    // An element that tests and styles find by its data-kefu name.
    function part(tag, className, name, text) {
      var node = el(tag, className, text);
      node.setAttribute("data-kefu", name);
      return node;
    }

    var ui = { wrap: ctx.wrap, launcher: ctx.launcher };

    function buildUi() {
      ctx.addStyles(ctx.root, CSS_TEXT);
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
      headText.appendChild(title);
      headText.appendChild(status);
      var endBtn = part("button", "end-btn", "end");
      endBtn.type = "button";
      var minBtn = part("button", "icon-btn", "minimise");
      minBtn.type = "button";
      minBtn.appendChild(icon("minimise"));
      head.appendChild(avatar);
      head.appendChild(headText);
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

      ui = {
        wrap: ctx.wrap, launcher: ctx.launcher, panel: panel, title: title,
        status: status, endBtn: endBtn, minBtn: minBtn, banner: banner, bannerText: bannerText,
        bannerClose: bannerClose, list: list, typing: typing, typingLabel: typingLabel, state: state,
        stateIcon: stateIcon, stateTitle: stateTitle, stateText: stateText, stateWhen: stateWhen,
        counter: counter, composer: composer, input: input, sendBtn: sendBtn,
        attribution: attribution, disclaimer: disclaimer
      };

      minBtn.addEventListener("click", function () {
        closePanel();
      });
      endBtn.addEventListener("click", endConversation);
      bannerClose.addEventListener("click", function () {
        ui.banner.hidden = true;
      });
      composer.addEventListener("submit", function (ev) {
        ev.preventDefault();
        submitInput();
      });
      input.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
          ev.preventDefault();
          submitInput();
        }
      });
      input.addEventListener("input", onInput);
      panel.addEventListener("keydown", onPanelKey);

      applyTexts();
      ctx.wrap.appendChild(panel);
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
      ui.minBtn.setAttribute("aria-label", t("minimise"));
      ui.minBtn.title = t("minimise");
      ui.bannerClose.setAttribute("aria-label", t("dismiss"));
      ui.input.placeholder = t("placeholder");
      ui.input.setAttribute("aria-label", t("placeholder"));
      ui.sendBtn.setAttribute("aria-label", t("send"));
      ui.sendBtn.title = t("send");
      ui.typingLabel.textContent = t("typing");
      ui.list.setAttribute("aria-label", t("messages"));
      // The attribution line is a licence term: it is always shown, whatever the config says.
      ui.attribution.textContent = str(cfg.attribution) || t("attribution");
      ui.disclaimer.textContent = str(cfg.disclaimer) || t("disclaimer");
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

    // ---------------------------------------------------------------- state

    var config = null;          // welcome.config
    var conversation = null;    // the open conversation, or null
    var ws = null;
    var welcomed = false;       // the current socket got its welcome
    var attempt = 0;            // reconnect attempts since the last welcome
    var reconnectTimer = null;
    var connectTimer = null;
    var started = false;
    var unavailable = null;     // null, or {kind, text, startsAt, endsAt}
    var everWelcomed = false;
    var outbox = [];            // unacknowledged visitor messages, in order: {id, text, row}
    var acked = {};             // client ids acknowledged by the server
    var replies = {};           // reply id -> {row, bubble, to, text}
    var typingWatchdog = null;
    var lastNotice = null;
    var user = ctx.want.user;   // {id, hash} from Kefu.identify, or null
    var refused = 0;            // handshakes in a row that failed before the socket opened
    var myVisitor = null;       // the visitor token of this tab's last welcome
    var REFUSED_BEFORE_BANNER = 3;

    // ---------------------------------------------------------------- panel

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
      start();
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
      } else if (welcomed) {
        ui.panel.setAttribute("data-status", "ready");
        ui.status.textContent = t("online");
        return;
      } else {
        key = everWelcomed ? "reconnecting" : "connecting";
        ui.panel.setAttribute("data-status", everWelcomed ? "reconnecting" : "connecting");
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

    var lastInlineError = null;
    function inlineError(text) {
      if (lastInlineError && lastInlineError.parentNode) {
        lastInlineError.parentNode.removeChild(lastInlineError);
      }
      lastInlineError = part("div", "inline-error", "error", text);
      lastInlineError.setAttribute("role", "alert");
      return appendToList(lastInlineError);
    }

    function aiLabelNode(ai) {
      var label = part("div", "ai-label", "ai-label");
      label.appendChild(icon("spark"));
      var text = (config && str(config.ai_label)) || (ai && str(ai.label)) || t("aiLabel");
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

    function messageRow(role, text, at) {
      var row = el("div", "row " + role);
      row.setAttribute("data-role", role);
      if (role === "agent") {
        row.appendChild(el("div", "who", t("agent")));
      }
      var bubble = el("div", "bubble");
      if (role === "visitor") {
        bubble.textContent = text;
      } else {
        renderMarkdown(bubble, text);
      }
      row.appendChild(bubble);
      var when = formatTime(at);
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
      var show = waiting && !unavailable;
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
      ui.stateIcon.appendChild(icon(maint ? "tool" : "pause"));
      ui.stateTitle.textContent = t(maint ? "maintenanceTitle" : "suspendedTitle");
      ui.stateText.textContent = text || t(maint ? "maintenanceText" : "suspendedText");
      var until = formatTime(endsAt);
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
      lastNotice = notice;
      var kind = str(notice.kind);
      var text = str(notice.text);
      if (kind === "suspended") {
        showUnavailable("suspended", text, notice.starts_at, notice.ends_at);
        return;
      }
      if (kind === "maintenance") {
        var startsAt = notice.starts_at ? new Date(notice.starts_at).getTime() : NaN;
        var endsAt = notice.ends_at ? new Date(notice.ends_at).getTime() : NaN;
        var inWindow = (isNaN(startsAt) || startsAt <= now()) && (isNaN(endsAt) || endsAt > now());
        // A maintenance notice on a live connection is an announcement unless it is under way
        // and the server says so by closing (4503); show it as a banner with its window.
        var line = text || t("maintenanceText");
        var s = formatTime(notice.starts_at);
        var e = formatTime(notice.ends_at);
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

    // ------------------------------------------------------------------ connection

    function start() {
      if (started) {
        return;
      }
      started = true;
      connect();
      window.addEventListener("online", function () {
        if (unavailable) {
          return;
        }
        if (ws && ws.readyState !== 1) {
          // An attempt made while offline may hang until its timeout: start afresh.
          var stale = ws;
          try {
            stale.close();
          } catch (e) { /* already closing */ }
          onSocketGone(stale, 1006);
        }
        if (!ws) {
          attempt = 0;
          connectSoon(0);
        }
      });
      // The network is gone: the socket is dead even if it does not know yet (it would take a
      // missed ping to notice). Drop it now, so that what the visitor types waits, visibly, for
      // the connection to come back instead of going into a dead socket.
      window.addEventListener("offline", function () {
        if (ws) {
          var sock = ws;
          try {
            sock.close(1000);
          } catch (e) { /* already closing */ }
          onSocketGone(sock, 1006);
        }
      });
    }

    function connectSoon(delay) {
      if (reconnectTimer) {
        clearTimeout(reconnectTimer);
        reconnectTimer = null;
      }
      if (navigator.onLine === false) {
        return; // the "online" event connects again, at once
      }
      reconnectTimer = setTimeout(function () {
        reconnectTimer = null;
        connect();
      }, delay);
    }

    function backoffDelay() {
      // Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)].
      var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, attempt));
      attempt += 1;
      return Math.floor(Math.random() * ceiling);
    }

    function connect() {
      if (ws) {
        return;
      }
      var sock;
      try {
        sock = new WebSocket(wsUrl);
      } catch (e) {
        connectSoon(backoffDelay());
        return;
      }
      ws = sock;
      welcomed = false;
      updateStatus();
      connectTimer = setTimeout(function () {
        if (ws === sock && !welcomed) {
          try {
            sock.close();
          } catch (e) { /* already closing */ }
          onSocketGone(sock, 1006);
        }
      }, CONNECT_TIMEOUT_MS);

      sock.onopen = function () {
        if (ws !== sock) {
          return;
        }
        sock.opened = true;
        var page = window.location.origin + window.location.pathname;
        rawSend({
          type: "hello",
          visitor: store("localStorage", keys.visitor),
          locale: ctx.pageLocale(),
          page: page,
          user: user || undefined
        });
      };
      sock.onmessage = function (ev) {
        if (ws !== sock || typeof ev.data !== "string") {
          return;
        }
        var frame;
        try {
          frame = JSON.parse(ev.data);
        } catch (e) {
          return;
        }
        // Frame types this client does not know (newer servers) are ignored.
        if (frame && typeof frame === "object" && FRAME_TYPES.indexOf(frame.type) >= 0) {
          handleFrame(frame);
        }
      };
      sock.onclose = function (ev) {
        onSocketGone(sock, ev.code);
      };
      sock.onerror = function () { /* onclose follows */ };
    }

    function onSocketGone(sock, code) {
      if (ws !== sock) {
        return;
      }
      ws = null;
      welcomed = false;
      if (connectTimer) {
        clearTimeout(connectTimer);
        connectTimer = null;
      }
      clearTyping();
      markOutbox();
      if (code === CLOSE_SUSPENDED || code === CLOSE_MAINTENANCE) {
        var kind = code === CLOSE_MAINTENANCE ? "maintenance" : "suspended";
        var n = lastNotice && str(lastNotice.kind) === kind ? lastNotice : null;
        showUnavailable(kind, n ? str(n.text) : "", n ? n.starts_at : null, n ? n.ends_at : null);
        connectSoon(unavailableRetryDelay(kind, n));
        return;
      }
      updateStatus();
      // A handshake refused again and again while the browser is online (an unknown or revoked
      // key is refused before the upgrade, so the page cannot be told why): say so plainly.
      refused = sock.opened ? 0 : refused + 1;
      if (refused >= REFUSED_BEFORE_BANNER && navigator.onLine !== false) {
        setBanner(t("unreachable"), "unreachable");
      }
      connectSoon(backoffDelay());
    }

    // A slow, jittered retry while the service is suspended or under maintenance.
    function unavailableRetryDelay(kind, notice) {
      var base = kind === "maintenance" ? MAINTENANCE_RETRY_MS : SUSPENDED_RETRY_MS;
      if (kind === "maintenance" && notice && notice.ends_at) {
        var endsAt = new Date(notice.ends_at).getTime();
        if (!isNaN(endsAt) && endsAt > now()) {
          base = Math.min(Math.max(endsAt - now(), 30000), UNAVAILABLE_RETRY_MAX_MS);
        }
      }
      return Math.floor(base + Math.random() * base * 0.25);
    }

    function rawSend(frame) {
      if (!ws || ws.readyState !== 1) {
        return false;
      }
      try {
        ws.send(JSON.stringify(frame));
        return true;
      } catch (e) {
        return false;
      }
    }

    // Queued messages show as waiting while there is no connection.
    function markOutbox() {
      outbox.forEach(function (m) {
        if (m.row.getAttribute("data-state") !== "failed") {
          setRowState(m.row, welcomed ? "pending" : "queued");
        }
      });
    }

    // Send one queued message on the current connection, once per connection, with its
    // original client id (the server answers a repeated id with the same ack and nothing else).
    function sendQueued(m) {
      if (!welcomed || acked[m.id] || m.failed || m.sentOn === ws) {
        return;
      }
      if (rawSend({ type: "message", id: m.id, text: m.text })) {
        m.sentOn = ws;
        setRowState(m.row, "pending");
      }
    }

    // Send every unacknowledged message, in order.
    function flushOutbox() {
      outbox.forEach(sendQueued);
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
        uiLocale = config.locale;
      }
      conversation = f.conversation || null;
      refused = 0;
      if (user && f.user !== user.id && window.console) {
        console.warn("Kefu: the identify hash was not accepted; this chat is anonymous");
      }
      welcomed = true;
      everWelcomed = true;
      attempt = 0;
      if (connectTimer) {
        clearTimeout(connectTimer);
        connectTimer = null;
      }
      applyTheme();
      hideUnavailable();
      applyTexts();
      renderHistory(Array.isArray(f.history) ? f.history : []);
      ui.banner.hidden = true;
      if (f.notice) {
        showNotice(f.notice);
      }
      flushOutbox();
      scrollToEnd(true);
    }

    function renderHistory(items) {
      replies = {};
      lastInlineError = null;
      ui.list.textContent = "";
      ui.typing.hidden = true;
      var greeting = str(config && config.greeting);
      if (greeting) {
        var g = messageRow("greeting", greeting, null);
        g.setAttribute("data-kefu", "greeting");
        ui.list.appendChild(g);
      }
      var seen = {};
      items.forEach(function (item) {
        if (!item || typeof item !== "object") {
          return;
        }
        var role = str(item.role);
        var text = str(item.text);
        var row;
        if (role === "visitor") {
          var cid = str(item.client_id);
          row = visitorRow(text, cid, "sent");
          if (cid) {
            seen[cid] = row;
          }
        } else if (role === "robot") {
          row = messageRow("robot", text, item.at);
          setAiData(row, item.ai);
          row.appendChild(aiLabelNode(item.ai));
        } else if (role === "agent") {
          row = messageRow("agent", text, item.at);
        } else if (role === "system") {
          row = el("div", "system", text);
          row.setAttribute("data-role", "system");
        } else {
          return;
        }
        if (item.id) {
          row.setAttribute("data-id", String(item.id));
        }
        ui.list.appendChild(row);
      });
      // Messages not yet acknowledged: keep their bubbles (once) after the history.
      outbox.forEach(function (m) {
        if (seen[m.id]) {
          seen[m.id].setAttribute("data-state", "pending");
          m.row = seen[m.id];
          setRowState(m.row, "pending");
        } else {
          ui.list.appendChild(m.row);
        }
      });
    }

    function onAck(f) {
      if (f.id === null || f.id === undefined) {
        onRatingAck(); // it names the rated (ended) conversation: not an open one
        return;
      }
      if (f.conversation && typeof f.conversation === "object") {
        conversation = f.conversation;
      }
      var id = String(f.id);
      acked[id] = true;
      outbox = outbox.filter(function (m) {
        if (m.id === id) {
          setRowState(m.row, "sent");
          tell({ kind: "visitor", id: m.id, text: m.text });
          return false;
        }
        return true;
      });
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
        r.row = messageRow("robot", "", null);
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
      renderMarkdown(r.bubble, r.text);
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
      renderMarkdown(r.bubble, r.text);
      r.row.setAttribute("data-state", "done");
      r.row.setAttribute("data-id", id);
      setAiData(r.row, f.ai);
      if (!r.row.querySelector(".ai-label")) {
        r.row.appendChild(aiLabelNode(f.ai));
      }
      if (Array.isArray(f.sources)) {
        r.row.setAttribute("data-sources", String(f.sources.length));
      }
      r.done = true;
      delete replies[id];
      refreshTyping();
      scrollToEnd(false, wasAtEnd);
      tell({ kind: "robot", id: id, text: r.text, ai: f.ai });
    }

    function onEnded(f) {
      conversation = null;
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
          if (!rawSend({ type: "rating", score: score })) {
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
      ratingBox = box;
      appendToList(box);
    }

    function onRatingAck() {
      if (ratingBox) {
        ratingBox.setAttribute("data-acked", "true");
      }
    }

    function onError(f) {
      var code = ERROR_CODES.indexOf(str(f.code)) >= 0 ? str(f.code) : "bad_frame";
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
      var failedMessage = null;
      if (id) {
        outbox.forEach(function (m) {
          if (m.id === id) {
            failedMessage = m;
          }
        });
      }
      if (failedMessage) {
        failMessage(failedMessage, text, code === "rate_limited" || code === "unavailable");
      } else {
        inlineError(text);
      }
    }

    // The server refused this message: it is not retried by itself; the user may retry it.
    function failMessage(m, text, retryable) {
      m.failed = true;
      setRowState(m.row, "failed", text);
      if (!retryable) {
        outbox = outbox.filter(function (x) {
          return x !== m;
        });
        return;
      }
      var meta = m.row.querySelector(".meta");
      var retry = el("button", "", t("retry"));
      retry.type = "button";
      retry.addEventListener("click", function () {
        if (acked[m.id]) {
          return;
        }
        m.failed = false;
        m.sentOn = null;
        setRowState(m.row, welcomed ? "pending" : "queued");
        sendQueued(m);
      });
      meta.appendChild(retry);
    }

    // ------------------------------------------------------------------ user actions

    function onInput(ev) {
      var text = ui.input.value;
      var n = codePoints(text);
      if (n > MAX_TEXT_CHARS && !(ev && ev.isComposing)) {
        ui.input.value = clipCodePoints(text, MAX_TEXT_CHARS);
        n = MAX_TEXT_CHARS;
      }
      ui.counter.hidden = n < MAX_TEXT_CHARS - 200;
      ui.counter.textContent = t("counter", { n: n });
      ui.counter.classList.toggle("over", n >= MAX_TEXT_CHARS);
      ui.sendBtn.disabled = !!unavailable || !ui.input.value.trim();
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
      if (codePoints(text) > MAX_TEXT_CHARS) {
        inlineError(t("tooLong"));
        return;
      }
      ui.input.value = "";
      onInput();
      sendMessage(text);
    }

    function sendMessage(text) {
      var id = newClientId();
      var row = visitorRow(text, id, welcomed ? "pending" : "queued");
      appendToList(row);
      scrollToEnd(true);
      var m = { id: id, text: text, row: row, failed: false, sentOn: null };
      outbox.push(m);
      start();
      sendQueued(m);
    }

    function endConversation() {
      if (!welcomed) {
        return;
      }
      if (!conversation) {
        inlineError(t("noConversation"));
        return;
      }
      rawSend({ type: "close" });
    }

    // ---------------------------------------------------------------- other tabs
    //
    // Tabs of the same visitor on this site share what they send and receive, so a second tab
    // shows the conversation as it goes on (a reload gets it from the server's history anyway).

    var channel = null;
    if (typeof window.BroadcastChannel === "function") {
      try {
        channel = new BroadcastChannel("kefu." + ctx.siteKey);
        channel.onmessage = onTab;
      } catch (e) {
        channel = null;
      }
    }

    function tell(event) {
      if (channel) {
        event.visitor = myVisitor;
        try {
          channel.postMessage(event);
        } catch (e) { /* a closed channel */ }
      }
    }

    function onTab(ev) {
      var m = ev.data;
      if (!welcomed || !m || typeof m !== "object" || typeof m.id !== "string" ||
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
        row = visitorRow(text, m.id, "sent");
      } else if (m.kind === "robot") {
        row = messageRow("robot", text, null);
        row.setAttribute("data-id", m.id);
        setAiData(row, m.ai);
        row.appendChild(aiLabelNode(m.ai));
      } else {
        return;
      }
      appendToList(row);
    }

    // ---------------------------------------------------------------- connection changes

    // Drop the current socket (if any) and connect again at once: a new locale, a new identity
    // or a forgotten visitor needs a new hello.
    function reconnectNow() {
      var sock = ws;
      if (sock) {
        ws = null;
        welcomed = false;
        if (connectTimer) {
          clearTimeout(connectTimer);
          connectTimer = null;
        }
        try {
          sock.close(1000);
        } catch (e) { /* already closing */ }
        clearTyping();
        markOutbox();
      }
      if (started && !unavailable) {
        attempt = 0;
        connectSoon(0);
      }
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
        uiLocale = locale;
        applyTexts();
        reconnectNow();
      },
      identify: function (next) {
        if (!sameUser(user, next)) {
          user = next;
          reconnectNow();
        }
      },
      reset: function () {
        user = null;
        myVisitor = null;
        conversation = null;
        outbox = [];
        acked = {};
        renderHistory([]);
        reconnectNow();
      }
    };
  }
})();
