// The model editor: the bpmn-js modeler (from npm, see scripts/build_assets.sh) with the draft's
// diagram, a settings panel for what the engine needs (forms, due times, PDSA steps, roles, timers,
// gateway conditions, the reminder policy) written into the diagram's spiffworkflow extension
// elements, the forms (JSON Schema) beside the diagram with a preview rendered by the server, and
// saving with the validation issues pinned to the shapes.
//
// No inline script (the pages stay within a strict Content-Security-Policy): the page's data comes
// from <script type="application/json" id="editor-data">, and every text shown comes from there too,
// translated by the server.
(function () {
  "use strict";

  const dataElement = document.getElementById("editor-data");
  const container = document.getElementById("modeler");
  if (!dataElement || !container || typeof BpmnJS === "undefined") {
    return;
  }
  const data = JSON.parse(dataElement.textContent);
  const T = data.texts;
  const SPIFF_PROPERTIES = "spiffworkflow:Properties";
  const SPIFF_PROPERTY = "spiffworkflow:Property";
  const SPIFF_INSTRUCTIONS = "spiffworkflow:InstructionsForEndUser";
  const HUMAN_TASKS = ["bpmn:UserTask", "bpmn:ManualTask"];
  const DECIDING_GATEWAYS = ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"];
  const ISSUE_MARKER = "infora-issue";

  const $ = (id) => document.getElementById(id);
  const saveButton = $("save-button");
  const publishButton = $("publish-button");
  const publishForm = $("publish-form");
  const saveStatus = $("save-status");
  const panelBody = $("panel-body");
  const panelHeading = $("panel-heading");
  const elementChoice = $("element-choice");
  const formChoice = $("form-choice");
  const formText = $("form-text");
  const formStatus = $("form-status");
  const preview = $("form-preview");

  const state = {
    forms: Object.assign({}, data.forms),
    issues: data.issues || [],
    publishable: Boolean(data.publishable),
    changes: 0, // edits since the page was loaded; a save clears "dirty" only if none came in meanwhile
    savedAt: 0,
    saving: false,
    current: null, // the element the panel shows (null: the process)
    applying: false, // the panel is writing into the diagram: do not redraw the panel under the cursor
    markedIds: [],
  };
  let modeler = null;

  function text(key, values) {
    let s = T[key] || key;
    Object.keys(values || {}).forEach((name) => {
      s = s.split("{" + name + "}").join(values[name]);
    });
    return s;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach((name) => {
      const value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "text") {
        node.textContent = value;
      } else if (name === "className") {
        node.className = value;
      } else {
        node.setAttribute(name, value === true ? "" : value);
      }
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  function isDirty() {
    return state.changes !== state.savedAt;
  }

  function markChanged() {
    state.changes += 1;
    updatePublishButton();
  }

  function updatePublishButton() {
    publishButton.disabled = !state.publishable || isDirty() || state.saving;
    if (isDirty()) {
      saveStatus.textContent = text("unsaved");
    }
  }

  // --- the model: spiffworkflow extension elements, through the modeler's command stack (undo works)

  function service(name) {
    return modeler.get(name);
  }

  function isAny(bo, types) {
    return types.some((t) => bo && bo.$instanceOf && bo.$instanceOf(t));
  }

  function extensionValues(bo) {
    return bo.extensionElements ? bo.extensionElements.get("values") : [];
  }

  function findExtension(bo, type) {
    return extensionValues(bo).find((v) => v.$type === type) || null;
  }

  function getProperty(bo, name) {
    const props = findExtension(bo, SPIFF_PROPERTIES);
    const prop = props ? props.get("values").find((p) => p.name === name) : null;
    return prop ? prop.value || "" : "";
  }

  function ensureExtensionElements(element, bo) {
    if (!bo.extensionElements) {
      const ext = service("moddle").create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
      service("modeling").updateModdleProperties(element, bo, { extensionElements: ext });
    }
    return bo.extensionElements;
  }

  function removeExtension(element, bo, child) {
    const ext = bo.extensionElements;
    const rest = ext.get("values").filter((v) => v !== child);
    if (rest.length) {
      service("modeling").updateModdleProperties(element, ext, { values: rest });
    } else {
      service("modeling").updateModdleProperties(element, bo, { extensionElements: undefined });
    }
  }

  function setProperty(element, bo, name, value) {
    const modeling = service("modeling");
    const moddle = service("moddle");
    value = (value || "").trim();
    let props = findExtension(bo, SPIFF_PROPERTIES);
    const existing = props ? props.get("values").find((p) => p.name === name) : null;
    if (!value) {
      if (existing) {
        const rest = props.get("values").filter((p) => p !== existing);
        if (rest.length) {
          modeling.updateModdleProperties(element, props, { values: rest });
        } else {
          removeExtension(element, bo, props);
        }
      }
      return;
    }
    if (existing) {
      modeling.updateModdleProperties(element, existing, { value: value });
      return;
    }
    const ext = ensureExtensionElements(element, bo);
    if (!props) {
      props = moddle.create(SPIFF_PROPERTIES, { values: [] });
      props.$parent = ext;
      modeling.updateModdleProperties(element, ext, { values: ext.get("values").concat([props]) });
    }
    const prop = moddle.create(SPIFF_PROPERTY, { name: name, value: value });
    prop.$parent = props;
    modeling.updateModdleProperties(element, props, { values: props.get("values").concat([prop]) });
  }

  function getInstructions(bo) {
    const node = findExtension(bo, SPIFF_INSTRUCTIONS);
    return node ? node.text || "" : "";
  }

  function setInstructions(element, bo, value) {
    const modeling = service("modeling");
    const node = findExtension(bo, SPIFF_INSTRUCTIONS);
    value = (value || "").trim();
    if (!value) {
      if (node) {
        removeExtension(element, bo, node);
      }
      return;
    }
    if (node) {
      modeling.updateModdleProperties(element, node, { text: value });
      return;
    }
    const ext = ensureExtensionElements(element, bo);
    const created = service("moddle").create(SPIFF_INSTRUCTIONS, { text: value });
    created.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: ext.get("values").concat([created]) });
  }

  function expression(body) {
    return service("moddle").create("bpmn:FormalExpression", { body: body });
  }

  function timerDefinition(bo) {
    return (bo.eventDefinitions || []).find((d) => d.$instanceOf("bpmn:TimerEventDefinition")) || null;
  }

  function timerValue(definition) {
    const part = definition.timeDuration || definition.timeDate || definition.timeCycle;
    return part ? part.body || "" : "";
  }

  function setTimer(element, definition, value) {
    const changes = { timeDuration: value.trim() ? expression(value.trim()) : undefined };
    // A timer has one kind of time: a duration written here replaces a date or cycle.
    if (definition.timeDate) {
      changes.timeDate = undefined;
    }
    if (definition.timeCycle) {
      changes.timeCycle = undefined;
    }
    service("modeling").updateModdleProperties(element, definition, changes);
  }

  // The process the reminder policy belongs to: the executable one, drawn as a participant when the
  // diagram is a collaboration.
  function processTarget() {
    const root = service("canvas").getRootElement();
    if (root.businessObject.$instanceOf("bpmn:Process")) {
      return { element: root, bo: root.businessObject };
    }
    const participant = service("elementRegistry").filter(
      (e) => e.type === "bpmn:Participant" && e.businessObject.processRef
    )[0];
    return participant ? { element: participant, bo: participant.businessObject.processRef } : null;
  }

  function apply(change) {
    state.applying = true;
    try {
      change();
    } finally {
      state.applying = false;
    }
  }

  // --- the settings panel

  let fieldCounter = 0;

  function field(label, control, help) {
    fieldCounter += 1;
    const id = "panel-field-" + fieldCounter;
    control.id = id;
    const wrap = el("div", { className: "form-field" }, [el("label", { for: id, text: label })]);
    if (help) {
      const helpId = id + "-help";
      wrap.appendChild(el("p", { className: "form-help", id: helpId, text: help }));
      control.setAttribute("aria-describedby", helpId);
    }
    wrap.appendChild(control);
    return wrap;
  }

  function textInput(value, onChange) {
    const input = el("input", { type: "text" });
    input.value = value;
    input.addEventListener("change", () => apply(() => onChange(input.value)));
    return input;
  }

  function select(options, value, onChange) {
    const node = el("select");
    options.forEach((o) => {
      const option = el("option", { value: o.value, text: o.label });
      option.selected = o.value === value;
      node.appendChild(option);
    });
    node.addEventListener("change", () => apply(() => onChange(node.value)));
    return node;
  }

  function kindLabel(element) {
    const type = element.type.replace("bpmn:", "");
    const key = type.charAt(0).toLowerCase() + type.slice(1); // bpmn:UserTask -> userTask, as the server names it
    return (data.kinds && data.kinds[key]) || type;
  }

  function elementLabel(element) {
    const name = (element.businessObject.name || "").trim();
    return (name || element.id) + " (" + kindLabel(element) + ")";
  }

  function nameField(element) {
    return field(
      text("name"),
      textInput(element.businessObject.name || "", (value) => service("modeling").updateLabel(element, value))
    );
  }

  function userTaskPanel(element) {
    const bo = element.businessObject;
    const nodes = [nameField(element)];
    const current = getProperty(bo, "formJsonSchemaFilename");
    const names = Object.keys(state.forms).sort();
    const options = [{ value: "", label: text("noForm") }].concat(names.map((n) => ({ value: n, label: n })));
    if (current && names.indexOf(current) < 0) {
      options.push({ value: current, label: text("missingForm", { name: current }) });
    }
    nodes.push(
      field(
        text("form"),
        select(options, current, (value) => setProperty(element, bo, "formJsonSchemaFilename", value)),
        text("formHelp")
      )
    );
    nodes.push(
      field(
        text("due"),
        textInput(getProperty(bo, "dueDuration"), (value) => setProperty(element, bo, "dueDuration", value)),
        text("dueHelp")
      )
    );
    const stages = ["", "plan", "do", "study", "act"].map((s) => ({ value: s, label: text("stage_" + (s || "none")) }));
    nodes.push(
      field(
        text("stage"),
        select(stages, getProperty(bo, "pdsaStage"), (value) => setProperty(element, bo, "pdsaStage", value)),
        text("stageHelp")
      )
    );
    const instructions = el("textarea", { rows: "4" });
    instructions.value = getInstructions(bo);
    instructions.addEventListener("change", () => apply(() => setInstructions(element, bo, instructions.value)));
    nodes.push(field(text("instructions"), instructions));
    return nodes;
  }

  function lanePanel(element) {
    const name = (element.businessObject.name || "").trim();
    const options = [];
    if (!name || data.roles.indexOf(name) < 0) {
      options.push({ value: name, label: name ? text("unknownRole", { name: name }) : text("chooseRole") });
    }
    data.roles.forEach((r) => options.push({ value: r, label: r }));
    return [
      field(
        text("role"),
        select(options, name, (value) => service("modeling").updateProperties(element, { name: value })),
        text("roleHelp")
      ),
    ];
  }

  function timerPanel(element, definition) {
    return [
      nameField(element),
      field(
        text("timer"),
        textInput(timerValue(definition), (value) => setTimer(element, definition, value)),
        text("timerHelp")
      ),
    ];
  }

  function gatewayPanel(element) {
    const bo = element.businessObject;
    const nodes = [nameField(element)];
    const outgoing = element.outgoing.filter((c) => c.type === "bpmn:SequenceFlow");
    if (outgoing.length < 2) {
      nodes.push(el("p", { className: "muted", text: text("gatewaySingle") }));
      return nodes;
    }
    const group = el("fieldset", { className: "form-group" }, [el("legend", { text: text("defaultFlow") })]);
    outgoing.forEach((flow) => {
      fieldCounter += 1;
      const id = "panel-default-" + fieldCounter;
      const radio = el("input", { type: "radio", name: "default-flow", id: id, value: flow.id });
      radio.checked = bo.default === flow.businessObject;
      radio.addEventListener("change", () =>
        apply(() => service("modeling").updateProperties(element, { default: flow.businessObject }))
      );
      group.appendChild(
        el("div", { className: "form-field--checkbox" }, [radio, el("label", { for: id, text: flowLabel(flow) })])
      );
    });
    nodes.push(group);
    outgoing.forEach((flow) => {
      const condition = flow.businessObject.conditionExpression;
      nodes.push(
        field(
          text("condition", { target: flowLabel(flow) }),
          textInput(condition ? condition.body || "" : "", (value) =>
            service("modeling").updateProperties(flow, {
              conditionExpression: value.trim() ? expression(value.trim()) : undefined,
            })
          ),
          text("conditionHelp")
        )
      );
    });
    return nodes;
  }

  function flowLabel(flow) {
    const name = (flow.businessObject.name || "").trim();
    const target = flow.target ? (flow.target.businessObject.name || flow.target.id).trim() : "?";
    return name ? name + " → " + target : "→ " + target;
  }

  function flowPanel(element) {
    const source = element.source && element.source.businessObject;
    const nodes = [nameField(element)];
    if (source && isAny(source, DECIDING_GATEWAYS)) {
      nodes.push(el("p", { className: "muted", text: text("flowFromGateway") }));
    }
    return nodes;
  }

  function processPanel() {
    const target = processTarget();
    if (!target) {
      return [el("p", { text: text("noProcess") })];
    }
    const { element, bo } = target;
    return [
      el("p", { className: "muted", text: text("processIntro") }),
      field(
        text("reminders"),
        textInput(getProperty(bo, "reminderOffsets"), (value) => setProperty(element, bo, "reminderOffsets", value)),
        text("remindersHelp")
      ),
      field(
        text("escalate"),
        textInput(getProperty(bo, "escalateAfter"), (value) => setProperty(element, bo, "escalateAfter", value)),
        text("escalateHelp")
      ),
    ];
  }

  function renderPanel() {
    const element = state.current;
    const focusedId = document.activeElement && panelBody.contains(document.activeElement)
      ? document.activeElement.id
      : null;
    fieldCounter = 0;
    panelBody.textContent = "";
    let nodes;
    let title;
    if (!element || element.type === "bpmn:Participant" || element.type === "bpmn:Process") {
      title = text("processTitle");
      nodes = processPanel();
    } else {
      const bo = element.businessObject;
      title = elementLabel(element);
      const timer = bo.eventDefinitions ? timerDefinition(bo) : null;
      if (isAny(bo, HUMAN_TASKS)) {
        nodes = userTaskPanel(element);
      } else if (element.type === "bpmn:Lane") {
        nodes = lanePanel(element);
      } else if (timer) {
        nodes = timerPanel(element, timer);
      } else if (isAny(bo, DECIDING_GATEWAYS)) {
        nodes = gatewayPanel(element);
      } else if (element.type === "bpmn:SequenceFlow") {
        nodes = flowPanel(element);
      } else {
        nodes = [nameField(element), el("p", { className: "muted", text: text("nothingToSet") })];
      }
    }
    panelBody.appendChild(el("h3", { id: "panel-element-title", text: title }));
    nodes.forEach((n) => panelBody.appendChild(n));
    issuesFor(element).forEach((issue) => {
      panelBody.appendChild(el("p", { className: "form-error", text: text("issuePrefix") + " " + issue.message }));
    });
    elementChoice.value = element ? element.id : "";
    if (focusedId && $(focusedId)) {
      $(focusedId).focus();
    }
  }

  function selectable(element) {
    if (element.labelTarget || element.type === "label") {
      return false;
    }
    const root = service("canvas").getRootElement();
    return element !== root && element.type !== "bpmn:Participant" && element.type !== "bpmn:SequenceFlow";
  }

  function renderElementChoice() {
    const elements = service("elementRegistry").filter(selectable);
    elements.sort((a, b) => elementLabel(a).localeCompare(elementLabel(b), "sv"));
    elementChoice.textContent = "";
    elementChoice.appendChild(el("option", { value: "", text: text("processTitle") }));
    elements.forEach((e) => elementChoice.appendChild(el("option", { value: e.id, text: elementLabel(e) })));
    elementChoice.value = state.current ? state.current.id : "";
  }

  function selectElement(element, focusPanel) {
    const selection = service("selection");
    if (element) {
      selection.select(element);
      service("canvas").scrollToElement(element, { top: 120, bottom: 120, left: 120, right: 120 });
    } else {
      selection.select(null);
    }
    state.current = element || null;
    renderPanel();
    if (focusPanel) {
      panelHeading.focus();
    }
  }

  // --- issues: a list under the diagram and a marker with an overlay on each element

  function elementFor(id) {
    if (!id) {
      return null;
    }
    const registry = service("elementRegistry");
    const direct = registry.get(id);
    if (direct) {
      return direct;
    }
    // Issues about the process name the process; the diagram draws it as its participant.
    return registry.filter((e) => e.type === "bpmn:Participant" && e.businessObject.processRef
      && e.businessObject.processRef.id === id)[0] || null;
  }

  function issuesFor(element) {
    if (!element) {
      const target = processTarget();
      return state.issues.filter((i) => target && i.element_id === target.bo.id);
    }
    const ids = [element.id];
    if (element.type === "bpmn:Participant" && element.businessObject.processRef) {
      ids.push(element.businessObject.processRef.id);
    }
    return state.issues.filter((i) => ids.indexOf(i.element_id) >= 0);
  }

  function clearMarkers() {
    const canvas = service("canvas");
    state.markedIds.forEach((id) => {
      if (service("elementRegistry").get(id)) {
        canvas.removeMarker(id, ISSUE_MARKER);
      }
    });
    service("overlays").remove({ type: ISSUE_MARKER });
    state.markedIds = [];
  }

  function renderIssues() {
    clearMarkers();
    const canvas = service("canvas");
    const overlays = service("overlays");
    const list = $("issue-list");
    list.textContent = "";
    const seen = {};
    state.issues.forEach((issue) => {
      const element = elementFor(issue.element_id);
      const item = el("li", { className: "issue issue--" + (issue.severity || "error") });
      if (element) {
        if (!seen[element.id]) {
          seen[element.id] = true;
          canvas.addMarker(element, ISSUE_MARKER);
          state.markedIds.push(element.id);
          // The overlay repeats the marker in a shape and a word, not only in colour; the list below
          // is what keyboard and screen-reader users use (the overlay is hidden from them).
          const badge = el("div", { className: "issue-badge", title: issue.message, "aria-hidden": "true" }, [
            el("span", { text: "!" }),
          ]);
          badge.addEventListener("click", () => selectElement(element, true));
          overlays.add(element, ISSUE_MARKER, { position: { top: -12, left: -12 }, html: badge });
        }
        const button = el("button", { type: "button", className: "link-button issue__button",
                                      "data-element-id": element.id });
        button.appendChild(el("span", { className: "issue__element", text: elementLabel(element) + ": " }));
        button.appendChild(document.createTextNode(issue.message));
        button.addEventListener("click", () => selectElement(element, true));
        item.appendChild(button);
      } else if (issue.file && state.forms[issue.file] !== undefined) {
        const button = el("button", { type: "button", className: "link-button issue__button" });
        button.appendChild(el("span", { className: "issue__element", text: issue.file + ": " }));
        button.appendChild(document.createTextNode(issue.message));
        button.addEventListener("click", () => {
          showForm(issue.file);
          formText.focus();
        });
        item.appendChild(button);
      } else {
        item.textContent = (issue.file ? issue.file + ": " : "") + issue.message;
      }
      list.appendChild(item);
    });
    const errors = state.issues.filter((i) => (i.severity || "error") === "error").length;
    $("issue-summary").textContent = state.issues.length
      ? text("issueCount", { n: String(state.issues.length) }) + (errors ? " " + text("notPublishable") : "")
      : text("noIssues");
    container.setAttribute("data-issues", String(state.issues.length));
    renderPanel(); // the panel repeats the selected element's issues
  }

  function showSaveErrors(messages) {
    const box = $("save-errors");
    const list = $("save-error-list");
    list.textContent = "";
    messages.forEach((m) => list.appendChild(el("li", { text: m })));
    box.hidden = messages.length === 0;
  }

  // --- saving and publishing

  function save() {
    if (!modeler || state.saving) {
      return Promise.resolve();
    }
    state.saving = true;
    updatePublishButton();
    saveButton.disabled = true;
    saveStatus.textContent = text("saving");
    const startedAt = state.changes;
    return modeler
      .saveXML({ format: true })
      .then((result) =>
        fetch(data.saveUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRFToken": data.csrfToken,
          },
          body: JSON.stringify({ xml: result.xml, forms: state.forms }),
        })
      )
      .then((response) => response.json().then((body) => ({ ok: response.ok, body: body })))
      .then(({ ok, body }) => {
        if (!ok) {
          const messages = (body.issues || []).map((i) => (i.file ? i.file + ": " : "") + i.message);
          showSaveErrors(messages.length ? messages : [body.message || text("saveFailed")]);
          saveStatus.textContent = body.message || text("saveFailed");
          return;
        }
        showSaveErrors([]);
        state.issues = body.issues || [];
        state.publishable = Boolean(body.publishable);
        state.savedAt = startedAt;
        renderIssues();
        // The server's clock and time zone (Stockholm), as on the rest of the page.
        $("saved-at").textContent = body.savedAt;
        saveStatus.textContent = text("saved", { time: body.savedAt }) + " " + $("issue-summary").textContent;
        container.setAttribute("data-saved", String(Number(container.getAttribute("data-saved") || "0") + 1));
      })
      .catch(() => {
        saveStatus.textContent = text("networkError");
      })
      .then(() => {
        state.saving = false;
        saveButton.disabled = false;
        updatePublishButton();
      });
  }

  // --- forms beside the diagram, with the server's rendering as preview

  let previewTimer = null;
  let previewRequest = 0;

  function renderFormChoice(selected) {
    formChoice.textContent = "";
    const names = Object.keys(state.forms).sort();
    names.forEach((n) => formChoice.appendChild(el("option", { value: n, text: n })));
    if (!names.length) {
      formChoice.appendChild(el("option", { value: "", text: text("noForms") }));
    }
    formChoice.value = selected && names.indexOf(selected) >= 0 ? selected : names[0] || "";
    formText.disabled = !names.length;
  }

  function showForm(name) {
    renderFormChoice(name);
    formText.value = state.forms[formChoice.value] || "";
    checkFormText();
    schedulePreview(0);
  }

  function checkFormText() {
    try {
      JSON.parse(formText.value || "null");
      formStatus.textContent = text("jsonOk");
      formText.removeAttribute("aria-invalid");
      return true;
    } catch (err) {
      formStatus.textContent = text("jsonError") + " " + err.message;
      formText.setAttribute("aria-invalid", "true");
      return false;
    }
  }

  function schedulePreview(delay) {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(renderPreview, delay);
  }

  function renderPreview() {
    const name = formChoice.value;
    if (!name) {
      preview.textContent = "";
      return;
    }
    const request = ++previewRequest;
    fetch(data.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": data.csrfToken },
      body: JSON.stringify({ schema: state.forms[name] || "" }),
    })
      .then((response) => response.json())
      .then((body) => {
        if (request !== previewRequest) {
          return; // a newer preview is on its way
        }
        if (body.ok) {
          // The server's rendering (web.forms), escaped there: the same HTML as the task page.
          preview.innerHTML = body.html;
        } else {
          preview.textContent = "";
          preview.appendChild(el("p", { className: "form-error", text: body.message || text("previewFailed") }));
        }
        preview.setAttribute("data-form", name);
      })
      .catch(() => {
        preview.textContent = text("previewFailed");
      });
  }

  function addForm() {
    const input = $("new-form-name");
    const error = $("new-form-error");
    let name = input.value.trim();
    if (name && !/\.json$/.test(name)) {
      name += ".schema.json";
    }
    let problem = "";
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*\.json$/.test(name)) {
      problem = text("formNameInvalid");
    } else if (state.forms[name] !== undefined) {
      problem = text("formNameTaken");
    }
    error.hidden = !problem;
    error.textContent = problem;
    input.setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) {
      input.focus();
      return;
    }
    const title = name.replace(/\.schema\.json$|\.json$/, "");
    state.forms[name] = JSON.stringify(
      {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        title: title,
        properties: { kommentar: { type: "string", title: text("newFormField") } },
      },
      null,
      2
    ) + "\n";
    input.value = "";
    markChanged();
    showForm(name);
    renderPanel();
    formText.focus();
  }

  // --- start

  function start(descriptor) {
    modeler = new BpmnJS({ container: container, moddleExtensions: { spiffworkflow: descriptor } });
    window.inforaModeler = modeler;
    return modeler.importXML(data.xml).then((result) => {
      // A multi-instance's collection ("units") is a process variable, not an element id, so bpmn-js
      // cannot resolve it; the server puts it back on save (engine/workflow/xml_repair.py).
      const warnings = ((result && result.warnings) || []).filter(
        (w) => !/loopData(Input|Output)Ref$/.test(String(w.property || ""))
      );
      container.setAttribute("data-import-warnings", String(warnings.length));
      if (warnings.length) {
        const list = $("import-warning-list");
        warnings.forEach((w) => list.appendChild(el("li", { text: w.message })));
        $("import-warnings").hidden = false;
      }
      service("canvas").zoom("fit-viewport");
      const eventBus = service("eventBus");
      eventBus.on("selection.changed", (event) => {
        state.current = event.newSelection.length === 1 ? event.newSelection[0] : null;
        renderPanel();
      });
      eventBus.on("commandStack.changed", () => {
        markChanged();
        renderElementChoice();
        if (state.current && !service("elementRegistry").get(state.current.id)) {
          state.current = null;
        }
        if (!state.applying) {
          renderPanel(); // undo, redo or an edit on the canvas: show the values as they are now
        }
      });
      renderElementChoice();
      renderIssues();
      renderPanel();
      updatePublishButton();
      container.setAttribute("data-loaded", "true");
    });
  }

  saveButton.addEventListener("click", () => save());
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "s" || event.key === "S")) {
      event.preventDefault();
      save();
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if (isDirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  publishForm.addEventListener("submit", (event) => {
    if (publishButton.disabled) {
      event.preventDefault();
    }
  });
  elementChoice.addEventListener("change", () => {
    selectElement(elementChoice.value ? service("elementRegistry").get(elementChoice.value) : null, false);
  });
  formChoice.addEventListener("change", () => showForm(formChoice.value));
  formText.addEventListener("input", () => {
    const name = formChoice.value;
    if (!name) {
      return;
    }
    state.forms[name] = formText.value;
    markChanged();
    if (checkFormText()) {
      schedulePreview(400);
    }
  });
  $("new-form-button").addEventListener("click", addForm);
  $("new-form-name").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      addForm();
    }
  });

  showForm(null);
  fetch(data.descriptorUrl, { credentials: "same-origin" })
    .then((response) => response.json())
    .then(start)
    .catch((err) => {
      container.setAttribute("data-loaded", "error");
      container.textContent = text("loadFailed") + " " + (err && err.message ? err.message : "");
    });
})();
