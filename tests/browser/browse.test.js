// tests/browser/browse.test.js — the library views of the page in headless
// Chromium: the landing view browses the library (month headings, more
// thumbnails load when the end is scrolled into view), a folder filter
// narrows it and lands in the URL, a text search pages on with "Load more",
// an image opened from the grid has its own URL and Back closes it, the
// same URL opened fresh shows that image (a shared link), a small image is
// scaled up to fill the viewer, "Find similar" goes to ?like=ID without the
// image itself, Back returns through the views, and the duplicates view
// lists its groups. Screenshots go to ARTIFACTS.
//
//   node browse.test.js URL ARTIFACTS_DIR FOLDER
// (tests/cli_browser_browse.sh starts the server and runs this; FOLDER is an
// ingested folder holding 12 of the images.)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, artifacts, folder] = process.argv.slice(2);
if (!url || !artifacts || !folder) {
  console.error('usage: node browse.test.js URL ARTIFACTS_DIR FOLDER');
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });

let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log('ok   ' + name);
  else { failed++; console.log('FAIL ' + name + (detail !== undefined ? ': ' + JSON.stringify(detail) : '')); }
}
const cards = (page) => page.$$eval('#results .card', (c) => c.length);

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'seer-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
    page.setDefaultTimeout(15000);

    // ---- landing: browse by date
    await page.goto(url);
    await page.waitForFunction(() => document.querySelectorAll('#results .card').length >= 60);
    const first = await cards(page);
    check('browse_first_page', first === 60, first);
    check('browse_month_heading', (await page.$$('#results .month')).length >= 1);
    check('browse_status', /60 of \d+ images/.test(await page.textContent('#status')), await page.textContent('#status'));
    await page.screenshot({ path: path.join(artifacts, 'browse.png') });
    // scroll to the end: the next page loads by itself
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction(() => document.querySelectorAll('#results .card').length > 60);
    check('browse_loads_on_scroll', (await cards(page)) > 60, await cards(page));

    // ---- filter by folder: the URL says so and the grid narrows
    await page.click('#filters summary');
    await page.fill('#f-folder', folder);
    await page.click('#filters-form button[type=submit]');
    await page.waitForFunction(() => /of 12 images/.test(document.getElementById('status').textContent));
    check('filter_folder_count', (await cards(page)) === 12, await cards(page));
    check('filter_in_url', new URL(page.url()).searchParams.get('folder') === folder, page.url());
    const paths = await page.$$eval('#results .card img', (i) => i.map((x) => x.alt));
    check('filter_alts', paths.length === 12 && paths.every((p) => /\.jpg$/.test(p)), paths);

    // ---- search + load more (clear the filter first)
    await page.click('#filters-clear');
    await page.waitForFunction(() => !new URL(location.href).searchParams.get('folder'));
    await page.fill('#q', 'a photo of a horse');
    await page.press('#q', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#results .card').length === 15);
    check('search_url', new URL(page.url()).searchParams.get('q') === 'a photo of a horse', page.url());
    check('more_button', await page.isVisible('#more'));
    const firstIds = await page.$$eval('#results .card', (c) => c.map((x) => x.dataset.id));
    await page.click('#more');
    await page.waitForFunction(() => document.querySelectorAll('#results .card').length === 30);
    const allIds = await page.$$eval('#results .card', (c) => c.map((x) => x.dataset.id));
    check('load_more_appends', allIds.length === 30 && new Set(allIds).size === 30 &&
          firstIds.every((id, i) => allIds[i] === id), allIds);
    const scores = await page.$$eval('#results .score', (s) => s.map((e) => parseFloat(e.textContent)));
    check('load_more_scores_descending', scores.every((v, i) => i === 0 || scores[i - 1] >= v), scores);
    const noticeShown = await page.isVisible('#notice');
    console.log('  no-strong-match notice shown: ' + noticeShown);

    // ---- open an image: its URL; Back closes it
    await page.click('#results .card >> nth=2');
    await page.waitForSelector('#viewer[open]');
    const openedId = new URL(page.url()).searchParams.get('image');
    check('open_pushes_url', openedId === allIds[2], [page.url(), allIds[2]]);
    const imgUrl = page.url();
    await page.waitForFunction(() => document.getElementById('viewer-img').complete &&
                                     document.getElementById('viewer-img').naturalWidth > 0);
    const sz = await page.$eval('#viewer-img', (i) => [i.naturalWidth, i.getBoundingClientRect().width]);
    check('small_image_scaled_up', sz[0] <= 64 ? sz[1] >= 4 * sz[0] : sz[1] >= sz[0] * 0.9, sz);
    await page.screenshot({ path: path.join(artifacts, 'opened.png') });
    await page.goBack();
    await page.waitForSelector('#viewer:not([open])', { state: 'attached' });
    check('back_closes_viewer', !(await page.$('#viewer[open]')) && !new URL(page.url()).searchParams.get('image'));
    check('back_keeps_results', (await cards(page)) === 30, await cards(page));

    // ---- the image's URL opened fresh (a shared link)
    const page2 = await context.newPage();
    page2.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
    await page2.goto(imgUrl);
    await page2.waitForSelector('#viewer[open]');
    await page2.waitForFunction((id) => document.getElementById('viewer-id').textContent === id, openedId);
    check('open_by_url', (await page2.textContent('#viewer-id')) === openedId);
    // a link to an image outside the first page of a view still opens
    await page2.goto(url + '?image=' + allIds[29]);
    await page2.waitForSelector('#viewer[open]');
    await page2.waitForFunction((id) => document.getElementById('viewer-id').textContent === id, allIds[29]);
    check('open_by_url_any_id', (await page2.textContent('#viewer-id')) === allIds[29]);
    // find similar: ?like=ID, the image itself not among the results
    await page2.click('#viewer-similar');
    await page2.waitForFunction(() => new URL(location.href).searchParams.get('like') &&
                                      document.querySelectorAll('#results .card').length === 15);
    const likeIds = await page2.$$eval('#results .card', (c) => c.map((x) => x.dataset.id));
    check('find_similar_url', new URL(page2.url()).searchParams.get('like') === allIds[29], page2.url());
    check('find_similar_excludes_itself', !likeIds.includes(allIds[29]), likeIds);
    check('find_similar_status', /like image/.test(await page2.textContent('#status')));
    await page2.goBack();   // back to the image over the browse view
    await page2.waitForFunction(() => !new URL(location.href).searchParams.get('like'));
    check('back_from_similar', new URL(page2.url()).searchParams.get('image') === allIds[29], page2.url());
    await page2.close();

    // ---- Back through the views of the first tab: search -> browse
    await page.goBack();
    await page.waitForFunction(() => !new URL(location.href).searchParams.get('q'));
    await page.waitForFunction(() => /images/.test(document.getElementById('status').textContent) &&
                                     document.querySelectorAll('#results .card').length >= 12);
    check('back_to_browse', /of \d+ images/.test(await page.textContent('#status')), await page.textContent('#status'));

    // ---- the duplicates view
    await page.click('#nav-dupes');
    await page.waitForFunction(() => /group|No near-duplicates/.test(document.getElementById('status').textContent));
    const st = await page.textContent('#status');
    const heads = (await page.$$('#results .month')).length;
    check('dupes_view', /group|No near-duplicates/.test(st) && (heads > 0) === /group/.test(st), [st, heads]);
    check('dupes_url', new URL(page.url()).searchParams.get('view') === 'dupes');
    await page.screenshot({ path: path.join(artifacts, 'dupes.png') });

    check('no_page_errors', errors.length === 0, errors);
  } catch (e) {
    check('no_exception', false, String(e && e.stack || e));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(failed ? `${failed} failed` : 'all passed');
  process.exit(failed ? 1 : 0);
})();
