// Model output as Markdown, with maintained libraries: marked renders it (tables, quotes,
// nested lists, code), raw HTML in it is shown as text, and DOMPurify sanitises what
// comes out, so nothing a model writes can become markup or script.
import { marked } from '/static/vendor/marked.esm.js';
import DOMPurify from '/static/vendor/purify.es.mjs';

const escape = (text) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

marked.use({ gfm: true, breaks: false, renderer: { html: ({ text }) => escape(text) } });

export function renderMarkdown(text) {
  const html = marked.parse(text, { async: false });
  return DOMPurify.sanitize(html, { RETURN_DOM_FRAGMENT: true, USE_PROFILES: { html: true } });
}
