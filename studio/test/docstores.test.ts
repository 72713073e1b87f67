import { describe, expect, it } from 'vitest';
import { doneLine, SEARCHED, share, splitterValues, upsertedLine, without } from '../src/docstores';

describe('document stores', () => {
  it('says what processing did in the CLI\'s words', () => {
    expect(doneLine({ embedded: 3, skipped: 2, deleted: 1, failed: [{}] })).toBe('embedded 3, skipped 2, deleted 1, failed 1');
    expect(upsertedLine({ numAdded: 4, numSkipped: 0, numDeleted: 0, numUpdated: 0, failed: [], loaderIds: [] })).toBe(
      'embedded 4, skipped 0, deleted 0, failed 0',
    );
  });
  it('shows a job\'s share of sources read', () => {
    expect(share(null)).toBe(0);
    expect(share({ files: 3, filesTotal: 4 } as never)).toBe(0.75);
    expect(share({ files: 9, filesTotal: 4 } as never)).toBe(1);
  });
  it('reads the splitter sizes as numbers and drops empty fields', () => {
    expect(splitterValues({ chunkSize: '200', chunkOverlap: '', separator: '\n' })).toEqual({ chunkSize: 200, separator: '\n' });
  });
});

describe('vector store set-up', () => {
  it('drops the chosen node\'s own key and empty fields', () => {
    expect(without({ vectorStore: 'qdrant', qdrantCollection: 'a', topK: '' }, 'vectorStore')).toEqual({ qdrantCollection: 'a' });
  });
  it('knows the stores that search their own chunks', () => {
    expect(SEARCHED.has('faiss') && !SEARCHED.has('qdrant')).toBe(true);
  });
});
