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
    span.appendChild(document.createTextNode(text));
    return span;
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
      var follow = nearBottom();
      log.appendChild(logLine(l));
      log.appendChild(document.createTextNode('\n'));
      if (empty) empty.hidden = true;
      if (follow) log.scrollTop = log.scrollHeight;
    });

    es.addEventListener('result', function (ev) {
      es.close();
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
