// The chat page: uses the canvasflow SDK, renders answers as they stream, lets the user
// stop them, and re-attaches to an answer still running when the page is reloaded.
import { FlowiseClient } from '/static/canvasflow-sdk.js';
import { renderMarkdown } from '/static/markdown.js';

const $ = (id) => document.getElementById(id);
const state = { client: null, stream: null, canvasId: null };

// No key is ever kept by the page: signing in trades it once for an HttpOnly session
// cookie, which the browser sends with every same-origin request.
// (its runs are recorded as the chat page's: X-Canvasflow-Trigger)
const asChatPage = (input, init = {}) =>
  fetch(input, { ...init, headers: { ...(init.headers || {}), 'X-Canvasflow-Trigger': 'chat' } });

function client() {
  return new FlowiseClient({ baseUrl: location.origin, fetch: asChatPage });
}

async function signIn(event) {
  event.preventDefault();
  const input = $('apikey');
  const r = await fetch('/api/v1/auth/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ key: input.value.trim() }),
  });
  input.value = '';
  $('status').textContent = r.ok ? 'Signed in.' : 'That key is not valid.';
  if (r.ok) location.reload();
}

const chatKey = (canvasId) => `canvasflow.chat.${canvasId}`;
function chatId(canvasId) {
  let id = localStorage.getItem(chatKey(canvasId));
  if (!id) {
    id = crypto.randomUUID();
    localStorage.setItem(chatKey(canvasId), id);
  }
  return id;
}

function addUser(text) {
  const div = document.createElement('div');
  div.className = 'msg user';
  div.textContent = text;
  $('log').append(div);
  return div;
}

function addBot() {
  const div = document.createElement('div');
  div.className = 'msg bot';
  const answer = document.createElement('div');
  answer.className = 'answer';
  div.append(answer);
  $('log').append(div);
  return { div, answer, text: '', frame: 0 };
}

function scrollDown() {
  const log = $('log');
  log.scrollTop = log.scrollHeight;
}

function details(title, lines) {
  const box = document.createElement('details');
  const summary = document.createElement('summary');
  summary.textContent = title;
  box.append(summary);
  for (const line of lines) {
    const p = document.createElement('div');
    p.textContent = line;
    box.append(p);
  }
  return box;
}

function show(bot, event) {
  switch (event.event) {
    case 'token':
      bot.text += event.data;
      if (!bot.frame) {
        bot.frame = requestAnimationFrame(() => {
          bot.frame = 0;
          bot.answer.replaceChildren(renderMarkdown(bot.text));
          scrollDown();
        });
      }
      break;
    case 'source': {
      const docs = event.data || [];
      bot.div.append(details(`Sources (${docs.length})`, docs.map((d, i) =>
        `${d.metadata?.title || d.metadata?.source || `Document ${i + 1}`}: ${d.pageContent}`)));
      break;
    }
    case 'step':
      bot.div.append(details(`Step: ${event.data.step}`, [
        `input: ${JSON.stringify(event.data.input)}`, `output: ${JSON.stringify(event.data.output)}`]));
      break;
    case 'error': {
      const p = document.createElement('div');
      p.className = 'error';
      p.textContent = `Error: ${event.data.message || event.data}`;
      bot.div.append(p);
      break;
    }
    case 'metadata': {
      const u = event.data.usage || {};
      const p = document.createElement('div');
      p.className = 'usage';
      p.textContent = `${event.data.model || 'model'} · ${u.prompt_tokens ?? 0} in / ${u.completion_tokens ?? 0} out tokens`
        + ` · ${event.data.latency_ms ?? 0} ms` + (event.data.status !== 'completed' ? ` · ${event.data.status}` : '');
      bot.div.append(p);
      bot.div.dataset.status = event.data.status;
      break;
    }
    default:
      break;
  }
}

function busy(on) {
  $('send').hidden = on;
  $('stop').hidden = !on;
  $('question').disabled = on;
}

async function follow(stream, bot, pending) {
  state.stream = stream;
  busy(true);
  $('status').textContent = 'Answering…';
  try {
    for await (const event of stream) {
      if (stream.chatMessageId && pending) {
        pending.chatMessageId = stream.chatMessageId;
        pending.lastEventId = stream.lastEventId;
        sessionStorage.setItem('canvasflow.pending', JSON.stringify(pending));
      }
      show(bot, event);
    }
    if (bot.frame) cancelAnimationFrame(bot.frame);
    bot.answer.replaceChildren(renderMarkdown(bot.text));
    $('status').textContent = bot.div.dataset.status === 'aborted' ? 'Stopped.' : '';
  } catch (error) {
    show(bot, { event: 'error', data: { message: error.message || String(error) } });
    $('status').textContent = '';
  } finally {
    sessionStorage.removeItem('canvasflow.pending');
    state.stream = null;
    busy(false);
    bot.div.dataset.done = 'true';
    scrollDown();
    $('question').focus();
  }
}

async function ask(question) {
  const canvasId = state.canvasId;
  addUser(question);
  const bot = addBot();
  scrollDown();
  const c = client();
  const pending = { canvasId, question, chatId: chatId(canvasId) };
  try {
    // the page reads canvasflow's events, whatever the canvas streams to others (a canvas
    // serving Flowise's chat widget streams Flowise's format by default)
    const stream = await c.createPrediction({
      canvasId, question, streaming: true, chatId: pending.chatId, streamFormat: 'canvasflow',
    });
    await follow(stream, bot, pending);
  } catch (error) {
    show(bot, { event: 'error', data: { message: error.serverMessage || error.message } });
    bot.div.dataset.done = 'true';
    busy(false);
  }
}

async function loadHistory(canvasId) {
  $('log').replaceChildren();
  try {
    const r = await fetch(`/api/v1/chatmessage/${encodeURIComponent(canvasId)}?chatId=${encodeURIComponent(chatId(canvasId))}`);
    if (!r.ok) return;
    const pending = JSON.parse(sessionStorage.getItem('canvasflow.pending') || 'null');
    for (const m of await r.json()) {
      if (m.role === 'userMessage') addUser(m.content);
      else if (!(pending && m.id === pending.chatMessageId)) {
        const bot = addBot();
        bot.text = m.content;
        bot.answer.replaceChildren(renderMarkdown(m.content));
        bot.div.dataset.done = 'true';
      }
    }
    scrollDown();
  } catch {
    // history is a nicety
  }
}

async function reattach() {
  const pending = JSON.parse(sessionStorage.getItem('canvasflow.pending') || 'null');
  if (!pending || pending.canvasId !== state.canvasId || !pending.chatMessageId) return;
  // the answer was still coming when the page went away: replay it from the start
  const already = [...document.querySelectorAll('.msg.user')].at(-1)?.textContent === pending.question;
  if (!already) addUser(pending.question);
  const bot = addBot();
  const stream = client().resumePrediction({
    canvasId: pending.canvasId, chatMessageId: pending.chatMessageId, chatId: pending.chatId, lastEventId: 0,
  });
  await follow(stream, bot, pending);
}

// the script tag a website pastes to show this canvas in Flowise's chat widget
function embedSnippet(canvasId) {
  return [
    '<script type="module">',
    `  import Chatbot from "${location.origin}/static/vendor/flowise-embed.js";`,
    `  Chatbot.init({ chatflowid: "${canvasId}", apiHost: "${location.origin}" });`,
    '</script>',
  ].join('\n');
}

async function chooseCanvas(canvasId) {
  state.canvasId = canvasId;
  $('embed-snippet').textContent = embedSnippet(canvasId);
  if (location.pathname !== `/chat/${canvasId}`) history.replaceState(null, '', `/chat/${canvasId}`);
  await loadHistory(canvasId);
  await reattach();
}

async function init() {
  localStorage.removeItem('canvasflow.apikey'); // pages before sessions kept it there
  $('signin').addEventListener('submit', signIn);
  const wanted = decodeURIComponent(location.pathname.match(/^\/chat\/([^/]+)/)?.[1] || '') || 'default';
  let canvases = [];
  try {
    const r = await fetch('/api/v1/canvases');
    if (r.ok) canvases = await r.json();
    else if (r.status === 401) $('settings').dataset.needed = 'true';
  } catch {
    // listed below as what we know
  }
  const select = $('canvas');
  for (const c of canvases) select.append(new Option(c.name, c.id));
  let current = canvases.find((c) => c.id === wanted || c.slug === wanted);
  if (!current && wanted) {
    select.append(new Option(wanted, wanted));
    current = { id: wanted };
  }
  current ??= canvases.find((c) => c.slug === 'default') ?? canvases[0];
  if (current) {
    select.value = current.id;
    await chooseCanvas(current.id);
  }
  select.addEventListener('change', () => chooseCanvas(select.value));
  $('new-chat').addEventListener('click', () => {
    localStorage.removeItem(chatKey(state.canvasId));
    $('log').replaceChildren();
  });
  $('ask').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('question').value.trim();
    if (!q || state.stream) return;
    $('question').value = '';
    ask(q);
  });
  $('question').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('ask').requestSubmit();
    }
  });
  $('stop').addEventListener('click', async () => {
    if (!state.stream) return;
    $('status').textContent = 'Stopping…';
    try {
      await state.stream.abort();
    } catch (error) {
      $('status').textContent = `Could not stop: ${error.message}`;
    }
  });
  document.body.dataset.ready = 'true';
}

init();
