/* Tabs of the same visitor on this site share what they send and receive, so a second tab shows
 * the conversation as it goes on (a reload gets it from the server's history anyway).
 * `tabs(name, receive)` joins the channel and gives the function that posts to the other tabs.
 */
function tabs(name, receive) {
  var channel = null;
  if (typeof window.BroadcastChannel === "function") {
    try {
      channel = new BroadcastChannel(name);
      channel.onmessage = function (ev) {
        receive(ev.data);
      };
    } catch (e) {
      channel = null;
    }
  }
  return function (event) {
    if (channel) {
      try {
        channel.postMessage(event);
      } catch (e) { /* a closed channel */ }
    }
  };
}
