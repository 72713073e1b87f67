import { describe, expect, it } from 'vitest';
import { byNode, duration, firstShown, pages, queryString, runStatus, shareLink, shown } from '../src/executions';

describe('executions', () => {
  it('builds a query without empty values', () => {
    expect(queryString({ canvasId: 'c1', status: '', page: 2, trigger: undefined })).toBe('?canvasId=c1&page=2');
    expect(queryString({})).toBe('');
  });
  it('counts pages', () => {
    expect(pages(0, 20)).toBe(1);
    expect(pages(41, 20)).toBe(3);
  });
  it('maps trace statuses to node colours', () => {
    expect(runStatus('done')).toBe('done');
    expect(runStatus('error')).toBe('error');
    expect(runStatus('paused')).toBe('paused');
    expect(runStatus('completed')).toBe('done');
  });
  it('shows the failing node first, else the last', () => {
    const trace = [
      { nodeId: 'a', status: 'done' },
      { nodeId: 'b', status: 'error' },
      { nodeId: 'c', status: 'done' },
    ];
    expect(firstShown(trace)).toBe('b');
    expect(firstShown(trace.filter((e) => e.status === 'done'))).toBe('c');
    expect(firstShown([])).toBeNull();
    expect(byNode(trace).get('c')?.status).toBe('done');
  });
  it('says durations and values in words', () => {
    expect(duration(850)).toBe('850 ms');
    expect(duration(2400)).toBe('2.4 s');
    expect(duration(185_000)).toBe('3 min 5 s');
    expect(duration(null)).toBe('—');
    expect(shown({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(shown('text')).toBe('text');
    expect(shareLink('http://h', 'x y')).toBe('http://h/studio/shared/x%20y');
  });
});
