// Renders the customer room's charts (uPlot) from the data the server embedded in the page.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("room-data").textContent);
  var rendered = 0;

  function seconds(isoDays) {
    return isoDays.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
  }

  // One small chart: series are {points, stroke, ...}; `points` is the data, the rest uPlot series options.
  function chart(el, xs, series) {
    if (!el || !xs.length) { return; }
    var options = series.map(function (s) {
      var o = Object.assign({}, s);
      delete o.points;
      return o;
    });
    new uPlot({
      width: Math.max(el.clientWidth, 120), height: el.clientHeight || 60, legend: { show: false },
      cursor: { show: false }, axes: [{ show: false }, { show: false }], series: [{}].concat(options)
    }, [xs].concat(series.map(function (s) { return s.points; })), el);
    rendered += 1;
  }

  data.stages.forEach(function (s) {
    chart(document.getElementById("spark-" + s.id), seconds(s.trend.weeks),
      [{ points: s.trend.negative_share, stroke: "#c0392b", width: 2, fill: "rgba(192,57,43,0.12)", spanGaps: true }]);
  });
  data.experiences.forEach(function (e) {
    chart(document.getElementById("exp-" + e.id), seconds(e.trend.weeks),
      [{ points: e.trend.values, stroke: "#1c2330", width: 2, spanGaps: true }]);
  });
  var trend = document.getElementById("trend");
  if (trend) {
    var xs = seconds(data.trend.weeks);
    new uPlot({
      width: Math.max(trend.clientWidth - 10, 300), height: 220,
      scales: { share: { range: [0, 1] } },
      axes: [{}, { label: "voices" }, { side: 1, scale: "share", label: "negative share", grid: { show: false } }],
      series: [{}, { label: "voices", stroke: "#1c2330", fill: "rgba(28,35,48,0.08)", width: 2 },
               { label: "negative share", scale: "share", stroke: "#c0392b", width: 2, spanGaps: true }]
    }, [xs, data.trend.volume, data.trend.negative_share], trend);
    rendered += 1;
  }
  document.body.dataset.chartsRendered = String(rendered);
})();
