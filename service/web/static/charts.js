/* casualty-tracker: the conflict page's charts, drawn with uPlot from the series document
 * the page embeds (the same JSON as GET /api/v1/series). No inline script: the page's CSP
 * allows scripts from this site only. Without JavaScript the tables beside say the same.
 *
 * - Levels: one line per source, a point per report day (as_of) with its [low, high] as an
 *   error bar (an arrow when unbounded above); figures in an open flag get a red ring.
 *   On a day with several figures from one source, the latest stands for the day, as in
 *   the daily changes; the table lists them all.
 * - Daily change: one bar chart per source, a bar per report after its first: the change
 *   since the previous report divided by the days between. A gap is one bar, never zeros.
 *   A fall is a red bar below zero, labelled "fall".
 */
(function () {
  "use strict";

  var COLOURS = ["#1f5fa8", "#b35c00", "#2b7a3d", "#7b3fa0", "#8a6d00", "#0f7d86",
                 "#a0306a", "#4d4d4d"];
  var FALL = "#c0162b";
  var DAY = 86400;

  function seconds(isoDate) {
    var p = isoDate.split("-");
    return Date.UTC(+p[0], +p[1] - 1, +p[2]) / 1000;
  }

  function utc(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                "Nov", "Dec"];

  function padded(min, max) {
    var pad = Math.max(DAY, (max - min) * 0.05);
    return [min - pad, max + pad];
  }

  function dateAxis() {
    /* Ticks on whole days only (as_of is a date), labelled "3 Mar" and the year in January
       or on the first tick. */
    return {
      space: 60,
      incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 182 * DAY, 365 * DAY],
      values: function (u, splits) {
        return splits.map(function (ts, i) {
          var d = new Date(ts * 1000);
          var label = d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
          return i === 0 || (d.getUTCMonth() === 0 && d.getUTCDate() <= 7)
            ? label + "\n" + d.getUTCFullYear() : label;
        });
      }
    };
  }

  function xScale(days) {
    /* Every chart of the series spans the same days, so the charts line up. */
    var range = padded(seconds(days[0]), seconds(days[days.length - 1]));
    return { time: true, auto: false, range: function () { return range; } };
  }

  function width(el) { return Math.max(320, Math.min(el.clientWidth || 800, 1100)); }

  function dayOf(points) {
    /* as_of -> the point that stands for the day: the last one (points come sorted by
       as_of, then reported_on, then id, so the last of a day is its latest). */
    var byDay = {};
    points.forEach(function (p) { byDay[p.as_of] = p; });
    return byDay;
  }

  function allDays(series) {
    var days = {};
    series.sources.forEach(function (s) { s.points.forEach(function (p) { days[p.as_of] = 1; }); });
    return Object.keys(days).sort();
  }

  function levelChart(el, series) {
    var xs = allDays(series);
    var perSource = series.sources.map(function (s) { return dayOf(s.points); });
    var data = [xs.map(seconds)];
    var top = 0;
    perSource.forEach(function (byDay) {
      data.push(xs.map(function (d) { return byDay[d] ? byDay[d].value : null; }));
      Object.keys(byDay).forEach(function (d) {
        var p = byDay[d];
        top = Math.max(top, p.high === null ? p.value : p.high, p.value);
      });
    });
    var opts = {
      width: width(el), height: 320,
      tzDate: utc,
      scales: { x: xScale(xs), y: { range: [0, Math.max(1, top * 1.08)] } },
      axes: [dateAxis(), { label: series.unit, size: 70 }],
      series: [{ label: "as of" }].concat(series.sources.map(function (s, i) {
        return { label: s.source, stroke: COLOURS[i % COLOURS.length], width: 2,
                 spanGaps: true, points: { show: true, size: 8 } };
      })),
      hooks: { draw: [function (u) { drawRanges(u, xs, perSource); }] }
    };
    return new uPlot(opts, data, el);
  }

  function drawRanges(u, xs, perSource) {
    /* Each point's [low, high] as an error bar; a red ring where an open flag lists it. */
    var ctx = u.ctx, ratio = window.devicePixelRatio || 1;
    ctx.save();
    perSource.forEach(function (byDay, i) {
      if (!u.series[i + 1].show) { return; }
      var colour = COLOURS[i % COLOURS.length];
      xs.forEach(function (d) {
        var p = byDay[d];
        if (!p) { return; }
        var x = u.valToPos(seconds(d), "x", true) + (i - (perSource.length - 1) / 2) * 3 * ratio;
        var yLow = u.valToPos(p.low, "y", true);
        var yHigh = p.high === null ? u.bbox.top : u.valToPos(p.high, "y", true);
        ctx.strokeStyle = colour;
        ctx.lineWidth = 1.5 * ratio;
        ctx.beginPath();
        ctx.moveTo(x, yLow); ctx.lineTo(x, yHigh);
        ctx.moveTo(x - 4 * ratio, yLow); ctx.lineTo(x + 4 * ratio, yLow);
        if (p.high === null) {  // unbounded above: an arrow head at the top
          ctx.moveTo(x - 4 * ratio, yHigh + 6 * ratio); ctx.lineTo(x, yHigh);
          ctx.lineTo(x + 4 * ratio, yHigh + 6 * ratio);
        } else {
          ctx.moveTo(x - 4 * ratio, yHigh); ctx.lineTo(x + 4 * ratio, yHigh);
        }
        ctx.stroke();
        if (p.flagged) {
          ctx.strokeStyle = FALL;
          ctx.lineWidth = 2 * ratio;
          ctx.beginPath();
          ctx.arc(x, u.valToPos(p.value, "y", true), 8 * ratio, 0, 2 * Math.PI);
          ctx.stroke();
        }
      });
    });
    ctx.restore();
  }

  function changeChart(el, source, colour, unit, days) {
    var xs = source.changes.map(function (c) { return seconds(c.as_of); });
    var rise = source.changes.map(function (c) { return c.fall ? null : c.per_day; });
    var fall = source.changes.map(function (c) { return c.fall ? c.per_day : null; });
    var low = Math.min.apply(null, [0].concat(fall.filter(function (v) { return v !== null; })));
    var high = Math.max.apply(null, [0].concat(rise.filter(function (v) { return v !== null; })));
    var span = Math.max(1, high - low);
    var bars = uPlot.paths.bars({ size: [0.5, 48] });
    var opts = {
      width: width(el), height: 200,
      tzDate: utc,
      scales: { x: xScale(days), y: { range: [low - span * 0.15, high + span * 0.15] } },
      axes: [dateAxis(), { label: unit + " a day", size: 70 }],
      series: [
        { label: "as of" },
        { label: "rise a day", stroke: colour, fill: colour, paths: bars, points: { show: false } },
        { label: "fall a day", stroke: FALL, fill: FALL, paths: bars, points: { show: false } }
      ],
      hooks: { draw: [function (u) { markFalls(u, xs, fall); }] }
    };
    return new uPlot(opts, [xs, rise, fall], el);
  }

  function markFalls(u, xs, fall) {
    var ctx = u.ctx, ratio = window.devicePixelRatio || 1;
    ctx.save();
    ctx.fillStyle = FALL;
    ctx.font = "bold " + 12 * ratio + "px sans-serif";
    ctx.textAlign = "center";
    fall.forEach(function (v, i) {
      if (v === null) { return; }
      ctx.fillText("fall", u.valToPos(xs[i], "x", true),
                   u.valToPos(v, "y", true) + 14 * ratio);
    });
    ctx.restore();
  }

  function start() {
    var holder = document.getElementById("series-data");
    if (!holder || typeof uPlot === "undefined") { return; }
    var series = JSON.parse(holder.textContent);
    var charts = { level: null, changes: {} };
    var levelEl = document.getElementById("level-chart");
    if (levelEl && series.sources.length) {
      charts.level = levelChart(levelEl, series);
      levelEl.setAttribute("data-drawn", "true");
    }
    var changesEl = document.getElementById("change-charts");
    series.sources.forEach(function (source, i) {
      if (!changesEl || !source.changes.length) { return; }
      var figure = document.createElement("figure");
      figure.className = "change-chart";
      var caption = document.createElement("figcaption");
      caption.textContent = source.source;
      var plot = document.createElement("div");
      plot.setAttribute("role", "img");
      plot.setAttribute("aria-label", "Daily change of " + source.source +
                        "'s figures; the same numbers are in the table below.");
      figure.appendChild(caption);
      figure.appendChild(plot);
      changesEl.appendChild(figure);
      charts.changes[source.source] = changeChart(plot, source,
                                                  COLOURS[i % COLOURS.length], series.unit,
                                                  allDays(series));
    });
    if (changesEl) { changesEl.setAttribute("data-drawn", "true"); }
    window.casualtyCharts = charts;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
