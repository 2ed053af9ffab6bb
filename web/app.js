/* webops web UI enhancements. Every page works without this file; it adds:
 * addon section switches, add/remove rows of environment variables, live
 * run logs (Server-Sent Events), a copy button for new tokens, and focus on
 * the error summary. Text from the server is only ever set as textContent. */
(function () {
  'use strict';

  function $all(sel, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(sel));
  }

  /* ---- addon sections: the first bool field switches the rest ---- */
  function initSwitches() {
    $all('input[type="checkbox"][data-switch]').forEach(function (box) {
      var body = document.getElementById(box.getAttribute('data-switch'));
      if (!body) return;
      /* a section holding an error stays open, so the error can be seen */
      var hasError = !!body.querySelector('.invalid');
      function sync() {
        var on = box.checked || hasError;
        body.hidden = !on;
        /* fields of a switched-off section are not sent: stored values stay */
        $all('input, select, textarea, button', body).forEach(function (el) {
          el.disabled = !on;
        });
      }
      box.addEventListener('change', function () {
        hasError = false;
        sync();
      });
      sync();
    });
  }

  /* ---- environment variable rows ---- */
  function initEnvRows() {
    $all('[data-env-rows]').forEach(function (rows) {
      var next = $all('[data-env-row]', rows).length;

      function renumber() {
        $all('[data-env-row]', rows).forEach(function (row, i) {
          var labels = $all('label', row);
          if (labels[0]) labels[0].textContent = 'Variable ' + (i + 1) + ' name';
          if (labels[1]) labels[1].textContent = 'Variable ' + (i + 1) + ' value';
          var rm = row.querySelector('button[data-remove]');
          if (rm) rm.querySelector('.vh').textContent = ' variable ' + (i + 1);
        });
      }

      function addRemove(row) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'small';
        b.setAttribute('data-remove', '');
        b.appendChild(document.createTextNode('Remove'));
        var hidden = document.createElement('span');
        hidden.className = 'vh';
        b.appendChild(hidden);
        b.addEventListener('click', function () {
          var all = $all('[data-env-row]', rows);
          var idx = all.indexOf(row);
          if (all.length === 1) {
            $all('input', row).forEach(function (i) { i.value = ''; });
            row.querySelector('input').focus();
            return;
          }
          row.parentNode.removeChild(row);
          var left = $all('[data-env-row]', rows);
          var focus = left[Math.min(idx, left.length - 1)];
          focus.querySelector('input').focus();
          renumber();
        });
        row.appendChild(b);
      }

      function addRow() {
        var all = $all('[data-env-row]', rows);
        var row = all[all.length - 1].cloneNode(true);
        row.classList.remove('invalid');
        var old = row.querySelector('button[data-remove]');
        if (old) old.parentNode.removeChild(old);
        var n = next++;
        var inputs = $all('input', row), labels = $all('label', row);
        ['env-key-', 'env-value-'].forEach(function (prefix, k) {
          if (!inputs[k]) return;
          inputs[k].id = prefix + n;
          inputs[k].value = '';
          inputs[k].removeAttribute('aria-invalid');
          if (k === 0) inputs[k].setAttribute('aria-describedby', 'env-help');
          if (labels[k]) labels[k].htmlFor = prefix + n;
        });
        rows.appendChild(row);
        addRemove(row);
        renumber();
        inputs[0].focus();
      }

      $all('[data-env-row]', rows).forEach(addRemove);
      var add = document.createElement('button');
      add.type = 'button';
      add.textContent = 'Add variable';
      add.addEventListener('click', addRow);
      var wrap = document.createElement('div');
      wrap.className = 'actions';
      wrap.appendChild(add);
      rows.parentNode.insertBefore(wrap, rows.nextSibling);
      renumber();
    });
  }

  /* ---- live run log ---- */
  function fmtDuration(ms) {
    if (typeof ms !== 'number' || ms < 0) return '-';
    if (ms < 1000) return ms + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    var s = Math.floor(ms / 1000);
    if (ms < 3600000) return Math.floor(s / 60) + 'm ' + ('0' + (s % 60)).slice(-2) + 's';
    return Math.floor(s / 3600) + 'h ' + ('0' + (Math.floor(s / 60) % 60)).slice(-2) + 'm';
  }

  /* the same markup as run.mustache renders (see log_line in pages.c) */
  var OWN_STREAMS = ['info', 'fetch', 'hook', 'stdout', 'stderr', 'error', 'system'];
  function logLine(l) {
    var stream = String(l.stream || '');
    var text = String(l.text);
    var span = document.createElement('span');
    var cls = 'ln s-' + stream.replace(/[^a-z0-9_-]/gi, '');
    if (stream === 'stderr' || stream === 'error' || text.indexOf('error:') === 0) cls += ' ln-err';
    else if (text.indexOf('warning:') === 0) cls += ' ln-warn';
    span.className = cls;
    span.setAttribute('data-seq', String(l.seq));
    if (stream && OWN_STREAMS.indexOf(stream) < 0) {
      var src = document.createElement('span');
      src.className = 'src';
      src.textContent = stream + ':';
      span.appendChild(src);
      span.appendChild(document.createTextNode(' '));
    }
    ansi(span, text);
    return span;
  }

  /* text into parent, its ANSI colour sequences (ESC [ ... m) as spans with
   * the classes util/ansi.c gives them server-side; every character as
   * text (textContent), other control characters shown as \xNN */
  var SGR = /\x1b\[([0-9;]{0,60})m/g;
  function ansiClass(st) {
    var c = [];
    if (st.b) c.push('a-b');
    if (st.i) c.push('a-i');
    if (st.u) c.push('a-u');
    if (st.f >= 0) c.push('a-f' + st.f);
    if (st.k >= 0) c.push('a-k' + st.k);
    return c.join(' ');
  }
  function ansiApply(st, params) {
    var v = params === '' ? [0] : params.split(';').map(function (x) { return parseInt(x || '0', 10); });
    for (var i = 0; i < v.length; i++) {
      var n = v[i];
      if (n === 0) { st.b = st.i = st.u = 0; st.f = st.k = -1; }
      else if (n === 1) st.b = 1;
      else if (n === 3) st.i = 1;
      else if (n === 4) st.u = 1;
      else if (n === 22) st.b = 0;
      else if (n === 23) st.i = 0;
      else if (n === 24) st.u = 0;
      else if (n >= 30 && n <= 37) st.f = n - 30;
      else if (n === 39) st.f = -1;
      else if (n >= 40 && n <= 47) st.k = n - 40;
      else if (n === 49) st.k = -1;
      else if (n >= 90 && n <= 97) st.f = n - 90 + 8;
      else if ((n === 38 || n === 48) && v[i + 1] === 5) {
        if (n === 38) st.f = v[i + 2] < 16 ? v[i + 2] : -1; else st.k = v[i + 2] < 8 ? v[i + 2] : -1;
        i += 2;
      } else if ((n === 38 || n === 48) && v[i + 1] === 2) {
        if (n === 38) st.f = -1; else st.k = -1;
        i += 4;
      }
    }
  }
  function visible(t) {
    return t.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, function (c) {
      return '\\x' + ('0' + c.charCodeAt(0).toString(16)).slice(-2);
    });
  }
  function ansi(parent, text) {
    if (text.indexOf('\x1b') < 0) { parent.appendChild(document.createTextNode(visible(text))); return; }
    var st = { b: 0, i: 0, u: 0, f: -1, k: -1 }, at = 0, m, into = parent;
    SGR.lastIndex = 0;
    function put(t) { if (t) into.appendChild(document.createTextNode(visible(t))); }
    while ((m = SGR.exec(text)) !== null) {
      put(text.slice(at, m.index));
      at = SGR.lastIndex;
      ansiApply(st, m[1]);
      var cls = ansiClass(st);
      into = parent;
      if (cls) {
        into = document.createElement('span');
        into.className = cls;
        parent.appendChild(into);
      }
    }
    put(text.slice(at));
  }

  function initRunLog() {
    var run = document.getElementById('run');
    if (!run || !window.EventSource || !window.JSON) return;
    var status = run.getAttribute('data-status');
    if (status !== 'queued' && status !== 'running') return;
    var id = run.getAttribute('data-run-id');
    var lastSeq = parseInt(run.getAttribute('data-last-seq'), 10) || 0;
    var log = document.getElementById('log');
    var empty = document.getElementById('log-empty');
    var badge = document.getElementById('run-status');

    function nearBottom() {
      /* the log box scrolls on its own; follow it only while at its end */
      return log.scrollHeight - log.scrollTop - log.clientHeight < 32;
    }

    function setStatus(s) {
      if (!s) return;
      run.setAttribute('data-status', s);
      badge.textContent = s;
      badge.className = 'badge st-' + String(s).replace(/[^a-z0-9_-]/gi, '');
    }

    var es = new EventSource('/api/v1/runs/' + encodeURIComponent(id) + '/log?after=' + lastSeq);

    /* Lines arriving in a burst (a build prints thousands) go into the page
     * once per frame, in one fragment: the layout is read (nearBottom) and
     * the log scrolled once per batch, not once per line, and only while
     * the reader is at the end of the log. */
    var pending = null, pendingSince = 0, scheduled = false;
    function flush() {
      scheduled = false;
      if (!pending) return;
      var follow = nearBottom();
      log.appendChild(pending);
      pending = null;
      if (empty) empty.hidden = true;
      if (follow) log.scrollTop = log.scrollHeight;
    }
    var later = window.requestAnimationFrame ? function (f) { window.requestAnimationFrame(f); }
                                             : function (f) { setTimeout(f, 16); };
    es.addEventListener('line', function (ev) {
      var l;
      try { l = JSON.parse(ev.data); } catch (e) { return; }
      if (!l || typeof l.text !== 'string') return;
      if (typeof l.seq === 'number') {
        if (l.seq <= lastSeq) return; /* already shown (a reconnect replays) */
        lastSeq = l.seq;
        run.setAttribute('data-last-seq', String(lastSeq));
      }
      if (status === 'queued') setStatus(status = 'running');
      if (!pending) {
        pending = document.createDocumentFragment();
        pendingSince = Date.now();
      }
      pending.appendChild(logLine(l));
      pending.appendChild(document.createTextNode('\n'));
      /* a long burst holds the event loop: the frame would come only once
       * it drained, so a batch older than 100 ms goes in at once */
      if (Date.now() - pendingSince > 100) { flush(); return; }
      if (!scheduled) {
        scheduled = true;
        /* a hidden tab gets no animation frames: a timer then */
        if (document.hidden) setTimeout(flush, 250); else later(flush);
      }
    });

    es.addEventListener('result', function (ev) {
      es.close();
      flush();
      var r = {};
      try { r = JSON.parse(ev.data) || {}; } catch (e) { /* keep what is shown */ }
      setStatus(r.status);
      var stage = document.getElementById('run-stage');
      if (stage && r.stage) stage.textContent = r.stage;
      var dur = document.getElementById('run-duration');
      if (dur && typeof r.duration_ms === 'number') dur.textContent = fmtDuration(r.duration_ms);
      var commit = document.getElementById('run-commit');
      if (commit && r.commit && typeof r.commit.sha === 'string' && !commit.querySelector('code')) {
        var code = document.createElement('code');
        code.title = r.commit.sha;
        code.textContent = r.commit.sha.slice(0, 7);
        commit.textContent = '';
        commit.appendChild(code);
        if (r.commit.subject) commit.appendChild(document.createTextNode(' ' + r.commit.subject));
      }
      var cancel = document.getElementById('run-cancel');
      if (cancel) cancel.parentNode.removeChild(cancel);
      if (r.status === 'failed') {
        var box = document.getElementById('run-error');
        var text = document.getElementById('run-error-text');
        if (box && text) {
          text.textContent = r.error || 'The run failed.';
          box.hidden = false;
        }
      }
    });
  }

  /* ---- copy a new token ---- */
  function initCopy() {
    $all('button[data-copy]').forEach(function (b) {
      var input = document.getElementById(b.getAttribute('data-copy'));
      if (!input || !navigator.clipboard) return;
      b.hidden = false;
      b.addEventListener('click', function () {
        navigator.clipboard.writeText(input.value).then(function () {
          b.textContent = 'Copied';
          setTimeout(function () { b.textContent = 'Copy'; }, 2000);
        }, function () {
          input.select();
        });
      });
    });
  }

  /* ---- errors: bring the summary to the reader ---- */
  function initErrors() {
    var summary = document.getElementById('error-summary');
    if (summary) summary.focus();
  }

  function init() {
    initSwitches();
    initEnvRows();
    initRunLog();
    initCopy();
    initErrors();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
