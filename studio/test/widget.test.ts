import { describe, expect, it } from 'vitest';
import { embedSnippet, widgetForm, withWidget } from '../src/widget';

describe('the chat widget settings', () => {
  it('round-trip through the form, keeping other settings', () => {
    const settings = { allowedOrigins: ['https://a.example'], chatbotConfig: { title: 'Hi' } };
    const form = { enabled: true, starterPrompts: 'One?\n\n Two? ', feedback: true, images: true, files: false };
    const out = withWidget(settings, form);
    expect(out.streamFormat).toBe('flowise');
    expect(out.allowedOrigins).toEqual(['https://a.example']);
    expect(out.chatbotConfig).toEqual({
      title: 'Hi',
      starterPrompts: { '0': { prompt: 'One?' }, '1': { prompt: 'Two?' } },
      chatFeedback: { status: true },
      allowImageUploads: true,
      allowFileUploads: false,
    });
    expect(widgetForm(out)).toEqual({ ...form, starterPrompts: 'One?\nTwo?' });
  });
  it('turning the widget off drops the Flowise stream format only', () => {
    const off = withWidget({ streamFormat: 'flowise' }, { ...widgetForm({}), enabled: false });
    expect(off.streamFormat).toBeUndefined();
    expect(withWidget({ streamFormat: 'openai' }, widgetForm({})).streamFormat).toBe('openai');
  });
  it('makes the snippet Flowise documents, pointing at this server', () => {
    const s = embedSnippet('http://127.0.0.1:3000', 'abc');
    expect(s).toContain('import Chatbot from "http://127.0.0.1:3000/static/vendor/flowise-embed.js"');
    expect(s).toContain('chatflowid: "abc", apiHost: "http://127.0.0.1:3000"');
  });
});
