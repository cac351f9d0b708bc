// The case page's diagram: the bpmn-js viewer (from npm, see scripts/build_assets.sh) shows the
// model version the case runs, with its current steps and the completed ones marked. No inline
// script: the page stays within a strict Content-Security-Policy.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  if (!container || typeof BpmnJS === "undefined") {
    return;
  }
  var viewer = new BpmnJS({ container: container });
  fetch(container.getAttribute("data-src"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    })
    .then(function (state) {
      return viewer.importXML(state.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        canvas.zoom("fit-viewport");
        state.completed.forEach(function (id) {
          if (registry.get(id)) {
            canvas.addMarker(id, "infora-completed");
          }
        });
        state.current.forEach(function (id) {
          if (registry.get(id)) {
            canvas.addMarker(id, "infora-current");
          }
        });
        container.setAttribute("data-loaded", "true");
      });
    })
    .catch(function () {
      container.textContent = container.getAttribute("data-error") || "Diagrammet kunde inte visas.";
    });
})();
