// A small Markdown renderer that builds DOM nodes (never innerHTML), so nothing a
// model writes can become markup: paragraphs, headings, lists, fenced code, inline
// code, bold, italics and http(s) links.

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))/g;

function inline(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) frag.append(text.slice(last, match.index));
    const [token] = match;
    let node;
    if (match[1]) {
      node = document.createElement('code');
      node.textContent = token.slice(1, -1);
    } else if (match[2]) {
      node = document.createElement('strong');
      node.append(inline(token.slice(2, -2)));
    } else if (match[3]) {
      node = document.createElement('em');
      node.append(inline(token.slice(1, -1)));
    } else {
      const label = token.slice(1, token.indexOf(']('));
      const href = token.slice(token.indexOf('](') + 2, -1);
      if (/^https?:\/\//i.test(href)) {
        node = document.createElement('a');
        node.href = href;
        node.rel = 'noopener noreferrer nofollow';
        node.target = '_blank';
        node.textContent = label;
      } else {
        node = document.createTextNode(token);
      }
    }
    frag.append(node);
    last = match.index + token.length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

export function renderMarkdown(source) {
  const root = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  const flush = () => {
    if (para.length) {
      const p = document.createElement('p');
      para.forEach((line, i) => {
        if (i) p.append(document.createElement('br'));
        p.append(inline(line));
      });
      root.append(p);
      para = [];
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('```')) {
      flush();
      list = null;
      const code = [];
      for (i += 1; i < lines.length && !lines[i].startsWith('```'); i++) code.push(lines[i]);
      const pre = document.createElement('pre');
      const el = document.createElement('code');
      el.textContent = code.join('\n');
      pre.append(el);
      root.append(pre);
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*(?:[-*+]|\d+[.)])\s+(.*)$/);
    if (heading) {
      flush();
      list = null;
      const h = document.createElement(`h${Math.min(6, heading[1].length + 2)}`);
      h.append(inline(heading[2]));
      root.append(h);
    } else if (item) {
      flush();
      if (!list) {
        list = document.createElement(/^\s*\d/.test(line) ? 'ol' : 'ul');
        root.append(list);
      }
      const li = document.createElement('li');
      li.append(inline(item[1]));
      list.append(li);
    } else if (!line.trim()) {
      flush();
      list = null;
    } else {
      list = null;
      para.push(line);
    }
  }
  flush();
  return root;
}
