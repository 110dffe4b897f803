(function () {
  'use strict';
  var table = document.getElementById('findings');
  var block = document.getElementById('report-data');
  if (!table || !block || typeof DecompressionStream === 'undefined') { return; }
  // the findings travel gzipped (a tenth of their JSON size): base64 -> bytes -> JSON
  function inflate(el) {
    var bin = atob(el.textContent.replace(/\s+/g, ''));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip')))
      .text().then(JSON.parse);
  }
  inflate(block).then(start).catch(function (err) { table.dataset.error = String(err); });

  function start(D) {
  var DS = null, detailsLoading = null;   // the details block, inflated on the first expand
  function loadDetails() {
    if (!detailsLoading) {
      detailsLoading = inflate(document.getElementById('report-details'))
        .then(function (d) { DS = d.strings; });
    }
    return detailsLoading;
  }
  var isDetail = {};
  D.details.forEach(function (name) { isDetail[name] = true; });
  var S = D.strings, F = D.findings, G = D.groups, ST = D.states;
  var k = {};
  D.fields.forEach(function (name, i) { k[name] = i; });
  var PAGE = 200, DETAIL_PAGE = 500;
  var body = table.tBodies[0];
  var more = document.getElementById('more');
  var shown = document.getElementById('shown');
  var order = G.map(function (_, i) { return i; });
  var view = order, drawn = 0, haystack = null;

  function s(f, name) { return (isDetail[name] ? DS : S)[F[f][k[name]]]; }
  function groupState(g) {
    var best = 99;
    G[g].forEach(function (f) { best = Math.min(best, F[f][k.state]); });
    return best;
  }
  var gstate = G.map(function (_, g) { return groupState(g); });
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function sevBadge(rank) {
    var sev = D.severities[rank];
    return el('span', 'sev s-' + sev[0], sev[1]);
  }
  function safeLink(url, text) {
    if (url && /^https?:\/\//i.test(url)) {
      var a = el('a', null, text);
      a.href = url; a.rel = 'noopener noreferrer'; a.target = '_blank';
      return a;
    }
    return document.createTextNode(text);
  }
  function row(g) {
    var f = G[g][0], n = G[g].length, state = ST[gstate[g]];
    var tr = el('tr', 'state-' + state);
    tr.dataset.group = g;
    var td = el('td'); td.dataset.key = F[f][k.rank]; td.appendChild(sevBadge(F[f][k.rank]));
    tr.appendChild(td);
    tr.appendChild(el('td', null, s(f, 'stage')));
    tr.appendChild(el('td', null, s(f, 'tool')));
    td = el('td', 'mono'); td.appendChild(safeLink(s(f, 'link'), s(f, 'rule'))); tr.appendChild(td);
    tr.appendChild(el('td', 'where mono', s(f, 'where') + (n > 1 ? '  (+' + (n - 1) + ' more)' : '')));
    td = el('td', 'title', s(f, 'title'));
    if (s(f, 'secret')) { td.appendChild(el('br')); td.appendChild(el('span', 'secret mono', 'secret: ' + s(f, 'secret'))); }
    var btn = el('button', 'toggle', n > 1 ? n + ' findings' : 'details');
    btn.type = 'button'; btn.setAttribute('aria-expanded', 'false');
    td.appendChild(el('br')); td.appendChild(btn);
    tr.appendChild(td);
    tr.appendChild(el('td', 'fix', s(f, 'remediation')));
    td = el('td'); td.appendChild(el('span', 'badge b-' + state, state));
    if (s(f, 'suppression')) { td.appendChild(el('div', 'sub', s(f, 'suppression').slice(0, 160))); }
    tr.appendChild(td);
    return tr;
  }
  function detail(g, limit) {
    var tr = el('tr', 'detail'), td = el('td');
    td.colSpan = 8;
    var f0 = G[g][0];
    if (s(f0, 'description') && s(f0, 'description') !== s(f0, 'title')) {
      td.appendChild(el('p', 'desc', s(f0, 'description')));
    }
    var t = el('table', 'members'), head = el('tr');
    ['severity', 'location', 'tool', 'title', 'secret', 'state', 'finding id'].forEach(function (h) {
      head.appendChild(el('th', null, h));
    });
    t.appendChild(el('thead')).appendChild(head);
    var tb = el('tbody');
    G[g].slice(0, limit).forEach(function (f) {
      var r = el('tr'), c = el('td');
      c.appendChild(sevBadge(F[f][k.rank])); r.appendChild(c);
      r.appendChild(el('td', 'where mono', s(f, 'where')));
      r.appendChild(el('td', null, s(f, 'tool')));
      r.appendChild(el('td', null, s(f, 'title')));
      r.appendChild(el('td', 'mono', s(f, 'secret')));
      c = el('td', null, ST[F[f][k.state]]);
      if (s(f, 'suppression')) { c.appendChild(el('div', 'sub', s(f, 'suppression'))); }
      r.appendChild(c);
      r.appendChild(el('td', 'mono id', s(f, 'id')));
      tb.appendChild(r);
    });
    t.appendChild(tb);
    td.appendChild(t);
    if (G[g].length > limit) {
      var all = el('button', 'all', 'show all ' + G[g].length);
      all.type = 'button';
      all.addEventListener('click', function () { tr.replaceWith(detail(g, G[g].length)); });
      td.appendChild(all);
    }
    tr.appendChild(td);
    return tr;
  }
  function drawMore() {
    var frag = document.createDocumentFragment();
    var end = Math.min(view.length, drawn + PAGE);
    for (var i = drawn; i < end; i++) { frag.appendChild(row(view[i])); }
    body.appendChild(frag);
    drawn = end;
    more.hidden = drawn >= view.length;
    more.textContent = 'show ' + Math.min(PAGE, view.length - drawn) + ' more of ' + (view.length - drawn);
  }
  function redraw() {
    body.textContent = '';
    drawn = 0;
    var count = 0;
    view.forEach(function (g) { count += G[g].length; });
    shown.textContent = count + ' in ' + view.length + ' issues';
    drawMore();
  }
  body.addEventListener('click', function (ev) {
    var btn = ev.target.closest('button.toggle');
    if (!btn) { return; }
    var tr = btn.closest('tr'), g = Number(tr.dataset.group);
    var open = btn.getAttribute('aria-expanded') === 'true';
    btn.setAttribute('aria-expanded', String(!open));
    if (open) {
      var next = tr.nextSibling;
      if (next && next.classList.contains('detail')) { next.remove(); }
      return;
    }
    loadDetails().then(function () {
      if (btn.getAttribute('aria-expanded') === 'true') { tr.after(detail(g, DETAIL_PAGE)); }
    });
  });
  more.addEventListener('click', drawMore);
  function text(g) {
    if (!haystack) { haystack = []; }
    if (haystack[g] === undefined) {
      var f = G[g][0], parts = [s(f, 'rule'), s(f, 'title'), s(f, 'tool'), s(f, 'stage'), s(f, 'remediation')];
      G[g].forEach(function (m) { parts.push(s(m, 'where'), s(m, 'secret')); });
      haystack[g] = parts.join('\n').toLowerCase();
    }
    return haystack[g];
  }
  var controls = document.querySelectorAll('[data-filter]');
  function apply() {
    var want = {};
    controls.forEach(function (c) { want[c.dataset.filter] = c.value; });
    var q = (want.text || '').toLowerCase();
    view = order.filter(function (g) {
      var f = G[g][0];
      return (!want.severity || F[f][k.rank] >= Number(want.severity)) &&
             (!want.stage || s(f, 'stage') === want.stage) &&
             (!want.tool || s(f, 'tool') === want.tool) &&
             (!want.state || ST[gstate[g]] === want.state) &&
             (!q || text(g).indexOf(q) !== -1);
    });
    redraw();
  }
  controls.forEach(function (c) { c.addEventListener('input', apply); });
  var keys = { severity: function (g) { return F[G[g][0]][k.rank]; },
               state: function (g) { return gstate[g]; } };
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th) {
    var col = th.dataset.sort;
    if (!col) { return; }
    th.tabIndex = 0;
    th.addEventListener('click', function () {
      var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
      Array.prototype.forEach.call(heads, function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var key = keys[col] || function (g) { return s(G[g][0], col); };
      order = order.slice().sort(function (a, b) {
        var x = key(a), y = key(b);
        var r = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
        return dir === 'asc' ? r : -r;
      });
      apply();
    });
  });
  redraw();
  document.body.classList.add('js');
  table.dataset.ready = '1';
  }
})();
