// Measure charts: a run chart or an XmR control chart drawn with Chart.js 4 and
// chartjs-plugin-annotation 3 (from npm, see scripts/build_assets.sh).
//
// Markup contract (shared by every page that shows a chart):
//   <canvas class="measure-chart" data-chart="ID" role="img" aria-label="…"></canvas>
//   <script type="application/json" id="ID">…ChartView.as_json()…</script>
// The JSON may carry "texts" (the page's words in the reader's language); without it the words
// follow <html lang> (Swedish or English). No inline script, so pages keep a strict CSP.
//
// Colour is never the only cue (WCAG 1.4.1): a point with a signal also has its own shape
// (improvement ▲, concern ◆, neutral ■, no signal ●), excluded points are hollow and a person's
// astronomical mark is a star; the page's data table says the same in words. The Chart instance
// is the one Chart.getChart(canvas) returns.
(function () {
  "use strict";
  if (typeof Chart === "undefined") {
    return;
  }

  // NHS "Making Data Count" colours, darkened where needed for 3:1 contrast on white (WCAG 1.4.11).
  var COLOURS = {
    improvement: "#005eb8",
    concern: "#c75000",
    neutral: "#5c2d91",
    common: "#6b6b6b",
    centre: "#1b1b1b",
    limit: "#3d3d3d",
    target: "#00703c",
    cycle: "#0b5cad",
    cycleFill: "rgba(11, 92, 173, 0.08)",
    astronomical: "#1b1b1b",
  };
  var SHAPES = { improvement: "triangle", concern: "rectRot", neutral: "rect" };
  var TRANSPARENT = "rgba(0, 0, 0, 0)";

  var WORDS = {
    sv: {
      values: "Värde", centre: "Centrallinje", upper: "Övre styrgräns", lower: "Nedre styrgräns",
      upperTwoSigma: "Övre 2σ-linje", lowerTwoSigma: "Nedre 2σ-linje", target: "Mål", cycle: "PDSA",
      astronomical: "Astronomisk punkt (markerad av en person)", excluded: "Utesluten ur beräkningen",
      signal: "Signal", yAxis: "",
      variations: { improvement: "förbättring", concern: "försämring", neutral: "neutral" },
      kinds: {},
    },
    en: {
      values: "Value", centre: "Centre line", upper: "Upper process limit", lower: "Lower process limit",
      upperTwoSigma: "Upper 2σ line", lowerTwoSigma: "Lower 2σ line", target: "Target", cycle: "PDSA",
      astronomical: "Astronomical point (marked by a person)", excluded: "Excluded from the calculation",
      signal: "Signal", yAxis: "",
      variations: { improvement: "improvement", concern: "concern", neutral: "neutral" },
      kinds: {},
    },
  };

  function words(data) {
    var lang = (document.documentElement.getAttribute("lang") || "sv").slice(0, 2);
    var base = WORDS[lang] || WORDS.sv;
    var texts = data.texts || {};
    var out = {};
    Object.keys(base).forEach(function (key) {
      out[key] = texts[key] !== undefined ? texts[key] : base[key];
    });
    return out;
  }

  function list(data, key, length) {
    var values = data[key];
    return Array.isArray(values) && values.length === length ? values : new Array(length).fill(null);
  }

  function hasNumber(values) {
    return values.some(function (v) {
      return typeof v === "number" && isFinite(v);
    });
  }

  // A line (centre, limit) drawn per segment: no stroke joins the last point of one segment to the
  // first of the next, so a recalculation shows as a step with a gap.
  function segmented(segment, colour) {
    return function (ctx) {
      return segment[ctx.p0DataIndex] !== segment[ctx.p1DataIndex] ? TRANSPARENT : colour;
    };
  }

  function lineDataset(label, values, segment, colour, dash) {
    return {
      label: label,
      data: values,
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: dash ? 1.5 : 2,
      borderDash: dash || [],
      pointRadius: 0,
      pointHoverRadius: 0,
      pointHitRadius: 0,
      spanGaps: false,
      fill: false,
      segment: { borderColor: segmented(segment, colour) },
    };
  }

  function number(value, lang) {
    return typeof value === "number" ? value.toLocaleString(lang === "en" ? "en-GB" : "sv-SE", { maximumFractionDigits: 2 }) : "–";
  }

  function build(canvas, data) {
    var t = words(data);
    var lang = (document.documentElement.getAttribute("lang") || "sv").slice(0, 2);
    var labels = data.labels || [];
    var n = labels.length;
    var values = list(data, "values", n);
    var variation = list(data, "variation", n);
    var excluded = list(data, "excluded", n);
    var astronomical = list(data, "astronomical", n);
    var segment = list(data, "segment", n).map(function (s) {
      return s === null ? 0 : s;
    });
    var pointSignals = list(data, "pointSignals", n);
    var notes = list(data, "notes", n);
    var xmr = data.measure && data.measure.chart === "xmr";

    var colour = variation.map(function (v) {
      return COLOURS[v] || COLOURS.common;
    });
    var valueDataset = {
      label: t.values,
      data: values,
      borderColor: COLOURS.common,
      backgroundColor: COLOURS.common,
      borderWidth: 1.5,
      spanGaps: true,
      pointStyle: variation.map(function (v) {
        return SHAPES[v] || "circle";
      }),
      pointRadius: variation.map(function (v) {
        return v ? 7 : 3.5;
      }),
      pointHoverRadius: variation.map(function (v) {
        return v ? 9 : 5;
      }),
      pointBorderWidth: 2,
      pointBorderColor: colour,
      pointBackgroundColor: colour.map(function (c, i) {
        return excluded[i] ? "#ffffff" : c;
      }),
      order: 0,
    };
    var datasets = [valueDataset];
    var centre = list(data, "centre", n);
    if (hasNumber(centre)) {
      datasets.push(lineDataset(t.centre, centre, segment, COLOURS.centre));
    }
    if (xmr) {
      [
        ["upper", t.upper, null],
        ["lower", t.lower, null],
        ["upperTwoSigma", t.upperTwoSigma, [6, 4]],
        ["lowerTwoSigma", t.lowerTwoSigma, [6, 4]],
      ].forEach(function (line) {
        var series = list(data, line[0], n);
        if (hasNumber(series)) {
          datasets.push(lineDataset(line[1], series, segment, line[2] ? COLOURS.common : COLOURS.limit, line[2]));
        }
      });
    }
    if (astronomical.some(Boolean)) {
      datasets.push({
        label: t.astronomical,
        data: values.map(function (v, i) {
          return astronomical[i] ? v : null;
        }),
        showLine: false,
        pointStyle: "star",
        pointRadius: 12,
        pointHoverRadius: 12,
        pointBorderWidth: 2,
        borderColor: COLOURS.astronomical,
        backgroundColor: COLOURS.astronomical,
        order: -1,
      });
    }

    var annotations = {};
    var target = data.measure ? data.measure.target : null;
    if (typeof target === "number") {
      annotations.target = {
        type: "line",
        scaleID: "y",
        value: target,
        borderColor: COLOURS.target,
        borderWidth: 2,
        borderDash: [2, 3],
        label: {
          display: true,
          content: t.target + ": " + number(target, lang),
          position: "end",
          backgroundColor: COLOURS.target,
          color: "#ffffff",
        },
      };
    }
    var spans = data.cycleSpans || [];
    (data.cycles || []).forEach(function (cycle, k) {
      var span = spans[k];
      if (!span) {
        return; // outside the charted periods; the page lists every cycle
      }
      annotations["cycle" + cycle.number + "_" + k] = {
        type: "box",
        xScaleID: "x",
        xMin: span[0],
        xMax: span[1],
        backgroundColor: COLOURS.cycleFill,
        borderColor: COLOURS.cycle,
        borderWidth: 1,
        drawTime: "beforeDatasetsDraw",
        label: {
          display: true,
          content: t.cycle + " " + cycle.number,
          // Overlapping cycles alternate between the top and the bottom, so labels do not overlap.
          position: { x: "start", y: k % 2 === 0 ? "start" : "end" },
          color: "#0b3d5c",
          font: { weight: "bold" },
        },
      };
    });

    return new Chart(canvas, {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: true,
        aspectRatio: (canvas.parentNode && canvas.parentNode.clientWidth < 600) ? 1.3 : 2.2,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { type: "category", offset: true, ticks: { maxRotation: 0, autoSkip: true } },
          // Headroom, so a point or the target on the highest value is not drawn on the frame.
          y: { grace: "5%", title: { display: Boolean(t.yAxis), text: t.yAxis } },
        },
        plugins: {
          legend: { labels: { usePointStyle: false } },
          tooltip: {
            filter: function (item) {
              return item.datasetIndex === 0 || item.raw !== null;
            },
            callbacks: {
              afterLabel: function (item) {
                if (item.datasetIndex !== 0) {
                  return "";
                }
                var i = item.dataIndex;
                var lines = [];
                var kinds = pointSignals[i] || [];
                if (kinds.length) {
                  lines.push(t.signal + ": " + kinds.map(function (k) {
                    return t.kinds[k] || k;
                  }).join(", ") + " – " + (t.variations[variation[i]] || variation[i]));
                }
                if (excluded[i]) {
                  lines.push(t.excluded);
                }
                if (astronomical[i]) {
                  lines.push(t.astronomical);
                }
                if (notes[i]) {
                  lines.push(notes[i]);
                }
                return lines;
              },
            },
          },
          annotation: { annotations: annotations },
        },
      },
    });
  }

  document.querySelectorAll("canvas.measure-chart[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) {
      return;
    }
    var data = JSON.parse(source.textContent);
    if (!canvas.hasAttribute("role")) {
      canvas.setAttribute("role", "img");
    }
    if (!canvas.hasAttribute("aria-label") && data.measure) {
      canvas.setAttribute("aria-label", data.measure.name);
    }
    build(canvas, data);
    canvas.setAttribute("data-loaded", "true");
  });
})();
