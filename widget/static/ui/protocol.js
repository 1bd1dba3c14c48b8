/* Protocol v1 as the widget speaks it: the wire constants, client frame builders, and the parser
 * of server frames. No DOM and no socket here.
 */
var protocol = (function () {
  // Every constant below mirrors one in core/chat/frames.py; the test suite compares each list
  // with the server's, so a value added on one side only fails it. The end reasons, notice kinds
  // and roles are listed for that check: the view names the ones it shows.
  var FRAME_TYPES = ["hello", "message", "close", "rating", "welcome", "ack", "reply.start", "reply.delta", "reply.restart", "reply.end", "ended", "notice", "error", "history", "handoff", "typing", "leave", "agent.message", "agent.typing"];
  var ERROR_CODES = ["hello_required", "bad_frame", "message_too_long", "no_conversation", "rate_limited", "unavailable"];
  var END_REASONS = ["closed", "idle", "max_length", "agent", "suspended", "max_messages"];
  var NOTICE_KINDS = ["maintenance", "suspended"];
  var ROLES = ["visitor", "robot", "agent", "system"];
  var HANDOFF_STATUSES = ["queued", "assigned", "unavailable", "returned"];
  var CLOSE_SUSPENDED = 4403;
  var CLOSE_MAINTENANCE = 4503;
  var MAX_TEXT_CHARS = 2000;

  // A message's client id: a random UUID (v4), also where crypto.randomUUID is missing.
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

  // A server text frame as an object, or null: not JSON, not an object, or a frame type this
  // client does not know (newer servers may send more; they are ignored).
  function parse(data) {
    if (typeof data !== "string") {
      return null;
    }
    var frame;
    try {
      frame = JSON.parse(data);
    } catch (e) {
      return null;
    }
    return frame && typeof frame === "object" && FRAME_TYPES.indexOf(frame.type) >= 0 ? frame : null;
  }

  // A known error code, or bad_frame for one this client does not know.
  function errorCode(value) {
    return ERROR_CODES.indexOf(value) >= 0 ? value : "bad_frame";
  }

  return {
    CLOSE_SUSPENDED: CLOSE_SUSPENDED,
    CLOSE_MAINTENANCE: CLOSE_MAINTENANCE,
    MAX_TEXT_CHARS: MAX_TEXT_CHARS,
    newClientId: newClientId,
    parse: parse,
    errorCode: errorCode,
    hello: function (visitor, locale, page, user) {
      return { type: "hello", visitor: visitor, locale: locale, page: page, user: user || undefined };
    },
    message: function (id, text) {
      return { type: "message", id: id, text: text };
    },
    close: function () {
      return { type: "close" };
    },
    rating: function (score) {
      return { type: "rating", score: score };
    },
    history: function (before, limit) {
      return { type: "history", before: before, limit: limit };
    }
  };
})();
