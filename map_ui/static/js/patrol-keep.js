// Half-filled patrol forms survive a re-render (a language switch redraws the pane in the other language).

function key(node) {
  return node.type === "radio" ? `${node.name}=${node.value}` : node.name;
}

/** Values of every named control of the forms with an id under `root`, the open <details>, and the focus. */
export function snapshot(root) {
  const forms = {};
  root.querySelectorAll("form[id]").forEach((form) => {
    const values = {};
    for (const node of form.elements) {
      if (!node.name || node.type === "file") continue;
      values[key(node)] = node.type === "checkbox" || node.type === "radio" ? node.checked : node.value;
    }
    forms[form.id] = values;
  });
  const open = [...root.querySelectorAll("details[id]")].filter((d) => d.open).map((d) => d.id);
  const active = document.activeElement;
  return { forms, open, focus: active && root.contains(active) && active.id ? active.id : null };
}

/** Put the values back into the re-rendered forms; controls that depend on others hear a change event. */
export function restore(root, snap) {
  if (!snap) return;
  for (const [id, values] of Object.entries(snap.forms)) {
    const form = root.querySelector(`form[id="${id}"]`);
    if (!form) continue;
    form.dataset.restored = "1"; // what the server says must not overwrite what was typed
    for (const node of form.elements) {
      const k = key(node);
      if (!node.name || !(k in values)) continue;
      if (node.type === "checkbox" || node.type === "radio") node.checked = values[k];
      else node.value = values[k];
    }
    for (const node of form.elements) if (node.name && node.dataset.keepEvent) node.dispatchEvent(new Event("change"));
  }
  for (const id of snap.open) {
    const d = root.querySelector(`details[id="${id}"]`);
    if (d) d.open = true;
  }
  if (snap.focus) {
    const f = document.getElementById(snap.focus);
    if (f) f.focus();
  }
}
