/* The Markdown subset robot answers may use, built as DOM nodes with text nodes inside, never as
 * HTML: paragraphs, "-"/"*"/"1." lists, **bold**, [links](url) and bare http(s) URLs. Links open
 * in a new tab and only these schemes become links; any other target is shown as plain text.
 * `markdown(el)` gives the function that fills a container with a text's nodes.
 */
function markdown(el) {
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

  return renderMarkdown;
}
