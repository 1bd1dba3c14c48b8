// Redraws the widget preview as the look form changes (the Preview button does it without JS).
(function () {
  "use strict";
  var form = document.getElementById("look-form");
  var frame = document.querySelector("iframe[name=preview]");
  if (!form || !frame) return;
  var timer = null;
  function redraw() {
    var query = new URLSearchParams();
    ["title", "greeting", "color", "position"].forEach(function (name) {
      query.set(name, form.elements[name].value);
    });
    frame.src = form.getAttribute("data-preview") + "?" + query.toString();
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(redraw, 250);
  });
})();
