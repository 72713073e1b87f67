// A canvas's conversations as files: JSON (the messages as the API gives them) and CSV
// (one row per message), for the Messages page's export.
import type { SchemaChatMessageOut } from './api-types';

export type Message = SchemaChatMessageOut;

const cell = (value: unknown): string => {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

export const CSV_COLUMNS = ['createdDate', 'sessionId', 'chatId', 'role', 'content', 'status', 'feedback', 'tokens', 'sources', 'tools'];

export function toCsv(messages: Message[]): string {
  const rows = messages.map((m) =>
    [
      m.createdDate,
      m.sessionId,
      m.chatId,
      m.role,
      m.content,
      m.status,
      m.feedback ? (m.feedback as { rating?: string }).rating : '',
      (m.usage as { total_tokens?: number } | null)?.total_tokens ?? '',
      (m.sourceDocuments ?? []).length || '',
      (m.usedTools ?? []).map((t) => (t as { tool?: string }).tool).join(' '),
    ]
      .map(cell)
      .join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
