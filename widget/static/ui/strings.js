/* The widget's own texts in Chinese and English, and the one place that picks the language. */
function strings(locale) {
  var PRODUCT_NAME = "Kefu";
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
        suspended: "服务已暂停，对话已结束",
        max_messages: "对话消息数已达上限，请继续提问，将开始新的对话"
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
      messages: "对话消息",
      testMode: "测试模式",
      earlier: "查看更早的消息",
      person: "转人工",
      leave: "留言",
      contact: "联系方式（电话或邮箱）",
      question: "您的问题",
      left: "留言已收到，我们会尽快联系您。",
      wait: "预计等待 {n} 分钟"
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
        suspended: "The service was suspended and the conversation ended",
        max_messages: "The conversation reached its maximum number of messages; ask on to start a new one"
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
      messages: "Conversation messages",
      testMode: "Test mode",
      earlier: "Earlier messages",
      person: "Talk to a person",
      leave: "Leave a message",
      contact: "Your phone or email",
      question: "Your question",
      left: "Thanks, we got your message.",
      wait: "About {n} min"
    }
  };

  var self = {
    locale: locale,  // the page's, a Kefu.setLocale call's, or the server's config.locale
    lang: function () {
      return /^zh/i.test(self.locale) ? "zh" : "en";
    },
    // The text called `name` in the current language, with {placeholders} filled from `vars`.
    t: function (name, vars) {
      var s = STRINGS[self.lang()][name];
      if (typeof s !== "string") {
        return s;
      }
      if (vars) {
        Object.keys(vars).forEach(function (k) {
          s = s.split("{" + k + "}").join(String(vars[k]));
        });
      }
      return s;
    },
    // A server timestamp as the visitor reads it, or "" for none or an invalid one.
    time: function (iso) {
      if (!iso) {
        return "";
      }
      var d = new Date(iso);
      if (isNaN(d.getTime())) {
        return "";
      }
      try {
        return d.toLocaleString(self.lang() === "zh" ? "zh-CN" : "en", {
          month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
        });
      } catch (e) {
        return d.toISOString();
      }
    }
  };
  return self;
}
