// server/web/app.js — the seer search page. Plain JS, no build step; served
// by seer serve from the binary. Talks only to /api/ (docs/api.md).
//
// Views, each with its own URL (query routing: history.pushState, Back
// works, links can be shared):
//   /                       browse the library by date taken (month headings,
//                           more pages load as the end scrolls into view)
//   /?q=TEXT                a text search ("Load more" pages on with offset=)
//   /?like=ID               images similar to stored image ID
//   /?view=dupes            near-duplicate groups to review
//   ...&after=&before=&folder=&camera=&format=   the filters, on every view
//   ...&image=ID            that image open in the viewer
// An image search (picked or dropped file) has no URL: its bytes are not kept.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $('search-form'), input = $('q'), statusEl = $('status'), grid = $('results');
  const viewer = $('viewer'), drop = $('drop'), file = $('file'), more = $('more'), notice = $('notice');
  const FILTERS = ['after', 'before', 'folder', 'camera', 'format'];
  const PAGE = 15, BROWSE_PAGE = 60;
  let token = null;   // bearer token: from #token=..., else asked for on a 401
  let items = [];     // the images listed now (results or library page)
  let current = -1;   // the item shown in the viewer
  let seq = 0;        // only the latest request may render
  let view = null;    // {kind: 'browse'|'search'|'like'|'image'|'dupes', ...}
  let total = null;   // browse: how many images the filter keeps
  let loading = false, exhausted = false;

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

  // ------------------------------------------------------------ helpers
  const basename = (p) => p.split('/').pop();
  const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
                  'October', 'November', 'December'];
  const monthOf = (t) => t ? `${MONTHS[parseInt(t.slice(5, 7), 10) - 1]} ${t.slice(0, 4)}` : 'No date';

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle('error', !!isError);
  }

  // The filters of the form, as URL parameters.
  function filterParams() {
    const p = new URLSearchParams();
    for (const f of FILTERS) {
      const v = $('f-' + f).value.trim();
      if (v) p.set(f, v);
    }
    return p;
  }
  function setFilterInputs(p) {
    for (const f of FILTERS) $('f-' + f).value = p.get(f) || '';
    $('filters').open = FILTERS.some((f) => p.get(f));
  }

  // ------------------------------------------------------------ routing
  // The page's state is its URL: go() pushes one, route() renders one.
  function go(params, replace) {
    const qs = params.toString();
    const url = location.pathname + (qs ? '?' + qs : '');
    if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
    route();
  }
  function currentParams() { return new URLSearchParams(location.search); }

  function route() {
    const p = currentParams();
    setFilterInputs(p);
    const key = (() => { const c = new URLSearchParams(p); c.delete('image'); return c.toString(); })();
    if (!view || view.key !== key) {
      if (p.get('q')) { input.value = p.get('q'); startView({ kind: 'search', q: p.get('q'), key, p }); }
      else if (p.get('like')) startView({ kind: 'like', like: p.get('like'), key, p });
      else if (p.get('view') === 'dupes') startView({ kind: 'dupes', key, p });
      else { input.value = ''; startView({ kind: 'browse', key, p }); }
    }
    const img = p.get('image');
    if (img) openById(img);
    else if (viewer.open) { viewer.dataset.routing = '1'; viewer.close(); delete viewer.dataset.routing; }
  }
  window.addEventListener('popstate', route);

  // ------------------------------------------------------------ listing
  function startView(v) {
    view = v;
    items = [];
    total = null;
    exhausted = false;
    grid.replaceChildren();
    notice.hidden = true;
    more.hidden = true;
    grid.classList.toggle('dupes', v.kind === 'dupes');
    loadMore();
  }

  function card(r, i) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'card';
    b.dataset.index = i;
    b.dataset.id = r.id;
    const label = r.score !== undefined ? `, score ${r.score.toFixed(3)}` : r.taken ? `, taken ${r.taken}` : '';
    b.setAttribute('aria-label', `${basename(r.path)}${label}`);
    const img = document.createElement('img');
    img.src = withToken(r.thumbnail_url);
    img.alt = basename(r.path);
    img.loading = 'lazy';
    b.append(img);
    if (r.score !== undefined) {
      const s = document.createElement('span');
      s.className = 'score';
      s.textContent = r.score.toFixed(3);
      s.title = `cosine ${r.score.toFixed(4)}, z ${r.z.toFixed(2)} (standard deviations above this query's mean)`;
      if (r.z >= (view.strongZ || 3)) s.classList.add('strong');
      b.append(s);
    }
    b.addEventListener('click', () => openItem(i, true));
    li.append(b);
    return li;
  }

  // Browse: month headings between the cards (a heading is a full-width row).
  function appendItems(list) {
    const nodes = [];
    for (const r of list) {
      const i = items.length;
      items.push(r);
      if (view.kind === 'browse' && (view.p.get('sort') || 'taken') === 'taken') {
        const mo = monthOf(r.taken);
        if (mo !== view.lastMonth) {
          view.lastMonth = mo;
          const h = document.createElement('li');
          h.className = 'month';
          h.setAttribute('role', 'heading');
          h.setAttribute('aria-level', '2');
          h.textContent = mo;
          nodes.push(h);
        }
      }
      nodes.push(card(r, i));
    }
    grid.append(...nodes);
  }

  function apiQuery(extra) {
    const p = new URLSearchParams();
    for (const f of FILTERS) if (view.p.get(f)) p.set(f, view.p.get(f));
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    return p.toString();
  }

  async function loadMore() {
    if (loading || exhausted || !view) return;
    const v = view, my = ++seq;
    loading = true;
    try {
      if (v.kind === 'browse') {
        setStatus(items.length ? 'Loading more…' : 'Loading the library…');
        const d = await api('/api/images?' + apiQuery({ sort: v.p.get('sort') || 'taken', order: v.p.get('order') || 'desc',
                                                          offset: items.length, limit: BROWSE_PAGE }));
        if (my !== seq || v !== view) return;
        total = d.total;
        appendItems(d.images);
        exhausted = items.length >= total || d.images.length === 0;
        setStatus(total ? `${items.length} of ${total} images, newest first${FILTERS.some((f) => v.p.get(f)) ? ' (filtered)' : ''}`
                        : 'No images match (is the store empty, or the filter too narrow?)');
      } else if (v.kind === 'search' || v.kind === 'like') {
        setStatus(items.length ? 'Loading more…' : 'Searching…');
        const extra = v.kind === 'search' ? { q: v.q } : { like: v.like };
        const d = await api('/api/search?' + apiQuery(Object.assign(extra, { k: PAGE, offset: items.length })));
        if (my !== seq || v !== view) return;
        v.strongZ = d.strong_z;
        if (!items.length) {
          notice.hidden = !!d.strong || d.results.length === 0;
          notice.textContent = `No strong match: nothing stands out for this ${v.kind === 'search' ? 'query' : 'image'} ` +
            `(no result is ${d.strong_z} standard deviations above the average score). These are the closest anyway.`;
        }
        appendItems(d.results);
        exhausted = d.results.length < PAGE || items.length >= d.matches;
        const what = v.kind === 'search' ? `for “${v.q}”` : `like image ${v.like}`;
        setStatus(items.length ? `${items.length} result${items.length === 1 ? '' : 's'} ${what} · ${d.took_ms.toFixed(1)} ms`
                               : `No results ${what} (is the store empty, or the filter too narrow?)`);
      } else if (v.kind === 'dupes') {
        setStatus('Looking for near-duplicates…');
        const d = await api('/api/duplicates');
        if (my !== seq || v !== view) return;
        exhausted = true;
        for (const g of d.groups) {
          const h = document.createElement('li');
          h.className = 'month';
          h.setAttribute('role', 'heading');
          h.setAttribute('aria-level', '2');
          h.textContent = `${g.images.length} near-duplicates · similarity ${g.min_score.toFixed(3)}–${g.max_score.toFixed(3)}`;
          grid.append(h);
          appendItems(g.images);
        }
        setStatus(d.groups.length ? `${d.groups.length} group${d.groups.length === 1 ? '' : 's'} of near-duplicates ` +
                                    `(cosine ≥ ${d.threshold.toFixed(2)})` : 'No near-duplicates found.');
      }
    } catch (e) {
      if (my === seq) setStatus('Failed: ' + e.message, true);
      exhausted = true;
    } finally {
      loading = false;
    }
    if (my !== seq) return;
    more.hidden = exhausted || v.kind === 'browse' || v.kind === 'dupes';
    // browse keeps loading while the end of the list is on screen
    if (v.kind === 'browse' && !exhausted && sentinelVisible()) loadMore();
  }

  const sentinel = $('sentinel');
  const sentinelVisible = () => sentinel.getBoundingClientRect().top < window.innerHeight + 400;
  new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting) && view && view.kind === 'browse') loadMore(); },
                           { rootMargin: '400px' }).observe(sentinel);
  more.addEventListener('click', loadMore);

  function searchText(q) {
    q = q.trim();
    if (!q) { input.focus(); return; }
    const p = filterParams();
    p.set('q', q);
    go(p);
  }

  async function searchImage(blob, name) {
    const my = ++seq;
    view = { kind: 'image', key: null, p: filterParams() };
    items = [];
    grid.replaceChildren();
    more.hidden = true;
    notice.hidden = true;
    setStatus(`Searching for photos like ${name}…`);
    try {
      const data = await api('/api/search?' + apiQuery({ k: PAGE }), {
        method: 'POST', body: blob,
        headers: { 'Content-Type': blob.type || 'application/octet-stream' },
      });
      if (my !== seq) return;
      view.strongZ = data.strong_z;
      appendItems(data.results);
      const n = items.length;
      setStatus(n ? `${n} result${n === 1 ? '' : 's'} like ${name} · ${data.took_ms.toFixed(1)} ms` : `No results like ${name}`);
    } catch (e) {
      if (my === seq) setStatus('Image search failed: ' + e.message, true);
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); searchText(input.value); });
  $('filters-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const p = filterParams();
    const c = currentParams();
    for (const k of ['q', 'like', 'view', 'sort', 'order']) if (c.get(k)) p.set(k, c.get(k));
    go(p);
  });
  $('filters-clear').addEventListener('click', () => {
    for (const f of FILTERS) $('f-' + f).value = '';
    $('filters-form').requestSubmit();
  });
  $('nav-library').addEventListener('click', (e) => { e.preventDefault(); go(filterParams()); });
  $('nav-dupes').addEventListener('click', (e) => { e.preventDefault(); go(new URLSearchParams({ view: 'dupes' })); });
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
  // Opening an item pushes ?image=ID (push: Back closes it); the arrows
  // replace it; closing goes back to the URL without it.
  function openItem(i, push) {
    const r = items[i];
    if (!r) return;
    const p = currentParams();
    if (view && view.kind === 'image') { showViewer(r, i); return; }   // an upload's results have no URL
    p.set('image', r.id);
    const url = location.pathname + '?' + p.toString();
    if (push) history.pushState({ opened: true }, '', url); else history.replaceState(history.state, '', url);
    showViewer(r, i);
  }

  async function openById(id) {
    const i = items.findIndex((r) => String(r.id) === String(id));
    if (i >= 0) { showViewer(items[i], i); return; }
    // not in the list (a shared link): ask the store for it
    try {
      const r = await api('/api/images/' + encodeURIComponent(id) + '/meta');
      if (currentParams().get('image') === String(id)) showViewer(r, -1);
    } catch (e) {
      setStatus(`Image ${id}: ${e.message}`, true);
    }
  }

  function showViewer(r, i) {
    current = i;
    viewer.dataset.id = r.id;
    const img = $('viewer-img');
    img.src = withToken(r.image_url);
    img.alt = basename(r.path);
    $('viewer-title').textContent = basename(r.path);
    $('viewer-path').textContent = r.path;
    $('viewer-size').textContent = `${r.width} × ${r.height} px`;
    $('viewer-taken').textContent = r.taken ? r.taken.replace('T', ' ') + (r.taken_source === 'mtime' ? ' (file time)' : '') : '–';
    $('viewer-camera').textContent = r.camera || '–';
    $('viewer-format').textContent = r.format || '–';
    $('viewer-score').textContent = r.score !== undefined ? `${r.score.toFixed(4)} (z ${r.z.toFixed(2)})` : '–';
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
    delete viewer.dataset.id;
    const img = $('viewer-img');
    img.onload = () => { $('viewer-size').textContent = `${img.naturalWidth} × ${img.naturalHeight} px`; };
    img.src = localUrl;
    img.alt = f.name;
    $('viewer-title').textContent = f.name || 'Your picture';
    $('viewer-path').textContent = '(from your disk, not stored)';
    for (const k of ['size', 'taken', 'camera', 'format']) $('viewer-' + k).textContent = '';
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
    if (viewer.dataset.routing) return;   // closed by a URL change
    if (currentParams().get('image')) {
      if (history.state && history.state.opened) history.back();
      else { const p = currentParams(); p.delete('image'); history.pushState(null, '', location.pathname + (p.toString() ? '?' + p : '')); }
    }
  });
  $('viewer-close').addEventListener('click', closeViewer);
  viewer.addEventListener('click', (e) => { if (e.target === viewer) closeViewer(); });  // the backdrop
  $('viewer-similar').addEventListener('click', async () => {
    const id = viewer.dataset.id;
    if (!id) {   // a picture from disk
      if (chatImage && chatImage.file) { closeViewer(); searchImage(chatImage.file, chatImage.file.name); }
      return;
    }
    viewer.dataset.routing = '1';
    viewer.close();
    delete viewer.dataset.routing;
    const p = filterParams();
    p.set('like', id);
    go(p);
  });

  document.addEventListener('keydown', (e) => {
    if (viewer.open) {
      const t = document.activeElement;
      if (t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT')) return;   // typing a question
      if (e.key === 'ArrowRight' && current >= 0 && current + 1 < items.length) { e.preventDefault(); openItem(current + 1, false); }
      if (e.key === 'ArrowLeft' && current > 0) { e.preventDefault(); openItem(current - 1, false); }
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
  route();
})();
