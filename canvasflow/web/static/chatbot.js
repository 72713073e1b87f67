// A canvas's public chatbot page (Flowise's /chatbot/:id): Flowise's chat widget on the
// whole page, themed by the canvas's chatbotConfig (title, welcome message, colours,
// avatars), shown only when the canvas is public (settings.isPublic).
import '/static/vendor/flowise-embed.js'; // defines <flowise-fullchatbot>

const status = document.getElementById('chatbot-status');
const canvasId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');

// the widget reads Flowise's stream format: this page asks for it, whatever the canvas
// streams to its other clients
const plainFetch = window.fetch.bind(window);
window.fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (init && typeof init.body === 'string' && url.includes('/api/v1/prediction/')) {
    try {
      const body = JSON.parse(init.body);
      init = { ...init, body: JSON.stringify({ ...body, streamFormat: 'flowise' }) };
    } catch {
      /* not JSON: sent as it is */
    }
  }
  return plainFetch(input, init);
};

async function main() {
  const open = await plainFetch(`/api/v1/public-chatflows/${encodeURIComponent(canvasId)}`);
  if (!open.ok) {
    const said = await open.json().catch(() => ({}));
    status.textContent = said.message || 'This chatbot is not available.';
    return;
  }
  const canvas = await open.json();
  const config = await (await plainFetch(`/api/v1/public-chatbotConfig/${encodeURIComponent(canvasId)}`)).json();
  document.title = config.title || canvas.name;
  status.textContent = '';
  const chatWindow = { ...config, title: config.title || canvas.name, showTitle: true };
  // its properties set before it is on the page (as flowise-embed-react does): it starts
  // with them, never with its defaults
  const widget = document.createElement('flowise-fullchatbot');
  Object.assign(widget, { chatflowid: canvasId, apiHost: location.origin, theme: { chatWindow } });
  document.body.appendChild(widget);
}

main().catch((err) => {
  status.textContent = `The chatbot could not start: ${err}`;
});
