// Leaflet parses a string given to a tooltip or popup as HTML (innerHTML). Everything this page shows in
// them comes from stored data, so a string is always shown as text here: a name typed as <img onerror=…>
// appears exactly so, and runs nothing. (The screens pass DOM nodes anyway; this keeps a slip harmless.)
/* global L */
function asText(content) {
  if (typeof content === "string") {
    const node = document.createElement("span");
    node.textContent = content;
    return node;
  }
  if (typeof content === "function") return (layer) => asText(content(layer));
  return content;
}

const setContent = L.DivOverlay.prototype.setContent;
L.DivOverlay.prototype.setContent = function setTextContent(content) {
  return setContent.call(this, asText(content));
};
