import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, toCsv, type Message } from '../src/messages';

const m = (over: Partial<Message>): Message =>
  ({
    id: '1',
    canvasId: 'c',
    chatflowid: 'c',
    chatId: 'chat',
    sessionId: 's',
    role: 'userMessage',
    content: 'hi',
    status: 'completed',
    createdDate: '2026-12-06T10:00:00Z',
    ...over,
  }) as Message;

describe('conversations exported as CSV', () => {
  it('has a header and one row per message, quoting what needs it', () => {
    const csv = toCsv([
      m({ content: 'say "hi", then\\nbye' }),
      m({ role: 'apiMessage', content: 'ok', feedback: { rating: 'THUMBS_UP' }, usage: { total_tokens: 7 }, usedTools: [{ tool: 'calc' }] }),
    ]);
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines[1]).toContain('"say ""hi"", then\\nbye"');
    expect(lines[2].endsWith('apiMessage,ok,completed,THUMBS_UP,7,,calc')).toBe(true);
  });
});
