/* Injected last into the report of growth-fixture's unbounded cache (6 batch snapshots, then the at-exit
 * one), as scripts/demo writes it: uses the page as a reader would, with real DOM events, and writes one line
 * per check into a pre element (id browser-test) that report_in_chromium.sh reads from the dumped DOM. */
(function () {
  var out = [], t0 = performance.now();
  function check(ok, what) { out.push((ok ? 'ok ' : 'FAIL ') + what); }
  function click(el) { el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, view: window })); }
  function visible() { return document.querySelector('#view div.fg:not([hidden])'); }
  function frames() { var d = visible(); return d ? [].slice.call(d.querySelectorAll('g.f')) : []; }
  function name(g) { return g.querySelector('title').textContent; }
  function rect(g) { return g.querySelector('rect'); }
  function width(g) { return +rect(g).getAttribute('width'); }
  function frame(re) { return frames().filter(function (g) { return re.test(name(g)); })[0]; }
  function picture() { return frames().map(function (g) { return name(g) + '@' + width(g).toFixed(2); }).join('|'); }
  try {
    var moments = document.querySelectorAll('svg.plot circle.moment');
    check(moments.length === 7, 'seven moments on the timeline (' + moments.length + ')');
    check(document.querySelector('svg.plot circle.peak') !== null, 'the peak is marked');
    var peak = document.body.getAttribute('data-peak');
    check(document.body.getAttribute('data-moment') === peak, 'the peak moment is shown first (' + peak + ')');
    check(frames().length > 3, 'a flame graph is drawn (' + frames().length + ' frames)');

    /* A frame's own width: its width less its callees' (the frames just above it, within its span). */
    function self(g) {
      var x = +rect(g).getAttribute('x'), y = +rect(g).getAttribute('y'), w = width(g);
      frames().forEach(function (k) {
        var kx = +rect(k).getAttribute('x');
        if (Math.abs(+rect(k).getAttribute('y') - (y - 16)) < 0.5 && kx >= x - 1e-6 && kx < x + w) w -= width(k);
      });
      return w;
    }
    function widest() {
      var best = null;
      frames().forEach(function (g) { if (!best || self(g) > self(best)) best = g; });
      return best;
    }
    click(moments[0]);
    var first = picture(), cp0 = frame(/^ms_cache_put /), w0 = cp0 ? self(cp0) : 0;
    check(document.body.getAttribute('data-moment') === '0', 'clicking the first moment selects it');
    check(/Snapshot 1 of 7/.test(document.getElementById('moment-title').textContent), 'the heading names moment 1');
    click(moments[5]);
    var last = picture(), cp = frame(/^ms_cache_put /);
    check(first !== last, 'clicking another moment changes the flame graph');
    check(cp && self(cp) > w0, 'the cache (ms_cache_put) is wider at the last batch than at the first (' +
          w0.toFixed(1) + ' -> ' + (cp && self(cp).toFixed(1)) + ' px)');
    check(cp && widest() === cp, 'at the last batch the cache is the widest frame (widest: ' + name(widest()) + ')');
    var search = document.getElementById('search');
    search.value = 'ms_cache_put';
    search.dispatchEvent(new Event('input', { bubbles: true }));
    check(rect(cp).getAttribute('fill') === 'rgb(230,0,230)', 'searching ms_cache_put highlights its frame');
    var m = /matched: ([0-9.]+)%/.exec(document.getElementById('matched').textContent);
    check(m && +m[1] > 1, 'the search reports the share matched (' + (m && m[1]) + '%)');

    var full = width(frame(/^all /));
    click(cp);
    check(Math.abs(width(cp) - full) < 0.01, 'clicking a frame zooms it to the full width');
    click(document.getElementById('reset'));
    check(Math.abs(width(cp) - full) > 1, 'reset zoom restores the widths');

    click(document.querySelector('.modes button[data-mode="count"]'));
    check(visible().getAttribute('data-mode') === 'count', 'the blocks toggle shows the count view');
    check(/block/.test(name(frame(/^all /))), 'the count view counts blocks');
    click(document.querySelector('.modes button[data-mode="alloc"]'));
    check(visible().getAttribute('data-mode') === 'alloc', 'the allocated toggle shows the allocated view');
    click(document.querySelector('.modes button[data-mode="live"]'));

    var th = document.querySelectorAll('#sites-view table th')[1], rows = function () {
      return [].map.call(document.querySelectorAll('#sites-view tbody tr'), function (r) { return +r.cells[1].getAttribute('data-v'); });
    };
    click(th);
    var a = rows();
    click(th);
    var b = rows();
    check(a.length > 1 && a[0] >= a[a.length - 1] && b[0] <= b[b.length - 1], 'the sites table sorts by live bytes, both ways');
    check(/unbounded/.test(document.getElementById('growth').textContent) &&
          /cache\.c:222/.test(document.querySelector('#growth tr.unbounded').textContent), 'growth calls the cache unbounded');
    check(/SUMMARY/.test(document.getElementById('leaks').textContent), 'the leak summary is there');
    /* Leave the page as a reader would look at it, for the screenshot. */
    click(moments[5]);
    search.value = 'ms_cache_put';
    search.dispatchEvent(new Event('input', { bubbles: true }));
  } catch (e) {
    check(false, 'exception: ' + e);
  }
  (window.__errors || []).forEach(function (e) { check(false, 'page error: ' + e); });
  check(window.__errors !== undefined, 'the error recorder ran');
  out.push('interaction-ms ' + (performance.now() - t0).toFixed(0));
  out.push('load-ms ' + performance.now().toFixed(0));
  var pre = document.createElement('pre');
  pre.id = 'browser-test';
  pre.textContent = out.join('\n');
  document.body.appendChild(pre);
})();
