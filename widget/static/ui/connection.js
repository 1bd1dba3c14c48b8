/* The chat's WebSocket: the handshake, reconnecting with backoff, and the visitor messages that
 * wait for their ack (sent once per connection, with their original ids, until acknowledged).
 *
 * What the visitor sees is the view's business; it is told through `hooks`:
 *   hello()            the hello frame for a new socket
 *   frame(f)           a known server frame (after a welcome has marked the socket ready)
 *   status()           the socket came, went or was welcomed
 *   lost()             the socket is gone (replies in progress will not finish on it)
 *   unavailable(k, n)  closed for suspension or maintenance (k), with the last such notice n
 *   unreachable()      handshakes keep being refused while the browser is online
 *   paused()           true while the view shows the service as unavailable
 *   state(m, name, k)  a queued message is now "pending" or "queued" (k: unless it failed)
 */
function connection(url, hooks) {
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_MAX_MS = 30000;
  var CONNECT_TIMEOUT_MS = 12000;
  var SUSPENDED_RETRY_MS = 10 * 60 * 1000;
  var MAINTENANCE_RETRY_MS = 2 * 60 * 1000;
  var UNAVAILABLE_RETRY_MAX_MS = 30 * 60 * 1000;
  var REFUSED_BEFORE_BANNER = 3;

  var ws = null;
  var welcomed = false;       // the current socket got its welcome
  var everWelcomed = false;
  var attempt = 0;            // reconnect attempts since the last welcome
  var reconnectTimer = null;
  var connectTimer = null;
  var started = false;
  var refused = 0;            // handshakes in a row that failed before the socket opened
  var lastNotice = null;
  var outbox = [];            // unacknowledged visitor messages, in order: {id, text, failed, sentOn}
  var acked = {};             // client ids acknowledged by the server

  function now() {
    return Date.now();
  }

  function start() {
    if (started) {
      return;
    }
    started = true;
    connect();
    window.addEventListener("online", function () {
      if (hooks.paused()) {
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

  function stopConnectTimer() {
    if (connectTimer) {
      clearTimeout(connectTimer);
      connectTimer = null;
    }
  }

  function connect() {
    if (ws) {
      return;
    }
    var sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      connectSoon(backoffDelay());
      return;
    }
    ws = sock;
    welcomed = false;
    hooks.status();
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
      send(hooks.hello());
    };
    sock.onmessage = function (ev) {
      var frame = ws === sock ? protocol.parse(ev.data) : null;
      if (!frame) {
        return;
      }
      if (frame.type === "welcome") {
        refused = 0;
        welcomed = true;
        everWelcomed = true;
        attempt = 0;
        stopConnectTimer();
      }
      var notice = frame.type === "notice" ? frame : frame.type === "welcome" ? frame.notice : null;
      if (notice && typeof notice === "object") {
        lastNotice = notice;
      }
      hooks.frame(frame);
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
    stopConnectTimer();
    hooks.lost();
    markOutbox();
    if (code === protocol.CLOSE_SUSPENDED || code === protocol.CLOSE_MAINTENANCE) {
      var kind = code === protocol.CLOSE_MAINTENANCE ? "maintenance" : "suspended";
      var n = lastNotice && lastNotice.kind === kind ? lastNotice : null;
      hooks.unavailable(kind, n);
      connectSoon(unavailableRetryDelay(kind, n));
      return;
    }
    hooks.status();
    // A handshake refused again and again while the browser is online (an unknown or revoked
    // key is refused before the upgrade, so the page cannot be told why): say so plainly.
    refused = sock.opened ? 0 : refused + 1;
    if (refused >= REFUSED_BEFORE_BANNER && navigator.onLine !== false) {
      hooks.unreachable();
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

  // Drop the current socket (if any) and connect again at once: a new locale, a new identity
  // or a forgotten visitor needs a new hello.
  function reconnectNow() {
    var sock = ws;
    if (sock) {
      ws = null;
      welcomed = false;
      stopConnectTimer();
      try {
        sock.close(1000);
      } catch (e) { /* already closing */ }
      hooks.lost();
      markOutbox();
    }
    if (started && !hooks.paused()) {
      attempt = 0;
      connectSoon(0);
    }
  }

  function send(frame) {
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

  // Queued messages show as waiting while there is no connection (failed ones stay failed).
  function markOutbox() {
    outbox.forEach(function (m) {
      hooks.state(m, welcomed ? "pending" : "queued", true);
    });
  }

  // Send one queued message on the current connection, once per connection, with its
  // original client id (the server answers a repeated id with the same ack and nothing else).
  function sendQueued(m) {
    if (!welcomed || acked[m.id] || m.failed || m.sentOn === ws) {
      return;
    }
    if (send(protocol.message(m.id, m.text))) {
      m.sentOn = ws;
      hooks.state(m, "pending");
    }
  }

  return {
    start: start,
    send: send,
    reconnect: reconnectNow,
    welcomed: function () {
      return welcomed;
    },
    everWelcomed: function () {
      return everWelcomed;
    },
    // The messages not yet acknowledged, in the order they were typed.
    outbox: function () {
      return outbox;
    },
    // A new message: queued, and sent at once if the socket is ready.
    queue: function (m) {
      m.failed = false;
      m.sentOn = null;
      outbox.push(m);
      start();
      sendQueued(m);
    },
    // A failed message the visitor retries (false: it was acknowledged meanwhile).
    retry: function (m) {
      if (acked[m.id]) {
        return false;
      }
      m.failed = false;
      m.sentOn = null;
      hooks.state(m, welcomed ? "pending" : "queued");
      sendQueued(m);
      return true;
    },
    // Send every unacknowledged message, in order (once a welcome has come).
    flush: function () {
      outbox.forEach(sendQueued);
    },
    // The server acknowledged client id `id`: its message (if queued here) leaves the outbox.
    ack: function (id) {
      acked[id] = true;
      var found = null;
      outbox = outbox.filter(function (m) {
        if (m.id === id) {
          found = m;
          return false;
        }
        return true;
      });
      return found;
    },
    find: function (id) {
      return outbox.filter(function (m) {
        return m.id === id;
      })[0] || null;
    },
    drop: function (m) {
      outbox = outbox.filter(function (x) {
        return x !== m;
      });
    },
    forget: function () {
      outbox = [];
      acked = {};
    }
  };
}
