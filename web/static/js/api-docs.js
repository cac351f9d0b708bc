// Starts Swagger UI on the API docs page, reading the OpenAPI document the page names (no inline
// script, so the page works under a strict Content-Security-Policy).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.addEventListener("DOMContentLoaded", function () {
    window.inforaApiDocs = window.SwaggerUIBundle({
      url: root.getAttribute("data-spec-url"),
      domNode: root,
      deepLinking: true,
      tryItOutEnabled: false,
    });
  });
})();
