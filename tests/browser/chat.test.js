// tests/browser/chat.test.js — the chat panel in headless Chromium against a
// server started with --chat-model: search, open an image, ask a question by
// keyboard, see the answer stream in (several partial texts observed before
// the end), see the router heatmap (image and text tokens), upvote the answer
// and find the vote through GET /api/feedback; then regenerate, stop and clear,
// the heatmaps come folded; then regenerate, stop and clear; a picture dropped
// from disk onto the open viewer is chatted about (uploaded, not stored) with
// a system prompt set; and a phone-width check. Screenshots go to ARTIFACTS:
// chat.png (the panel with the heatmap), chat-drop.png, chat-phone.png.
//
//   node chat.test.js URL ARTIFACTS_DIR QUERY IMAGE_NAME PICTURE_FILE
// (tests/cli_browser_chat.sh starts the server and runs this.)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, artifacts, query, imageName, pictureFile] = process.argv.slice(2);
if (!url || !artifacts || !query || !imageName || !pictureFile) {
  console.error('usage: node chat.test.js URL ARTIFACTS_DIR QUERY IMAGE_NAME PICTURE_FILE');
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });

let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log('ok   ' + name);
  else { failed++; console.log('FAIL ' + name + (detail !== undefined ? ': ' + JSON.stringify(detail) : '')); }
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'seer-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  let page;
  try {
    page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
    page.setDefaultTimeout(20000);
    // the order of the chat requests the page sends (prepare before question)
    const chatPosts = [];
    page.on('request', (r) => { if (r.method() === 'POST' && /\/api\/chat(\/prepare)?$/.test(r.url())) chatPosts.push(new URL(r.url()).pathname); });

    await page.goto(url);
    await page.waitForFunction(() => /chat on/.test(document.getElementById('info').textContent));
    check('health_says_chat_on', true);

    // ---------------------------------------------------------------- search, open the image
    await page.keyboard.type(query);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#results .card').length > 0);
    const card = page.locator(`#results .card[aria-label*="${imageName}"]`);
    check('image_in_results', (await card.count()) === 1);
    await card.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#viewer[open]');
    check('chat_panel_visible', await page.isVisible('#chat-input'));
    check('honest_text_hidden', !(await page.isVisible('#chat-off')));
    const imageId = parseInt(await page.textContent('#viewer-id'), 10);
    // opening the image asks the server to prepare it, before any question
    for (let i = 0; i < 100 && !chatPosts.includes('/api/chat/prepare'); i++) await page.waitForTimeout(50);
    check('prepare_on_open', chatPosts.length === 1 && chatPosts[0] === '/api/chat/prepare', chatPosts);

    // ---------------------------------------------------------------- settings, ask by keyboard
    await page.click('.chat-opts summary');
    await page.fill('#opt-temp', '0');
    await page.fill('#opt-max', '48');
    // record every text the streaming answer is given (each mutation record:
    // the page sets the text once per token event)
    await page.evaluate(() => {
      window.__seen = [];
      new MutationObserver((records) => {
        for (const r of records) {
          const t = r.target;
          if (t.classList && t.classList.contains('text') && t.parentNode.classList.contains('streaming'))
            window.__seen.push(r.addedNodes[0] ? r.addedNodes[0].data : t.textContent);
        }
      }).observe(document.getElementById('chat-log'), { subtree: true, childList: true, characterData: true });
    });
    await page.focus('#chat-input');
    await page.keyboard.type('What is in the picture?');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !document.querySelector('#chat-log .msg.streaming') &&
      document.querySelectorAll('#chat-log .msg.assistant').length === 1);
    const seen = await page.evaluate(() => window.__seen.filter((t) => t.length > 0));
    const answer = await page.textContent('#chat-log .msg.assistant .text');
    check('answer_shown', answer.length > 0, answer);
    check('prepare_before_question', chatPosts.indexOf('/api/chat/prepare') >= 0 &&
      chatPosts.indexOf('/api/chat/prepare') < chatPosts.indexOf('/api/chat'), chatPosts);
    const stats = await (await page.request.get(url.replace(/\/$/, '') + '/api/stats')).json();
    check('prepared_by_page', stats.chat.prepared.requests >= 1 && stats.chat.prepared.tower_runs === 1, stats.chat.prepared);
    check('answer_streamed_in', new Set(seen).size >= 10 && seen.every((t) => answer.startsWith(t)), seen.slice(0, 5));
    check('question_shown', (await page.textContent('#chat-log .msg.user')) === 'What is in the picture?');
    check('meta_timing', /tokens · first token \d+ ms/.test(await page.textContent('#chat-log .msg.assistant .meta')));

    // ---------------------------------------------------------------- router heatmap
    await page.waitForSelector('#router:not([hidden])');
    check('heatmap_folded', !(await page.$eval('#router', (d) => d.open)));
    await page.click('#router summary');
    check('heatmap_unfolds', await page.$eval('#router', (d) => d.open) && await page.isVisible('#router-maps svg'));
    const maps = await page.$$eval('#router-maps svg', (s) => s.map((x) => [x.getAttribute('aria-label'), x.querySelectorAll('rect').length]));
    check('heatmap_two_panels', maps.length === 2 && /Image tokens/.test(maps[0][0]) && /Text tokens/.test(maps[1][0]), maps);
    check('heatmap_cells', maps.every((m) => m[1] === 2 * 4), maps);   // 2 MoE layers x 4 experts
    await page.locator('#chat').screenshot({ path: path.join(artifacts, 'chat.png') });

    // ---------------------------------------------------------------- upvote, find it through the API
    await page.click('#chat-log .msg.assistant button[aria-label="Upvote this answer"]');
    await page.waitForFunction(() => /Vote recorded/.test(document.getElementById('chat-status').textContent));
    check('upvote_pressed', (await page.getAttribute('#chat-log .msg.assistant button[aria-label="Upvote this answer"]', 'aria-pressed')) === 'true');
    const fb = await (await page.request.get(url.replace(/\/$/, '') + '/api/feedback?limit=5')).json();
    const v = fb.feedback[0] || {};
    check('vote_in_api', v.vote === 'up' && v.image_id === imageId && v.messages.length === 2 &&
      v.messages[1].content === answer && v.messages[0].content === 'What is in the picture?', fb);

    // ---------------------------------------------------------------- regenerate (greedy: the same), stop, clear
    await page.click('#chat-regen');
    await page.waitForFunction(() => !document.querySelector('#chat-log .msg.streaming') &&
      !document.getElementById('chat-send').disabled);
    check('regenerate_same', (await page.textContent('#chat-log .msg.assistant .text')) === answer &&
      (await page.$$('#chat-log .msg.assistant')).length === 1);
    await page.fill('#opt-max', '1024');
    await page.fill('#opt-beams', '4');   // slow enough to stop
    await page.fill('#chat-input', 'Tell me more.');
    await page.click('#chat-send');
    await page.waitForFunction(() => !document.getElementById('chat-stop').disabled);
    await page.waitForFunction(() => /Answering/.test(document.getElementById('chat-status').textContent));
    await page.click('#chat-stop');
    await page.waitForFunction(() => !document.getElementById('chat-send').disabled, null, { timeout: 30000 });
    check('stopped', /Stopped/.test(await page.textContent('#chat-status')), await page.textContent('#chat-status'));
    await page.fill('#opt-beams', '1');
    await page.click('#chat-clear');
    check('cleared', (await page.$$('#chat-log .msg')).length === 0);

    // ---------------------------------------------------------------- a picture dropped from disk
    // what the page hands to fetch (Chromium does not report a multipart body with a file)
    await page.evaluate(() => {
      window.chatBodies = [];
      const f = window.fetch;
      window.fetch = function (u, o) {
        if (String(u).endsWith('/api/chat') && o && o.body) {
          const b = o.body, img = b instanceof FormData ? b.get('image') : null;
          window.chatBodies.push(b instanceof FormData
            ? { form: true, payload: b.get('payload'), image: img && img.name, bytes: img && img.size }
            : { form: false, body: String(b) });
        }
        return f.apply(this, arguments);
      };
    });
    await page.fill('#opt-system', 'You are a careful assistant.');
    await page.fill('#opt-temp', '0');
    const b64 = fs.readFileSync(pictureFile).toString('base64');
    await page.evaluate(async ([data, name]) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'image/png' }));
      for (const type of ['dragenter', 'dragover', 'drop'])
        document.getElementById('chat').dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }, [b64, 'dropped.png']);
    await page.waitForFunction(() => document.getElementById('viewer-title').textContent === 'dropped.png');
    check('drop_opens_local_picture', /not stored/.test(await page.textContent('#viewer-path')) &&
      (await page.$$('#chat-log .msg')).length === 0);
    await page.fill('#chat-input', 'What is in the picture?');
    await page.press('#chat-input', 'Enter');
    await page.waitForFunction(() => document.querySelector('#chat-log .msg.assistant .meta') &&
      !document.querySelector('#chat-log .msg.streaming'), null, { timeout: 30000 });
    const dropped = await page.textContent('#chat-log .msg.assistant .text');
    check('drop_answered', dropped.length > 0, dropped);
    const sent = await page.evaluate(() => window.chatBodies);
    const last = sent[sent.length - 1] || {};
    const payload = last.payload ? JSON.parse(last.payload) : {};
    check('drop_uploaded_with_system', last.form && last.image === 'dropped.png' &&
      last.bytes === fs.statSync(pictureFile).size && payload.system === 'You are a careful assistant.' &&
      !('image_id' in payload), sent);
    check('one_line_timing', /^\d+ tokens · first token \d+ ms · [\d.]+ tokens\/s · [\d.]+ s$/.test(
      await page.textContent('#chat-log .msg.assistant .meta')), await page.textContent('#chat-log .msg.assistant .meta'));
    await page.locator('#chat').screenshot({ path: path.join(artifacts, 'chat-drop.png') });
    await page.fill('#opt-system', '');
    await page.click('#chat-clear');

    // ---------------------------------------------------------------- phone width
    await page.setViewportSize({ width: 390, height: 844 });
    await page.fill('#chat-input', 'What is in the picture?');
    await page.press('#chat-input', 'Enter');
    await page.waitForSelector('#router:not([hidden])');
    await page.waitForFunction(() => !document.querySelector('#chat-log .msg.streaming'));
    const overflow = await page.$eval('#chat', (c) => c.scrollWidth - c.clientWidth);
    check('phone_chat_fits', overflow <= 1, overflow);
    await page.screenshot({ path: path.join(artifacts, 'chat-phone.png') });

    check('no_page_errors', errors.length === 0, errors);
  } catch (e) {
    failed++;
    console.log('FAIL exception: ' + (e && e.stack || e));
    if (page) console.log('chat panel: ' + JSON.stringify(await page.innerText('#chat').catch(() => '?')) + ' errors: ' + JSON.stringify(errors));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(failed ? `${failed} failed` : 'all passed');
  process.exit(failed ? 1 : 0);
})();
