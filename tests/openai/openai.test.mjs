// tests/openai/openai.test.mjs — the official OpenAI JavaScript SDK (pinned in
// package-lock.json) against a running `seer serve` (tests/cli_openai.sh
// starts it and writes expect.json: what the seer CLI answered for the same
// inputs). Prints one "ok"/"FAIL" line per check; exit 1 on any failure.
//
//   node openai.test.mjs URL TOKEN EXPECT_JSON
import OpenAI from 'openai';
import fs from 'node:fs';

const [url, token, expectPath] = process.argv.slice(2);
const ex = JSON.parse(fs.readFileSync(expectPath, 'utf8'));
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0, timeout: 60000 });

let failed = 0, total = 0;
function check(name, ok, detail) {
  total++;
  if (ok) console.log(`ok   ${name}`);
  else { failed++; console.log(`FAIL ${name}${detail !== undefined ? ': ' + detail : ''}`); }
}

const dataUrl = `data:image/png;base64,${ex.image_b64}`;
const question = ex.question;
const userWith = (url, text = question) => ({
  role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text }],
});
const greedy = { model: ex.chat_id, temperature: 0, max_tokens: ex.max_tokens };

async function streamText(params) {
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, role = null, chunks = 0, ids = new Set();
  for await (const ch of stream) {
    chunks++;
    ids.add(ch.id);
    if (ch.object !== 'chat.completion.chunk') throw new Error(`chunk object ${ch.object}`);
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage, role, chunks, ids };
}

async function expectError(name, params, status, code, create = p => client.chat.completions.create(p)) {
  try {
    await create(params);
    check(name, false, 'no error');
  } catch (e) {
    const shaped = e instanceof OpenAI.APIError && e.error && typeof e.error.message === 'string' &&
      typeof e.error.type === 'string';
    check(name, shaped && e.status === status && (code === undefined || e.code === code),
      `status ${e.status} code ${e.code} ${e.message}`);
  }
}

try {
  // ---------------------------------------------------------------- models
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  const ids = models.map(m => m.id);
  check('models_list', ids.includes(ex.chat_id) && ids.includes(ex.clip_id) && models.every(m => m.object === 'model'),
    JSON.stringify(ids));
  const one = await client.models.retrieve(ex.chat_id);
  check('models_retrieve', one.id === ex.chat_id);

  // ---------------------------------------------------------------- chat, data: image
  const r = await client.chat.completions.create({ ...greedy, messages: [userWith(dataUrl)] });
  const text = r.choices[0].message.content;
  check('chat_data_uri_equals_cli', text === ex.cli_answer, JSON.stringify([text, ex.cli_answer]));
  check('chat_shape', r.object === 'chat.completion' && r.id.startsWith('chatcmpl-') && r.model === ex.chat_id &&
    r.choices.length === 1 && r.choices[0].message.role === 'assistant' &&
    ['stop', 'length'].includes(r.choices[0].finish_reason), JSON.stringify(r));
  const u = r.usage;
  check('chat_usage', u && u.prompt_tokens > 0 && u.completion_tokens > 0 && u.completion_tokens <= ex.max_tokens &&
    u.total_tokens === u.prompt_tokens + u.completion_tokens && u.completion_tokens === ex.cli_tokens, JSON.stringify(u));

  const s = await streamText({ ...greedy, messages: [userWith(dataUrl)] });
  check('stream_data_uri_equals_cli', s.text === ex.cli_answer, JSON.stringify([s.text, ex.cli_answer]));
  check('stream_shape', s.role === 'assistant' && s.chunks > 2 && s.ids.size === 1 && s.finish === r.choices[0].finish_reason,
    JSON.stringify({ role: s.role, chunks: s.chunks, finish: s.finish }));
  check('stream_usage', s.usage && s.usage.prompt_tokens === u.prompt_tokens &&
    s.usage.completion_tokens === u.completion_tokens, JSON.stringify(s.usage));

  // ---------------------------------------------------------------- chat, seer:image/ID
  const sid = `seer:image/${ex.image_id}`;
  const r2 = await client.chat.completions.create({ ...greedy, messages: [userWith(sid)] });
  check('chat_stored_image_equals_cli', r2.choices[0].message.content === ex.cli_answer, r2.choices[0].message.content);
  const s2 = await streamText({ ...greedy, messages: [userWith(sid)] });
  check('stream_stored_image_equals_cli', s2.text === ex.cli_answer, s2.text);

  // ---------------------------------------------------------------- system message
  const r3 = await client.chat.completions.create({
    ...greedy, messages: [{ role: 'system', content: 'Answer briefly.' }, userWith(dataUrl)],
  });
  check('system_message', typeof r3.choices[0].message.content === 'string' &&
    r3.usage.prompt_tokens < u.prompt_tokens, JSON.stringify([r3.usage, u.prompt_tokens]));

  // ---------------------------------------------------------------- a follow-up turn, image after the text
  const r4 = await client.chat.completions.create({
    ...greedy, messages: [
      { role: 'user', content: [{ type: 'text', text: question }, { type: 'image_url', image_url: { url: dataUrl } }] },
      { role: 'assistant', content: text },
      { role: 'user', content: 'And what colour is it?' },
    ],
  });
  check('follow_up', typeof r4.choices[0].message.content === 'string' && r4.usage.prompt_tokens > u.prompt_tokens,
    JSON.stringify(r4.usage));

  // ---------------------------------------------------------------- stop strings
  const words = ex.cli_answer.split(' ').filter(w => w);
  const stopWord = words.length > 2 ? ' ' + words[2] : ' ' + words[words.length - 1];
  const want = ex.cli_answer.slice(0, ex.cli_answer.indexOf(stopWord));
  const r5 = await client.chat.completions.create({ ...greedy, messages: [userWith(dataUrl)], stop: [stopWord, 'zzzz'] });
  check('stop_string', r5.choices[0].message.content === want && r5.choices[0].finish_reason === 'stop',
    JSON.stringify([r5.choices[0].message.content, want, stopWord]));
  const s5 = await streamText({ ...greedy, messages: [userWith(dataUrl)], stop: stopWord });
  check('stop_string_stream', s5.text === want && s5.finish === 'stop', JSON.stringify([s5.text, want]));

  // ---------------------------------------------------------------- sampling options accepted
  const r6 = await client.chat.completions.create({
    model: ex.chat_id, messages: [userWith(dataUrl)], temperature: 0.7, top_p: 0.9, seed: 7,
    max_completion_tokens: 5, n: 1,
  });
  check('sampling_options', r6.usage.completion_tokens <= 5 && r6.usage.completion_tokens > 0, JSON.stringify(r6.usage));
  const r7 = await client.chat.completions.create({ ...greedy, messages: [userWith(dataUrl)], num_beams: 2 });
  check('num_beams_extension', typeof r7.choices[0].message.content === 'string' && r7.usage.completion_tokens > 0);
  const r8 = await client.chat.completions.create({ ...greedy, messages: [{ role: 'user', content: 'Hello there' }] });
  check('text_only_chat', typeof r8.choices[0].message.content === 'string' && r8.usage.prompt_tokens < u.prompt_tokens);

  // ---------------------------------------------------------------- embeddings
  const e1 = await client.embeddings.create({ model: ex.clip_id, input: ex.texts });   // the SDK asks for base64
  const e2 = await client.embeddings.create({ model: ex.clip_id, input: ex.texts, encoding_format: 'float' });
  // float32 on both sides: the server sends 9 digits (float) or the raw bytes (base64), seer embed 9 digits
  const same = (v, ref) => v.length === ref.length && v.every((x, i) => Math.fround(x) === Math.fround(ref[i]));
  check('embeddings_base64_equal_cli', e1.data.length === ex.texts.length &&
    e1.data.every((d, i) => d.index === i && same(d.embedding, ex.embeddings[i])));
  check('embeddings_float_equal_cli', e2.data.length === ex.texts.length &&
    e2.data.every((d, i) => same(d.embedding, ex.embeddings[i])));
  check('embeddings_usage', e2.usage && e2.usage.prompt_tokens > 0 && e2.model === ex.clip_id, JSON.stringify(e2.usage));
  const e3 = await client.embeddings.create({ model: ex.clip_id, input: ex.texts[0] });
  check('embeddings_single_string', e3.data.length === 1 && same(e3.data[0].embedding, ex.embeddings[0]));
  const e4 = await client.embeddings.create({ model: ex.clip_id, input: [dataUrl], encoding_format: 'float' });
  check('embeddings_image_extension', e4.data.length === 1 && same(e4.data[0].embedding, ex.image_embedding));

  // ---------------------------------------------------------------- bad requests
  const msgs = [userWith(dataUrl)];
  await expectError('bad_unknown_model', { ...greedy, model: 'gpt-4o', messages: msgs }, 404, 'model_not_found');
  await expectError('bad_two_images', {
    ...greedy, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl } },
      { type: 'image_url', image_url: { url: sid } }, { type: 'text', text: question }] }],
  }, 400, 'too_many_images');
  await expectError('bad_two_images_two_messages', {
    ...greedy, messages: [userWith(dataUrl), { role: 'assistant', content: 'A picture.' }, userWith(sid)],
  }, 400, 'too_many_images');
  await expectError('bad_remote_url', { ...greedy, messages: [userWith('https://example.com/cat.jpg')] }, 400,
    'remote_image_url_refused');
  await expectError('bad_base64', { ...greedy, messages: [userWith('data:image/png;base64,@@@notbase64@@@')] }, 400,
    'invalid_image_url');
  await expectError('bad_not_an_image', { ...greedy, messages: [userWith('data:image/png;base64,aGVsbG8gd29ybGQh')] },
    400, 'invalid_image');
  await expectError('bad_unknown_part', {
    ...greedy, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
      { type: 'text', text: question }] }],
  }, 400, 'unsupported_content_type');
  await expectError('bad_empty_messages', { ...greedy, messages: [] }, 400);
  await expectError('bad_unknown_stored_image', { ...greedy, messages: [userWith('seer:image/999999')] }, 404,
    'image_not_found');
  await expectError('bad_context_overflow', {
    ...greedy, max_tokens: 1024, messages: [{ role: 'user', content: 'tell me about the colour red '.repeat(1000) }],
  }, 400, 'context_length_exceeded');
  await expectError('bad_context_overflow_stream', {
    ...greedy, stream: true, max_tokens: 1024,
    messages: [{ role: 'user', content: 'tell me about the colour red '.repeat(1000) }],
  }, 400, 'context_length_exceeded');
  await expectError('bad_n', { ...greedy, n: 2, messages: msgs }, 400);
  await expectError('bad_temperature', { ...greedy, temperature: 3, messages: msgs }, 400);
  await expectError('bad_last_is_assistant', {
    ...greedy, messages: [userWith(dataUrl), { role: 'assistant', content: 'x' }],
  }, 400);
  await expectError('bad_embeddings_model', { model: ex.chat_id, input: 'x' }, 400, undefined,
    p => client.embeddings.create(p));
  const wrong = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'wrong-token', maxRetries: 0 });
  await expectError('bad_token', {}, 401, 'invalid_api_key', () => wrong.models.list());

  // ---------------------------------------------------------------- still serving
  const after = await client.chat.completions.create({ ...greedy, messages: [userWith(dataUrl)] });
  check('serving_after_bad_requests', after.choices[0].message.content === ex.cli_answer);
} catch (e) {
  failed++;
  console.log(`FAIL unexpected error: ${e && e.stack ? e.stack : e}`);
}
console.log(`${total - failed}/${total} checks passed`);
process.exit(failed ? 1 : 0);
