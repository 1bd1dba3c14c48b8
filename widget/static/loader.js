/* Kefu chat widget loader. Plain ES2019, no dependencies.
 *
 * Embed with:  <script src="https://HOST/widget.js?key=pk_live_..." async></script>
 * (older tags name the key in data-key="pk_live_..." on a plain /widget.js; they still work).
 *
 * This small script draws the launcher at once and defines `window.Kefu`, the only global. The
 * chat UI (ui.js, a versioned file with a long cache) is loaded only when the visitor opens the
 * chat, hovers or focuses the launcher, or had the chat open on the previous page.
 */
(function () {
  "use strict";

  if (window.Kefu && typeof window.Kefu.open === "function") {
    return; // the tag was included twice
  }

  // The server replaces this path with the versioned file's when it serves the loader.
  var UI_PATH = "/widget/ui.js";
  // The licensee's colour and corner, filled in by the server when the URL names the key, so
  // that the launcher wears them from its first frame, even on a first visit.
  var LOOK = {};

  var script = document.currentScript;
  var scriptUrl;
  try {
    scriptUrl = new URL(script.src, window.location.href);
  } catch (e) {
    return; // no script element (not loaded by a tag)
  }
  var siteKey = (script.getAttribute("data-key") || scriptUrl.searchParams.get("key") || "").trim();
  if (!siteKey) {
    return;
  }

  function attr(name) {
    var value = script.getAttribute("data-" + name);
    return value === null ? null : value.trim();
  }

  // ------------------------------------------------------------------ storage

  var memory = {};
  // store(kind, key) reads; store(kind, key, value) writes (null removes). Blocked storage
  // (private windows, sandboxed frames) falls back to memory for this page.
  function store(kind, key, value) {
    try {
      var area = window[kind];
      if (value === undefined) {
        var found = area.getItem(key);
        if (found !== null) {
          return found;
        }
      } else if (value === null) {
        area.removeItem(key);
      } else {
        area.setItem(key, value);
      }
    } catch (e) { /* memory only */ }
    if (value === undefined) {
      return memory[kind + key] || null;
    }
    return (memory[kind + key] = value);
  }
  var keys = {
    visitor: "kefu.visitor." + siteKey,
    open: "kefu.open." + siteKey,
    color: "kefu.color." + siteKey,
    position: "kefu.position." + siteKey
  };

  // ------------------------------------------------------------------ options

  var userId = attr("user-id");
  var options = {
    locale: attr("locale"),
    position: attr("position"),
    color: attr("color"),
    theme: attr("theme") || "auto",
    launcher: attr("launcher") !== "false",
    open: attr("open") === "true",
    user: userId ? { id: userId, hash: attr("user-hash") || "" } : null
  };

  function pageLocale() {
    var html = document.documentElement;
    return options.locale || (html && (html.getAttribute("lang") || "").trim()) ||
      navigator.language || "zh-CN";
  }
  function lang() {
    return /^zh/i.test(pageLocale()) ? "zh" : "en";
  }

  function isCssColor(value) {
    return typeof value === "string" && value.length <= 64 && CSS.supports("color", value);
  }
  // Dark text on light brand colours (perceived brightness of a hex colour), white otherwise.
  function textOn(color) {
    var h = /^#[0-9a-f]{3}$/i.test(color) ? color.replace(/\w/g, "$&$&") : color;
    var n = /^#[0-9a-f]{6}$/i.test(h) ? parseInt(h.slice(1), 16) : 0;
    return (n >> 16) * 299 + (n >> 8 & 255) * 587 + (n & 255) * 114 > 160000 ? "#111827" : "#fff";
  }

  // ------------------------------------------------------------------ DOM

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  // An inline SVG icon from path data (static strings of this file or of ui.js).
  function icon(paths, className) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    if (className) {
      svg.setAttribute("class", className);
    }
    paths.forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  // Constructable style sheets: they work under a strict Content-Security-Policy, which blocks
  // <style> elements without 'unsafe-inline'. Older browsers get a <style> element.
  function addStyles(root, cssText) {
    if ("adoptedStyleSheets" in root && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(cssText);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } else {
      root.appendChild(el("style", "", cssText));
    }
  }

  // The launcher's styles only; ui.js brings the rest.
  var CSS_TEXT = [
    ":host{all:initial;}",
    ".kefu{--brand:#2f6fed;--brand-text:#fff;}",
    "svg{fill:none;stroke:currentColor;stroke-width:1.8;stroke-linecap:round;stroke-linejoin:round;}",
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;",
    "border:0;padding:0;cursor:pointer;background:var(--brand);color:var(--brand-text);display:flex;",
    "align-items:center;justify-content:center;box-shadow:0 6px 20px rgba(17,24,39,.25);",
    "z-index:2147483646;}",
    ".launcher:focus-visible{outline:2px solid var(--brand);outline-offset:2px;}",
    ".kefu.left .launcher{right:auto;left:20px;}",
    ".kefu.no-launcher .launcher{display:none;}",
    ".launcher:hover{box-shadow:0 8px 24px rgba(17,24,39,.35);}",
    ".launcher svg{width:26px;height:26px;}",
    ".launcher .i-down,.kefu.is-open .launcher .i-chat{display:none;}",
    ".kefu.is-open .launcher .i-down{display:block;}",
    ".launcher .badge{position:absolute;top:2px;right:2px;width:12px;height:12px;border-radius:50%;",
    "background:#ef4444;border:2px solid #fff;display:none;}",
    ".launcher.has-unread .badge{display:block;}",
    "@media (max-width:480px){.launcher{right:16px;bottom:16px;}.kefu.left .launcher{left:16px;}}"
  ].join("\n");

  var ICON_CHAT = ["M4 6a3 3 0 0 1 3-3h10a3 3 0 0 1 3 3v7a3 3 0 0 1-3 3h-7l-5 4v-4a3 3 0 0 1-1-3z", "M8 8.5h8M8 11.5h5"];
  var ICON_DOWN = ["M6 9l6 6 6-6"];
  var OPEN_LABEL = { zh: "打开在线客服", en: "Open customer service chat" };

  var host, root, wrap, launcher;

  function setBrand(color) {
    if (isCssColor(color)) {
      wrap.style.setProperty("--brand", color);
      wrap.style.setProperty("--brand-text", textOn(color));
    }
  }

  // The licensee's position comes with the loader (LOOK) or the welcome, which is remembered for
  // the next page; data-position on the script tag wins over both.
  function setPosition(position) {
    wrap.classList.toggle("left", (options.position || position) === "left");
  }

  function launcherTexts() {
    launcher.setAttribute("aria-label", OPEN_LABEL[lang()]);
  }

  function build() {
    // A custom element name, so that the host page's `div { ... }` rules do not reach it. It is
    // fixed and empty, so it never moves the host page's layout.
    host = document.createElement("kefu-widget");
    host.setAttribute("data-kefu-widget", "");
    host.style.cssText = "all:initial;position:fixed;z-index:2147483647";
    root = host.attachShadow({ mode: "open" });
    addStyles(root, CSS_TEXT);
    wrap = el("div", "kefu");
    wrap.setAttribute("data-kefu", "root");
    if (!options.launcher) {
      wrap.classList.add("no-launcher");
    }
    root.appendChild(wrap);
    launcher = el("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("data-kefu", "launcher");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-haspopup", "dialog");
    launcher.appendChild(icon(ICON_CHAT, "i-chat"));
    launcher.appendChild(icon(ICON_DOWN, "i-down"));
    launcher.appendChild(el("span", "badge"));
    wrap.appendChild(launcher);
    launcherTexts();
    setBrand(options.color || LOOK.color || store("localStorage", keys.color));
    setPosition(LOOK.position || store("localStorage", keys.position));
    launcher.addEventListener("click", function () {
      if (chat) {
        chat.toggle();
      } else {
        api.open();
      }
    });
    // Start fetching the chat UI as soon as the visitor shows interest.
    launcher.addEventListener("pointerenter", load);
    launcher.addEventListener("focus", load);
    document.body.appendChild(host);
  }

  // ------------------------------------------------------------------ the chat UI

  var chat = null;     // the mounted chat UI's API
  var loading = null;  // the <script> element fetching it
  var want = { open: false, user: options.user };

  function load() {
    if (chat || loading) {
      return;
    }
    loading = document.createElement("script");
    loading.src = new URL(UI_PATH, scriptUrl).href;
    loading.async = true;
    if (script.nonce) {
      loading.nonce = script.nonce; // nonce-based CSPs
    }
    launcher.setAttribute("data-state", "loading");
    loading.onerror = function () {
      // Offline or blocked: the next click tries again.
      loading.parentNode.removeChild(loading);
      loading = null;
      launcher.setAttribute("data-state", "error");
    };
    document.head.appendChild(loading);
  }

  // ui.js calls this once with its mount function.
  function mount(factory) {
    if (chat || !loading || typeof factory !== "function") {
      return;
    }
    launcher.removeAttribute("data-state");
    chat = factory({
      siteKey: siteKey, scriptUrl: scriptUrl, root: root, wrap: wrap, launcher: launcher,
      options: options, keys: keys, store: store, want: want, el: el, icon: icon,
      addStyles: addStyles, setBrand: setBrand, setPosition: setPosition, pageLocale: pageLocale,
      isCssColor: isCssColor
    });
  }

  var api = {
    open: function () {
      want.open = true;
      if (chat) {
        chat.open();
      } else if (launcher) {
        load();
      }
    },
    close: function () {
      want.open = false;
      if (chat) {
        chat.close();
      }
    },
    setLocale: function (locale) {
      if (typeof locale === "string" && locale.trim()) {
        options.locale = locale.trim();
        if (launcher) {
          launcherTexts();
        }
        if (chat) {
          chat.setLocale(options.locale);
        }
      }
    },
    // identify({id, hash}): the logged-in user, with the HMAC the licensee's server computed.
    identify: function (user) {
      if (!user || typeof user.id !== "string" || !user.id || user.id.length > 128) {
        throw new TypeError("Kefu.identify({id, hash})");
      }
      want.user = { id: user.id, hash: typeof user.hash === "string" ? user.hash : "" };
      if (chat) {
        chat.identify(want.user);
      }
    },
    // reset(): forget this visitor (call it when the user logs out of the host page).
    reset: function () {
      want.user = null;
      store("localStorage", keys.visitor, null);
      store("sessionStorage", keys.open, null);
      if (chat) {
        chat.reset();
      }
    }
  };
  Object.defineProperty(api, "_mount", { value: mount });
  window.Kefu = Object.freeze(api);

  function boot() {
    build();
    if (options.open || want.open || store("sessionStorage", keys.open) === "1") {
      api.open();
    }
    document.dispatchEvent(new CustomEvent("kefu:ready"));
  }

  if (document.body) {
    boot();
  } else {
    document.addEventListener("DOMContentLoaded", boot);
  }
})();
