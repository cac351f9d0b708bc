// The diff page's diagrams: the bpmn-js viewer (from npm, see scripts/build_assets.sh) shows the new
// version with added and changed elements marked, and the old one with removed and changed elements
// marked. Colour is never the only cue: each marked element also gets a ring of its own pattern
// (solid, dashed, dotted) and a badge with a word, and the page lists every change as text.
(function () {
  "use strict";
  const dataElement = document.getElementById("diff-data");
  if (!dataElement || typeof BpmnJS === "undefined") {
    return;
  }
  const data = JSON.parse(dataElement.textContent);

  function mark(viewer, changes, kind) {
    const registry = viewer.get("elementRegistry");
    const canvas = viewer.get("canvas");
    const overlays = viewer.get("overlays");
    changes.forEach((change) => {
      const element = registry.get(change.id);
      if (!element) {
        return;
      }
      canvas.addMarker(element, "infora-" + kind);
      const badge = document.createElement("div");
      badge.className = "change-badge change-badge--" + kind;
      badge.textContent = data.badges[kind];
      badge.setAttribute("aria-hidden", "true"); // the list above says the same in text
      const position = element.waypoints ? { top: -8, left: 0 } : { top: -14, right: 40 };
      overlays.add(element, "infora-diff", { position: position, html: badge });
    });
  }

  function show(containerId, xml, kinds) {
    const container = document.getElementById(containerId);
    if (!container || !xml) {
      return Promise.resolve();
    }
    const viewer = new BpmnJS({ container: container });
    return viewer
      .importXML(xml)
      .then(() => {
        viewer.get("canvas").zoom("fit-viewport");
        kinds.forEach((kind) => mark(viewer, data.changes[kind] || [], kind));
        container.setAttribute("data-loaded", "true");
      })
      .catch(() => {
        container.textContent = container.getAttribute("data-error");
      });
  }

  show("diff-new", data.new, ["added", "changed"]);
  show("diff-old", data.old, ["removed", "changed"]);
})();
