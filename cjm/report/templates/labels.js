// Point labels that do not collide. Plotly writes a scatter point's label where it is told, so the
// names of nearby touchpoints print over each other. After every drawing of a figure listed in
// LABELLED, its labels are placed biggest point first: above the point (Plotly's place), else
// below, right or left of it, preferring a place that covers no other point; a label that fits
// nowhere is hidden. Hover reads the figure's data, not these elements, so every name stays on
// hover. The box each label ends up in depends on the drawn width, hence the redo on each draw.
(function () {
  "use strict";
  var LABELLED = ["fig-graph", "fig-lifts"];
  var PAD = 2; // px kept free around a label
  var GAP = 3; // px between a moved label and its point

  function box(el) {
    var r = el.getBoundingClientRect();
    return { l: r.left, r: r.right, t: r.top, b: r.bottom };
  }

  function hits(a, b) {
    return a.l < b.r + PAD && b.l < a.r + PAD && a.t < b.b + PAD && b.t < a.b + PAD;
  }

  function shifted(a, dx, dy) {
    return { l: a.l + dx, r: a.r + dx, t: a.t + dy, b: a.b + dy };
  }

  function inside(a, area) {
    return a.l >= area.l && a.r <= area.r && a.t >= area.t && a.b <= area.b;
  }

  // Every labelled point of the figure: its text element, its marker's box and its size.
  function labelledPoints(gd) {
    var points = [];
    gd.querySelectorAll(".scatterlayer .trace").forEach(function (trace, traceIndex) {
      var markers = {};
      trace.querySelectorAll(".points path.point").forEach(function (path) {
        if (path.__data__) markers[path.__data__.i] = path;
      });
      trace.querySelectorAll(".textpoint").forEach(function (group) {
        var text = group.querySelector("text");
        var datum = group.__data__ || {};
        if (!text || !text.textContent.trim()) return;
        text.removeAttribute("transform");
        group.style.visibility = "";
        var marker = markers[datum.i];
        points.push({
          group: group,
          text: text,
          marker: marker ? box(marker) : null,
          size: datum.mrc || 0,
          order: [traceIndex, datum.i || 0],
        });
      });
    });
    points.sort(function (a, b) {
      return b.size - a.size || a.order[0] - b.order[0] || a.order[1] - b.order[1];
    });
    return points;
  }

  // Where a label may go, as (dx, dy) moves from Plotly's place above the point.
  function candidates(label, marker) {
    var moves = [[0, 0]];
    if (!marker) return moves;
    var height = label.b - label.t;
    var middle = (marker.t + marker.b) / 2 - height / 2 - label.t;
    moves.push([0, marker.b + GAP - label.t]);
    moves.push([marker.r + GAP - label.l, middle]);
    moves.push([marker.l - GAP - label.r, middle]);
    return moves;
  }

  function placeLabels(gd) {
    var drag = gd.querySelector(".nsewdrag");
    if (!drag) return;
    var area = box(drag);
    var points = labelledPoints(gd);
    var markers = points.map(function (p) {
      return p.marker;
    });
    var placed = [];
    var hidden = 0;
    points.forEach(function (point) {
      var label = box(point.text);
      var best = null;
      candidates(label, point.marker).forEach(function (move, k) {
        var spot = shifted(label, move[0], move[1]);
        if (k > 0 && !inside(spot, area)) return;
        if (placed.some(function (other) { return hits(spot, other); })) return;
        var covered = markers.filter(function (m) {
          return m && m !== point.marker && hits(spot, m);
        }).length;
        if (best === null || covered < best.covered) best = { move: move, spot: spot, covered: covered };
      });
      if (best === null) {
        point.group.style.visibility = "hidden";
        hidden += 1;
        return;
      }
      if (best.move[0] || best.move[1]) {
        point.text.setAttribute("transform", "translate(" + best.move[0] + "," + best.move[1] + ")");
      }
      placed.push(best.spot);
    });
    gd.setAttribute("data-labels-hidden", String(hidden));
    gd.setAttribute("data-labels-width", String(Math.round(gd.getBoundingClientRect().width)));
  }

  function start() {
    LABELLED.forEach(function (id) {
      var gd = document.getElementById(id);
      if (!gd || typeof gd.on !== "function") return;
      gd.on("plotly_afterplot", function () {
        placeLabels(gd);
      });
      placeLabels(gd);
    });
  }

  window.addEventListener("load", start);
})();
