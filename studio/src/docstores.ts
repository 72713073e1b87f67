// Document stores' API (Flowise's /api/v1/document-store/...), and the few pure helpers
// their pages use (tested in docstores.test.ts).
import { ApiError, request } from './api';
import type {
  SchemaChunkPageOut,
  SchemaDocumentStoreOut,
  SchemaJobOut,
  SchemaLoaderOut,
  SchemaLoaderPreviewOut,
  SchemaNodeDesc,
  SchemaQueryOut,
  SchemaStoredChunk,
  SchemaUpsertOut,
} from './api-types';

export type DocStore = SchemaDocumentStoreOut;
export type Loader = SchemaLoaderOut;
export type Job = SchemaJobOut;
export type Chunk = SchemaStoredChunk;
export type ChunkPage = SchemaChunkPageOut;
export type Preview = SchemaLoaderPreviewOut;
export type Upserted = SchemaUpsertOut;
export type Found = SchemaQueryOut;

const BASE = '/api/v1/document-store';
const call = request;
const at = (...parts: string[]) => [BASE, ...parts.map(encodeURIComponent)].join('/');

export interface LoaderForm {
  loaderId: string;
  loaderConfig: Record<string, unknown>;
  splitterId: string | null;
  splitterConfig: Record<string, unknown>;
}

export interface VectorSetup {
  embeddingName: string;
  embeddingConfig: Record<string, unknown>;
  vectorStoreName: string;
  vectorStoreConfig: Record<string, unknown>;
}

/** The vector stores that search the store's own chunks (no settings but topK). */
export const SEARCHED = new Set(['canvasflowDocumentStore', 'memoryVectorStore', 'faiss']);

/** A form's values without the key the config form adds (the chosen node's name). */
export function without(config: Record<string, unknown>, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).filter(([k, v]) => k !== key && v !== '' && v !== undefined));
}

export const docstores = {
  list: () => call<DocStore[]>('GET', `${BASE}/store`),
  get: (id: string) => call<DocStore>('GET', at('store', id)),
  create: (name: string, description: string) => call<DocStore>('POST', `${BASE}/store`, { name, description }),
  remove: (id: string) => call<void>('DELETE', at('store', id)),
  components: (kind: 'loaders' | 'embeddings' | 'vectorstore' | 'recordmanager') =>
    call<SchemaNodeDesc[]>('GET', `${BASE}/components/${kind}`),
  preview: (form: LoaderForm, count = 10) =>
    call<Preview>('POST', `${BASE}/loader/preview`, { ...form, previewChunkCount: count }),
  saveLoader: (storeId: string, form: LoaderForm, id?: string) =>
    call<Loader>('POST', `${BASE}/loader/save`, { ...form, storeId, id }),
  process: (storeId: string, loaderId: string) =>
    call<Loader>('POST', at('loader', 'process', loaderId), { storeId }),
  removeLoader: (storeId: string, loaderId: string) => call<void>('DELETE', at('loader', storeId, loaderId)),
  chunks: (storeId: string, loaderId: string, page: number) =>
    call<ChunkPage>('GET', at('chunks', storeId, loaderId, String(page))),
  editChunk: (storeId: string, loaderId: string, chunkId: string, pageContent: string) =>
    call<Chunk>('PUT', at('chunks', storeId, loaderId, chunkId), { pageContent }),
  removeChunk: (storeId: string, loaderId: string, chunkId: string) =>
    call<void>('DELETE', at('chunks', storeId, loaderId, chunkId)),
  saveVectorStore: (storeId: string, setup: VectorSetup) =>
    call<DocStore>('POST', `${BASE}/vectorstore/save`, { storeId, ...setup }),
  query: (storeId: string, query: string, topK?: number) =>
    call<Found>('POST', `${BASE}/vectorstore/query`, { storeId, query, topK }),
  refresh: (storeId: string) => call<Upserted>('POST', at('refresh', storeId)),
  jobEvents: (storeId: string, loaderId: string) => new EventSource(`${at('job', storeId, loaderId)}/stream`),
};

/** Files uploaded to a store (Flowise's multipart upsert), the upload's progress told as
 * it goes (0 to 1); the answer is what processing did. */
export function upload(
  storeId: string,
  files: File[],
  onProgress: (share: number) => void,
  loaderId?: string,
): Promise<Upserted> {
  const form = new FormData();
  for (const f of files) form.append('files', f, f.name);
  if (loaderId) form.append('docId', loaderId);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', at('upsert', storeId));
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      const parsed = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as Upserted);
      else reject(new ApiError(xhr.status, parsed?.message ?? xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'the upload failed (no answer from the server)'));
    xhr.send(form);
  });
}

/** The one line the CLI prints too. */
export function doneLine(d: { embedded?: number; skipped?: number; deleted?: number; failed?: unknown[] }): string {
  return `embedded ${d.embedded ?? 0}, skipped ${d.skipped ?? 0}, deleted ${d.deleted ?? 0}, failed ${d.failed?.length ?? 0}`;
}

export function upsertedLine(u: Upserted): string {
  return doneLine({ embedded: u.numAdded, skipped: u.numSkipped, deleted: u.numDeleted, failed: u.failed });
}

/** A job's share done (0 to 1): its sources read of all. */
export function share(job: Job | null | undefined): number {
  if (!job || !job.filesTotal) return 0;
  return Math.min(1, job.files / job.filesTotal);
}

/** The splitter inputs the preview shows as you type (numbers where the form has text). */
export function splitterValues(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === '' || v === undefined || v === null) continue;
    out[k] = (k === 'chunkSize' || k === 'chunkOverlap') && typeof v === 'string' ? Number(v) : v;
  }
  return out;
}
