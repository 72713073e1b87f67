// After `vite build`: copy the vendored browser files the Python package serves (Swagger
// UI for /docs, so it works offline), and record a hash of the studio's sources, which a
// test compares with the sources to catch a build that was not redone.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceHash } from './hash.mjs';

const here = fileURLToPath(new URL('..', import.meta.url));
const vendor = join(here, '..', 'canvasflow', 'web', 'static', 'vendor');
mkdirSync(vendor, { recursive: true });
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
  copyFileSync(join(here, 'node_modules', 'swagger-ui-dist', file), join(vendor, file));
}
// the chat page's Markdown (plain ES modules there, no build step)
copyFileSync(join(here, 'node_modules', 'marked', 'lib', 'marked.esm.js'), join(vendor, 'marked.esm.js'));
copyFileSync(join(here, 'node_modules', 'dompurify', 'dist', 'purify.es.mjs'), join(vendor, 'purify.es.mjs'));
// Flowise's chat widget, so a website embeds canvasflow with no CDN
copyFileSync(join(here, 'node_modules', 'flowise-embed', 'dist', 'web.js'), join(vendor, 'flowise-embed.js'));

writeFileSync(join(here, '..', 'canvasflow', 'web', 'studio', 'SOURCE_HASH'), sourceHash(here) + '\n');
