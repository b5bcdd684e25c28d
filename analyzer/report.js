/* memsnap report: choose a moment on the timeline, show its flame graph (zoom, search, reset, three views)
 * and its sites; sort tables. Plain DOM, no libraries; the page works from a file on an offline machine. */
(function () {
  'use strict';
  var W = 1200, P = 10, C = 7; /* the flame graph's width, padding and px per label character (flamegraph.c) */
  var view = document.getElementById('view'), sitesView = document.getElementById('sites-view');
  var memoryView = document.getElementById('memory-view');
  var search = document.getElementById('search'), matched = document.getElementById('matched');
  var details = document.getElementById('details'), title = document.getElementById('moment-title');
  var moments = [].slice.call(document.querySelectorAll('svg.plot circle.moment'));
  var mode = 'live', frames = [];

  function fit(g, w) {
    var l = g.getAttribute('data-l'), n = Math.floor((w - 6) / C);
    return n < 3 ? '' : l.length <= n ? l : l.substr(0, n - 2) + '..';
  }
  function place(g, x, w) {
    g.r.setAttribute('x', x); g.r.setAttribute('width', w);
    g.t.setAttribute('x', x + 3); g.t.textContent = fit(g, w);
  }
  function zoom(z) {
    var s = (W - 2 * P) / z.ow;
    frames.forEach(function (g) {
      if (g.oy > z.oy && g.ox <= z.ox + 1e-6 && g.ox + g.ow >= z.ox + z.ow - 1e-6) { /* a caller: full width, faded */
        g.style.display = ''; g.style.opacity = 0.5; place(g, P, W - 2 * P);
      } else if (g.oy <= z.oy && g.ox >= z.ox - 1e-6 && g.ox + g.ow <= z.ox + z.ow + 1e-6) {
        g.style.display = ''; g.style.opacity = 1; place(g, P + (g.ox - z.ox) * s, g.ow * s);
      } else {
        g.style.display = 'none';
      }
    });
  }
  function reset() {
    frames.forEach(function (g) { g.style.display = ''; g.style.opacity = 1; place(g, g.ox, g.ow); });
  }
  function find() {
    var t = search.value, re = null;
    if (t !== '') {
      try { re = new RegExp(t); } catch (e) { re = new RegExp(t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')); }
    }
    var iv = [];
    frames.forEach(function (g) {
      var hit = re && re.test(g.name);
      g.r.setAttribute('fill', hit ? 'rgb(230,0,230)' : g.fill);
      if (hit) iv.push([g.ox, g.ox + g.ow]);
    });
    iv.sort(function (a, b) { return a[0] - b[0]; });
    var sum = 0, end = -1;
    iv.forEach(function (v) {
      if (v[0] >= end) { sum += v[1] - v[0]; end = v[1]; } else if (v[1] > end) { sum += v[1] - end; end = v[1]; }
    });
    matched.textContent = re ? 'matched: ' + (100 * sum / (W - 2 * P)).toFixed(1) + '% of the width' : '';
  }
  function show(m) {
    mode = m;
    [].forEach.call(view.querySelectorAll('div.fg'), function (d) { d.hidden = d.getAttribute('data-mode') !== m; });
    [].forEach.call(document.querySelectorAll('.modes button'), function (b) {
      b.classList.toggle('on', b.getAttribute('data-mode') === m);
    });
    var d = view.querySelector('div.fg[data-mode="' + m + '"]');
    frames = d ? [].slice.call(d.querySelectorAll('g.f')) : [];
    frames.forEach(function (g) {
      if (g.r) return;
      g.r = g.querySelector('rect'); g.t = g.querySelector('text');
      g.ox = +g.r.getAttribute('x'); g.ow = +g.r.getAttribute('width'); g.oy = +g.r.getAttribute('y');
      g.fill = g.r.getAttribute('fill');
      var tt = g.querySelector('title').textContent;
      g.name = tt.replace(/ \([^()]*\)$/, '');
      g.addEventListener('click', function () { zoom(g); });
      g.addEventListener('mouseover', function () { details.textContent = tt; });
    });
    reset();
    find();
  }
  function select(i) {
    var tpl = document.getElementById('moment-' + i);
    if (!tpl) return;
    var c = tpl.content.cloneNode(true), table = c.querySelector('table'), mem = c.querySelector('div.memory');
    if (mem) memoryView.replaceChildren(mem); else memoryView.replaceChildren();
    if (table) {
      var notes = [], note = table.nextElementSibling;
      for (; note && note.matches('p.note'); note = note.nextElementSibling) notes.push(note);
      sitesView.replaceChildren(table);
      notes.forEach(function (n) { sitesView.appendChild(n); });
    }
    view.replaceChildren(c);
    title.textContent = 'Flame graph: ' + tpl.getAttribute('data-title');
    title.title = tpl.getAttribute('data-path');
    moments.forEach(function (m) { m.classList.toggle('sel', +m.getAttribute('data-i') === i); });
    document.body.setAttribute('data-moment', i);
    sortable(sitesView);
    show(mode);
  }
  function sortable(root) {
    [].forEach.call(root.querySelectorAll('table.sortable'), function (t) {
      [].forEach.call(t.querySelectorAll('th'), function (th, col) {
        th.addEventListener('click', function () {
          /* first click: numbers largest first, names A to Z; then each click reverses */
          var asc = th.classList.contains('desc') ? true : th.classList.contains('asc') ? false :
            !th.classList.contains('num');
          [].forEach.call(t.querySelectorAll('th'), function (h) { h.classList.remove('asc', 'desc'); });
          th.classList.add(asc ? 'asc' : 'desc');
          var body = t.tBodies[0], rows = [].slice.call(body.rows);
          var key = function (r) {
            var td = r.cells[col], v = td.getAttribute('data-v');
            return v !== null ? +v : /^\d+$/.test(td.textContent) ? +td.textContent : td.textContent.toLowerCase();
          };
          rows.sort(function (a, b) {
            var x = key(a), y = key(b);
            return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
          });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      });
    });
  }
  moments.forEach(function (m) {
    m.addEventListener('click', function () { select(+m.getAttribute('data-i')); });
  });
  [].forEach.call(document.querySelectorAll('.modes button'), function (b) {
    b.addEventListener('click', function () { show(b.getAttribute('data-mode')); });
  });
  document.getElementById('reset').addEventListener('click', reset);
  search.addEventListener('input', find);
  sortable(document.getElementById('growth'));
  select(+document.body.getAttribute('data-peak') || 0);
})();
