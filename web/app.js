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

      /* values are masked until shown (secrets sit among them) */
      var masked = true;
      function mask() {
        $all('input[name="env_value"]', rows).forEach(function (i) { i.classList.toggle('masked', masked); });
        toggle.textContent = masked ? 'Show values' : 'Hide values';
        toggle.setAttribute('aria-pressed', masked ? 'false' : 'true');
      }
      var toggle = document.createElement('button');
      toggle.type = 'button';
      toggle.addEventListener('click', function () { masked = !masked; mask(); });
      wrap.appendChild(toggle);
      rows.parentNode.insertBefore(wrap, rows.nextSibling);

      /* a whole .env pasted into a row: one row per KEY=VALUE line
       * (comments, blank lines and "export " skipped, quotes removed) */
      rows.addEventListener('paste', function (ev) {
        var t = ev.target;
        var text = ev.clipboardData ? ev.clipboardData.getData('text') : '';
        if (!t || t.tagName !== 'INPUT' || text.indexOf('\n') < 0 || text.indexOf('=') < 0) return;
        var pairs = [];
        text.split(/\r?\n/).forEach(function (line) {
          var l = line.replace(/^\s+/, '');
          if (!l || l.charAt(0) === '#') return;
          if (l.indexOf('export ') === 0) l = l.slice(7).replace(/^\s+/, '');
          var eq = l.indexOf('=');
          if (eq <= 0) return;
          var k = l.slice(0, eq).trim(), v = l.slice(eq + 1).trim();
          if ((v.charAt(0) === '"' && v.slice(-1) === '"' && v.length > 1) ||
              (v.charAt(0) === "'" && v.slice(-1) === "'" && v.length > 1))
            v = v.slice(1, -1);
          else
            v = v.replace(/\s+#.*$/, '');
          pairs.push([k, v]);
        });
        if (!pairs.length) return;
        ev.preventDefault();
        var row = t.closest('[data-env-row]');
        pairs.forEach(function (p, i) {
          if (i > 0 || !row) {
            var all = $all('[data-env-row]', rows), last = all[all.length - 1];
            var lk = last.querySelector('input[name="env_key"]');
            if (lk && (lk.value || i > 0 || !row)) addRow();
            all = $all('[data-env-row]', rows);
            row = all[all.length - 1];
          }
          row.querySelector('input[name="env_key"]').value = p[0];
          row.querySelector('input[name="env_value"]').value = p[1];
        });
        mask();
        var st = document.getElementById('env-paste-status');
        if (st) st.textContent = pairs.length + ' variable' + (pairs.length === 1 ? '' : 's') + ' pasted.';
      });
      renumber();
      mask();
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

    /* the facts beside the log: stage, duration, the commit once fetched */
    function showRun(r) {
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
    }
    es.addEventListener('run', function (ev) {
      var r;
      try { r = JSON.parse(ev.data); } catch (e) { return; }
      if (!r) return;
      if (r.started_at) run.setAttribute('data-started', r.started_at);
      showRun(r);
    });
    /* the duration goes on while it runs */
    var ticking = setInterval(function () {
      var st = run.getAttribute('data-status');
      if (st !== 'running' && st !== 'queued') { clearInterval(ticking); return; }
      var started = run.getAttribute('data-started');
      var dur = document.getElementById('run-duration');
      if (started && dur) dur.textContent = fmtDuration(Date.now() - Date.parse(started));
    }, 1000);

    es.addEventListener('result', function (ev) {
      es.close();
      flush();
      var r = {};
      try { r = JSON.parse(ev.data) || {}; } catch (e) { /* keep what is shown */ }
      showRun(r);
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

  /* ---- the deployment page's tabs ---- */
  function initTabs() {
    var nav = document.querySelector('nav.tabs');
    if (!nav) return;
    var panels = $all('.tab-panel');
    var links = $all('a', nav);
    function show(hash) {
      var target = hash && hash.length > 1 ? document.getElementById(hash.slice(1)) : null;
      var panel = null;
      for (var el = target; el; el = el.parentElement)
        if (el.classList && el.classList.contains('tab-panel')) { panel = el; break; }
      if (!panel) panel = panels[0];
      panels.forEach(function (p) { p.hidden = p !== panel; });
      links.forEach(function (a) {
        if (a.getAttribute('href') === '#' + panel.id) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      });
      if (panel.id === 'logs') startRuntimeLogs();
      return target;
    }
    nav.classList.add('on');
    window.addEventListener('hashchange', function () { show(location.hash); });
    /* a form that came back with errors shows its tab */
    var err = document.querySelector('.tab-panel [aria-invalid="true"], .tab-panel .alert');
    if (!location.hash && err) {
      for (var el = err; el; el = el.parentElement)
        if (el.classList && el.classList.contains('tab-panel')) { show('#' + el.id); return; }
    }
    show(location.hash);
  }

  /* ---- the Logs tab: what the running release prints, live ---- */
  var runtimeStarted = false;
  function startRuntimeLogs() {
    var btn = document.getElementById('runtime-logs-start');
    var pre = document.getElementById('runtime-log');
    var state = document.getElementById('runtime-log-state');
    if (!btn || !pre || runtimeStarted || !window.EventSource) return;
    runtimeStarted = true;
    btn.hidden = true;
    pre.hidden = false;
    state.textContent = 'Connecting...';
    var es = new EventSource(btn.getAttribute('data-src'));
    var pending = null, scheduled = false, count = 0;
    function flush() {
      scheduled = false;
      if (!pending) return;
      var follow = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 32;
      pre.appendChild(pending);
      pending = null;
      /* a long-running page keeps the last 5,000 lines */
      while (pre.childNodes.length > 10000) pre.removeChild(pre.firstChild);
      if (follow) pre.scrollTop = pre.scrollHeight;
    }
    es.addEventListener('message', function (ev) {
      var l;
      try { l = JSON.parse(ev.data); } catch (e) { return; }
      if (!l || typeof l.t !== 'string') return;
      if (!pending) pending = document.createDocumentFragment();
      var span = document.createElement('span');
      span.className = 'ln' + (l.s === 'err' ? ' ln-err' : '');
      ansi(span, l.t);
      pending.appendChild(span);
      pending.appendChild(document.createTextNode('\n'));
      count++;
      state.textContent = 'Following: ' + count + ' line' + (count === 1 ? '' : 's') + '.';
      if (!scheduled) { scheduled = true; setTimeout(flush, 50); }
    });
    es.addEventListener('problem', function (ev) {
      var l = {};
      try { l = JSON.parse(ev.data) || {}; } catch (e) { /* shown as is */ }
      state.textContent = l.t || 'The logs cannot be shown.';
    });
    es.addEventListener('end', function () {
      es.close();
      flush();
      state.textContent = 'The log ended (the container stopped or was replaced). Reload to follow it again.';
    });
  }
  function initRuntimeLogs() {
    var btn = document.getElementById('runtime-logs-start');
    if (btn) btn.addEventListener('click', startRuntimeLogs);
  }

  /* ---- buttons that act: busy while the request goes, never twice ---- */
  function initBusy() {
    $all('form[data-busy]').forEach(function (f) {
      f.addEventListener('submit', function (ev) {
        if (f.getAttribute('aria-busy') === 'true') { ev.preventDefault(); return; }
        f.setAttribute('aria-busy', 'true');
        var b = f.querySelector('button[type="submit"]');
        if (b) {
          /* after the submit is under way: a disabled button would not submit */
          setTimeout(function () {
            b.disabled = true;
            b.classList.add('busy');
            b.textContent = f.getAttribute('data-busy') + '...';
          }, 0);
        }
      });
    });
  }

  /* ---- the list and deployment pages follow what changes ---- */
  function statement(d) {
    var checked = d.status === 'running' || d.status === 'deployed';
    if (!checked) return { text: d.status, cls: 'st-' + d.status };
    if (d.health === 'unhealthy')
      return { text: d.status + ' \u00b7 unhealthy' + (d.reason ? ': ' + d.reason : ''), cls: 'h-unhealthy' };
    if (d.health === 'healthy') return { text: d.status + ' \u00b7 healthy', cls: 'st-' + d.status };
    return { text: d.status + ' \u00b7 not checked yet', cls: 'st-' + d.status };
  }
  function badge(el, text, cls) {
    if (!el) return;
    el.textContent = text;
    el.className = 'badge ' + String(cls).replace(/[^a-z0-9 _-]/gi, '');
  }
  function runRow(r) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-run', String(r.id));
    var th = document.createElement('th');
    th.scope = 'row';
    th.setAttribute('data-label', 'Run');
    var a = document.createElement('a');
    a.href = '/runs/' + r.id;
    a.textContent = '#' + r.id;
    th.appendChild(a);
    tr.appendChild(th);
    function td(label) {
      var c = document.createElement('td');
      c.setAttribute('data-label', label);
      tr.appendChild(c);
      return c;
    }
    var st = document.createElement('span');
    st.setAttribute('data-live', 'run-status');
    td('Status').appendChild(st);
    td('Commit').setAttribute('data-live', 'run-commit');
    td('Trigger').textContent = r.trigger || '';
    td('Duration').setAttribute('data-live', 'run-duration');
    td('Queued').textContent = 'just now';
    return tr;
  }
  function fillRun(tr, r) {
    badge(tr.querySelector('[data-live="run-status"]'), r.status, 'st-' + r.status);
    var c = tr.querySelector('[data-live="run-commit"]');
    if (c && r.sha && !c.querySelector('code')) {
      var code = document.createElement('code');
      code.title = r.sha;
      code.textContent = r.sha.slice(0, 7);
      c.textContent = '';
      c.appendChild(code);
      if (r.subject) c.appendChild(document.createTextNode(' ' + r.subject));
    }
    var d = tr.querySelector('[data-live="run-duration"]');
    if (d && typeof r.duration_ms === 'number') d.textContent = fmtDuration(r.duration_ms);
  }
  function initLive() {
    if (!window.EventSource || !window.JSON) return;
    var page = document.getElementById('dep-statement');
    var list = document.querySelector('tr[data-deployment]');
    if (!page && !list) return;
    var src = page ? location.pathname.replace(/\/+$/, '') + '/live' : '/live';
    var es = new EventSource(src);
    es.addEventListener('state', function (ev) {
      var all;
      try { all = JSON.parse(ev.data); } catch (e) { return; }
      Object.keys(all || {}).forEach(function (name) {
        var d = all[name];
        if (page) {
          var s = statement(d);
          badge(page, s.text, s.cls);
          $all('[data-live="status"]').forEach(function (el) { el.textContent = d.status; });
          var tbody = document.querySelector('#runs-list tbody');
          if (d.run && tbody) {
            var tr = tbody.querySelector('tr[data-run="' + d.run.id + '"]');
            if (!tr) {
              tr = runRow(d.run);
              tbody.insertBefore(tr, tbody.firstChild);
              tbody.closest('.table-wrap').hidden = false;
              var empty = document.getElementById('runs-empty');
              if (empty) empty.hidden = true;
            }
            fillRun(tr, d.run);
          }
          return;
        }
        var row = null;
        $all('tr[data-deployment]').forEach(function (r) { if (r.getAttribute('data-deployment') === name) row = r; });
        if (!row) return;
        badge(row.querySelector('[data-live="status"]'), d.status, 'st-' + d.status);
        var last = row.querySelector('[data-live="last-run"]');
        if (last && d.run) {
          var a = last.querySelector('a');
          if (!a || a.getAttribute('href') !== '/runs/' + d.run.id) {
            last.textContent = '';
            a = document.createElement('a');
            a.href = '/runs/' + d.run.id;
            var b = document.createElement('span');
            a.appendChild(b);
            last.appendChild(a);
            last.appendChild(document.createTextNode(' just now'));
          }
          badge(a.querySelector('span.badge') || a.querySelector('span'), d.run.status, 'st-' + d.run.status);
        }
      });
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
    initTabs();
    initRuntimeLogs();
    initBusy();
    initLive();
    initCopy();
    initErrors();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
