// server/web/app.js — the seer search page. Plain JS, no build step; served
// by seer serve from the binary. Talks only to /api/ (docs/api.md).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $('search-form'), input = $('q'), statusEl = $('status'), grid = $('results');
  const viewer = $('viewer'), drop = $('drop'), file = $('file');
  let token = null;   // bearer token: from #token=..., else asked for on a 401
  let items = [];     // the current results
  let current = -1;   // the result shown in the viewer
  let seq = 0;        // only the latest search may render

  // ------------------------------------------------------------ token
  const m = location.hash.match(/(?:^#|&)token=([^&]*)/);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem('seer-token', token);
    history.replaceState(null, '', location.pathname + location.search);  // keep it out of the address bar
  } else {
    token = sessionStorage.getItem('seer-token');
  }
  // <img> cannot send headers: the API also accepts ?access_token=
  const withToken = (url) => token ? url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token) : url;

  async function api(url, opts = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = Object.assign({}, opts.headers || {});
      if (token) headers.Authorization = 'Bearer ' + token;
      const r = await fetch(url, Object.assign({}, opts, { headers }));
      if (r.status === 401 && attempt === 0) {
        const t = window.prompt('This seer server needs its access token:');
        if (t) { token = t.trim(); sessionStorage.setItem('seer-token', token); continue; }
      }
      let body;
      try { body = await r.json(); } catch (e) { body = { error: 'HTTP ' + r.status }; }
      if (!r.ok) throw new Error(body.error || 'HTTP ' + r.status);
      return body;
    }
  }

  // ------------------------------------------------------------ search
  const basename = (p) => p.split('/').pop();

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle('error', !!isError);
  }

  function render(data, what) {
    items = data.results;
    grid.replaceChildren(...items.map((r, i) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'card';
      b.dataset.index = i;
      b.setAttribute('aria-label', `Result ${i + 1}: ${basename(r.path)}, score ${r.score.toFixed(3)}`);
      const img = document.createElement('img');
      img.src = withToken(r.thumbnail_url);
      img.alt = basename(r.path);
      img.loading = 'lazy';
      const s = document.createElement('span');
      s.className = 'score';
      s.textContent = r.score.toFixed(3);
      b.append(img, s);
      b.addEventListener('click', () => openViewer(i));
      li.append(b);
      return li;
    }));
    const n = items.length;
    setStatus(n ? `${n} result${n === 1 ? '' : 's'} ${what} · ${data.took_ms.toFixed(1)} ms`
                : `No results ${what} (is the store empty?)`);
  }

  async function searchText(q) {
    q = q.trim();
    if (!q) { input.focus(); return; }
    const my = ++seq;
    setStatus('Searching…');
    const url = new URL(location.href);
    url.searchParams.set('q', q);
    history.replaceState(null, '', url.pathname + url.search);
    try {
      const data = await api('/api/search?k=15&q=' + encodeURIComponent(q));
      if (my === seq) render(data, `for “${q}”`);
    } catch (e) {
      if (my === seq) setStatus('Search failed: ' + e.message, true);
    }
  }

  async function searchImage(blob, name) {
    const my = ++seq;
    setStatus(`Searching for photos like ${name}…`);
    try {
      const data = await api('/api/search?k=15', {
        method: 'POST', body: blob,
        headers: { 'Content-Type': blob.type || 'application/octet-stream' },
      });
      if (my === seq) render(data, `like ${name}`);
    } catch (e) {
      if (my === seq) setStatus('Image search failed: ' + e.message, true);
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); searchText(input.value); });
  $('pick').addEventListener('click', () => file.click());
  file.addEventListener('change', () => {
    if (file.files.length) searchImage(file.files[0], file.files[0].name);
    file.value = '';
  });

  // drop an image anywhere on the page
  let dragDepth = 0;
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files');
  document.addEventListener('dragenter', (e) => { if (hasFiles(e)) { dragDepth++; drop.hidden = false; } });
  document.addEventListener('dragleave', () => { if (--dragDepth <= 0) { dragDepth = 0; drop.hidden = true; } });
  document.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  // with the viewer open and chat on, a dropped picture is talked about instead
  const dropChats = () => viewer.open && chatOn;
  document.addEventListener('dragenter', () => {
    $('drop-text').textContent = dropChats() ? 'Drop the picture to chat about it (it is not stored)'
      : 'Drop the image to find similar photos';
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    drop.hidden = true;
    const f = e.dataTransfer.files[0];
    if (!f) return;
    if (dropChats()) openLocal(f);
    else searchImage(f, f.name);
  });
  $('pick-chat').addEventListener('click', () => $('chat-file').click());
  $('chat-file').addEventListener('change', () => {
    const f = $('chat-file').files[0];
    if (f) openLocal(f);
    $('chat-file').value = '';
  });

  // ------------------------------------------------------------ viewer
  function openViewer(i) {
    const r = items[i];
    if (!r) return;
    current = i;
    const img = $('viewer-img');
    img.src = withToken(r.image_url);
    img.alt = basename(r.path);
    $('viewer-title').textContent = basename(r.path);
    $('viewer-path').textContent = r.path;
    $('viewer-size').textContent = `${r.width} × ${r.height} px`;
    $('viewer-score').textContent = r.score.toFixed(4);
    $('viewer-id').textContent = r.id;
    $('viewer-open').href = withToken(r.image_url);
    chatFor(r);
    if (!viewer.open) viewer.showModal();
    $('viewer-close').focus();
  }
  // A picture from the user's disk: shown and chatted about (uploaded with
  // each question, POST /api/chat multipart), never stored.
  let localUrl = null;
  function openLocal(f) {
    if (!chatOn) { setStatus('Chat is not available: start seer serve with --chat-model.', true); return; }
    if (localUrl) URL.revokeObjectURL(localUrl);
    localUrl = URL.createObjectURL(f);
    current = -1;
    const img = $('viewer-img');
    img.onload = () => { $('viewer-size').textContent = `${img.naturalWidth} × ${img.naturalHeight} px`; };
    img.src = localUrl;
    img.alt = f.name;
    $('viewer-title').textContent = f.name || 'Your picture';
    $('viewer-path').textContent = '(from your disk, not stored)';
    $('viewer-size').textContent = '';
    $('viewer-score').textContent = '–';
    $('viewer-id').textContent = '–';
    $('viewer-open').href = localUrl;
    chatFor({ id: null, file: f, key: localUrl });
    if (!viewer.open) viewer.showModal();
    chatInput.focus();
  }
  function closeViewer() {
    if (viewer.open) viewer.close();
  }
  viewer.addEventListener('close', () => {
    const card = grid.querySelector(`[data-index="${current}"]`);
    if (card) card.focus();
  });
  $('viewer-close').addEventListener('click', closeViewer);
  viewer.addEventListener('click', (e) => { if (e.target === viewer) closeViewer(); });  // the backdrop
  $('viewer-similar').addEventListener('click', async () => {
    const r = items[current];
    if (!r) {   // a picture from disk
      if (chatImage && chatImage.file) { closeViewer(); searchImage(chatImage.file, chatImage.file.name); }
      return;
    }
    closeViewer();
    try {
      const resp = await fetch(withToken(r.image_url));
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      searchImage(await resp.blob(), basename(r.path));
    } catch (e) {
      setStatus('Could not load the image: ' + e.message, true);
    }
  });

  document.addEventListener('keydown', (e) => {
    if (viewer.open) {
      const t = document.activeElement;
      if (t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT')) return;   // typing a question
      if (e.key === 'ArrowRight' && current + 1 < items.length) { e.preventDefault(); openViewer(current + 1); }
      if (e.key === 'ArrowLeft' && current > 0) { e.preventDefault(); openViewer(current - 1); }
      return;
    }
    if (e.key === '/' && document.activeElement !== input) { e.preventDefault(); input.focus(); input.select(); }
  });


  // ------------------------------------------------------------ chat
  // The conversation lives here (the server is stateless): every request
  // sends the whole list of messages; Regenerate resends it without the last
  // answer, Clear starts a new list. The answer streams as server-sent events
  // read from fetch's body (EventSource cannot POST): start, token..., done.
  const chatLog = $('chat-log'), chatInput = $('chat-input'), chatStatus = $('chat-status');
  let chatOn = false;
  let convo = [];          // [{role, content}]
  let chatImage = null;    // the result being talked about
  let running = null;      // {controller, rid}
  const svgNS = 'http://www.w3.org/2000/svg';

  function chatSetStatus(text, isError) {
    chatStatus.textContent = text;
    chatStatus.classList.toggle('error', !!isError);
  }
  function chatButtons() {
    const busy = !!running;
    $('chat-send').disabled = busy;
    $('chat-stop').disabled = !busy;
    $('chat-regen').disabled = busy || !(convo.length >= 2 && convo[convo.length - 1].role === 'assistant');
    $('chat-clear').disabled = busy;
  }
  function addMsg(role, text) {
    const li = document.createElement('li');
    li.className = 'msg ' + role;
    const span = document.createElement('span');
    span.className = 'text';
    span.textContent = text;
    li.append(span);
    chatLog.append(li);
    chatLog.scrollTop = chatLog.scrollHeight;
    return li;
  }
  function renderConvo() {
    chatLog.replaceChildren();
    convo.forEach((m, i) => {
      const li = addMsg(m.role, m.content);
      if (m.role === 'assistant') addVotes(li, i);
      if (m.meta) addMeta(li, m.meta);
    });
  }
  function addMeta(li, text) {
    const m = document.createElement('span');
    m.className = 'meta';
    m.textContent = text;
    li.append(m);
  }
  function addVotes(li, index) {
    const box = document.createElement('div');
    box.className = 'votes';
    for (const [vote, label, sym] of [['up', 'Upvote this answer', '▲ Up'], ['down', 'Downvote this answer', '▼ Down'],
      ['flag', 'Flag this answer', '⚑ Flag']]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = sym;
      b.title = label;
      b.setAttribute('aria-label', label);
      b.setAttribute('aria-pressed', String(convo[index].vote === vote));
      b.dataset.vote = vote;
      b.addEventListener('click', () => sendVote(index, vote, box));
      box.append(b);
    }
    li.append(box);
  }
  async function sendVote(index, vote, box) {
    const m = convo[index];
    try {
      await api('/api/feedback', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ image_id: chatImage.id, messages: convo.slice(0, index + 1).map(({ role, content }) => ({ role, content })),
          vote, request_id: m.rid || null }),
      });
      m.vote = vote;
      box.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.vote === vote)));
      chatSetStatus(vote === 'flag' ? 'Flagged — thank you.' : 'Vote recorded — thank you.');
    } catch (e) {
      chatSetStatus('The vote was not recorded: ' + e.message, true);
    }
  }
  // Prepare the image as soon as it opens (POST /api/chat/prepare): the
  // server runs the vision tower and the prompt up to the image while the
  // question is typed, so the answer starts with the question's own tokens.
  // The preparation of an image left before it finished is stopped.
  let preparing = null;    // { rid } of the last preparation asked for
  function prepare(r) {
    const prev = preparing;
    preparing = null;
    if (prev && prev.rid) api('/api/chat/prepare/' + prev.rid + '/stop', { method: 'POST' }).catch(() => {});
    if (!chatOn) return;
    const system = $('opt-system').value.trim();
    let opts;
    if (r.file) {
      const body = new FormData();
      body.append('image', r.file, r.file.name || 'picture');
      if (system) body.append('payload', JSON.stringify({ system }));
      opts = { method: 'POST', body };
    } else {
      opts = { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(system ? { image_id: r.id, system } : { image_id: r.id }) };
    }
    const p = { rid: null };
    preparing = p;
    // best effort: a question without it prepares the image itself
    api('/api/chat/prepare', opts).then((o) => { p.rid = o.prepare_id; }).catch(() => {});
  }
  function chatFor(r) {
    if (chatImage && (r.file ? chatImage.key === r.key : chatImage.id === r.id)) return;
    if (running) stopAnswer();
    prepare(r);
    chatImage = r;
    convo = [];
    renderConvo();
    $('router').hidden = true;
    chatSetStatus('');
    chatButtons();
  }
  const num = (id, lo, hi, def) => {
    const v = parseFloat($(id).value);
    return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : def;
  };

  // Parse "event: X\ndata: Y\n\n" blocks from the stream; calls on(event, data).
  async function readEvents(body, on) {
    const reader = body.getReader(), dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let ev = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) ev = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) on(ev, JSON.parse(data.join('\n')));
      }
    }
  }

  async function ask() {
    if (!chatImage || running) return;
    const li = addMsg('assistant', '');
    li.classList.add('streaming');
    const text = li.querySelector('.text');
    const controller = new AbortController();
    running = { controller, rid: null };
    chatButtons();
    chatSetStatus('Thinking…');
    const t0 = performance.now();
    let final = null, failed = null, streamed = '';
    try {
      const headers = {};
      if (token) headers.Authorization = 'Bearer ' + token;
      const req = {
        messages: convo.map(({ role, content }) => ({ role, content })),
        temperature: num('opt-temp', 0, 2, 0.2), top_p: num('opt-topp', 0.01, 1, 1),
        num_beams: Math.round(num('opt-beams', 1, 4, 1)), max_tokens: Math.round(num('opt-max', 1, 1024, 256)),
      };
      const system = $('opt-system').value.trim();
      if (system) req.system = system;
      let body;
      if (chatImage.file) {   // not stored: the picture goes with the question
        body = new FormData();
        body.append('image', chatImage.file, chatImage.file.name || 'picture');
        body.append('payload', JSON.stringify(req));
      } else {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(Object.assign({ image_id: chatImage.id }, req));
      }
      const r = await fetch('/api/chat', { method: 'POST', headers, signal: controller.signal, body });
      if (!r.ok) {
        let b = {};
        try { b = await r.json(); } catch (e) { /* not JSON */ }
        throw new Error(b.error || 'HTTP ' + r.status);
      }
      await readEvents(r.body, (ev, d) => {
        if (ev === 'start') { running.rid = d.request_id; chatSetStatus('Answering…'); }
        else if (ev === 'token') { streamed += d.text; text.textContent = streamed; chatLog.scrollTop = chatLog.scrollHeight; }
        else if (ev === 'done') final = d;
        else if (ev === 'error') failed = d.error;
      });
    } catch (e) {
      if (e.name !== 'AbortError') failed = e.message;
    }
    li.classList.remove('streaming');
    const rid = running.rid;
    running = null;
    if (final) {
      const t = final.timing;
      const meta = `${t.tokens} tokens · first token ${t.ttft_ms.toFixed(0)} ms · ${t.tokens_per_s.toFixed(1)} tokens/s`
        + ` · ${((performance.now() - t0) / 1000).toFixed(1)} s` + (final.stop === 'cancelled' ? ' · stopped' : '');
      convo.push({ role: 'assistant', content: final.text, rid, meta });
      renderConvo();
      drawRouter(final.router);
      chatSetStatus(final.stop === 'cancelled' ? 'Stopped.' : 'Answered.');
    } else {
      li.remove();
      const err = addMsg('error', failed ? 'Error: ' + failed : 'Stopped before the answer began.');
      err.setAttribute('role', 'alert');
      chatSetStatus(failed ? 'The answer failed.' : 'Stopped.', !!failed);
    }
    chatButtons();
  }

  function stopAnswer() {
    if (!running) return;
    if (running.rid) {
      api('/api/chat/' + running.rid + '/stop', { method: 'POST' }).catch(() => running && running.controller.abort());
    } else {
      running.controller.abort();   // closing the stream stops the worker too
    }
  }

  function heatmap(title, rows, layers) {
    const E = rows.length ? rows[0].length : 0, cw = 46, ch = 24, left = 64, top = 34;
    const w = left + E * cw + 8, h = top + rows.length * ch + 8;
    const svg = document.createElementNS(svgNS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `${title}: expert load per MoE layer`);
    const el = (name, attrs, txt) => {
      const n = document.createElementNS(svgNS, name);
      for (const k in attrs) n.setAttribute(k, attrs[k]);
      if (txt !== undefined) n.textContent = txt;
      svg.append(n);
      return n;
    };
    el('text', { x: 0, y: 12, 'font-weight': 'bold' }, title);
    for (let e = 0; e < E; e++) el('text', { x: left + e * cw + cw / 2, y: top - 6, 'text-anchor': 'middle' }, 'E' + e);
    const full = Math.min(1, 2 / Math.max(1, E));     // colour scale: 0 .. twice the uniform share
    rows.forEach((row, l) => {
      el('text', { x: left - 6, y: top + l * ch + ch / 2 + 4, 'text-anchor': 'end' }, 'layer ' + layers[l]);
      row.forEach((v, e) => {
        const f = v === null ? 0 : Math.min(1, v / full);
        const c = (a, b) => Math.round(a + (b - a) * f);
        el('rect', { x: left + e * cw, y: top + l * ch, width: cw - 2, height: ch - 2,
          fill: v === null ? '#eee' : `rgb(${c(247, 31)},${c(251, 95)},${c(255, 191)})` });
        el('text', { x: left + e * cw + cw / 2 - 1, y: top + l * ch + ch / 2 + 3, 'text-anchor': 'middle',
          fill: f > 0.55 ? '#fff' : '#1d1d1f' }, v === null ? '–' : Math.round(v * 100) + '%');
      });
    });
    return svg;
  }
  function drawRouter(router) {
    const box = $('router-maps');
    if (!router || !router.load) { $('router').hidden = true; return; }
    box.replaceChildren(heatmap('Image tokens', router.load.image, router.layers),
      heatmap('Text tokens', router.load.text, router.layers));
    $('router').hidden = false;
  }

  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = chatInput.value.trim();
    if (!q || running || !chatImage) return;
    if (convo.length && convo[convo.length - 1].role === 'user') convo.pop();   // an unanswered question
    convo.push({ role: 'user', content: q });
    chatInput.value = '';
    renderConvo();
    ask();
  });
  chatInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('chat-form').requestSubmit(); }
  });
  $('chat-stop').addEventListener('click', stopAnswer);
  $('chat-regen').addEventListener('click', () => {
    if (running || convo.length < 2 || convo[convo.length - 1].role !== 'assistant') return;
    convo.pop();                // the same conversation without the last answer
    renderConvo();
    ask();
  });
  $('chat-clear').addEventListener('click', () => {
    if (running) return;
    convo = [];
    renderConvo();
    $('router').hidden = true;
    chatSetStatus('History cleared.');
    chatButtons();
    chatInput.focus();
  });
  viewer.addEventListener('close', () => { if (running) stopAnswer(); });

  // ------------------------------------------------------------ start
  api('/api/health').then((h) => {
    $('info').textContent = `${h.images} images indexed` + (h.chat ? ' · chat on' : '');
    chatOn = !!h.chat;
    $('chat-on').hidden = !chatOn;
    $('chat-off').hidden = chatOn;
  }).catch((e) => setStatus('The server did not answer: ' + e.message, true));
  const q0 = new URLSearchParams(location.search).get('q');
  if (q0) { input.value = q0; searchText(q0); }
})();
