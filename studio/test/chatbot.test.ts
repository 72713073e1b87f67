import { describe, expect, it } from 'vitest';
import { DEFAULT_POST_PROCESSING, chatbotForm, embedCode, withChatbot } from '../src/chatbot';

// a Flowise chatflow's settings as its export carries them (JSON strings inside)
const flowise = {
  streamFormat: 'flowise',
  chatbotConfig: {
    starterPrompts: { '0': { prompt: 'Hi?' } },
    postProcessing: { enabled: true, customFunction: JSON.stringify('return $flow.rawOutput + "!";') },
    leads: { status: true, title: 'Reach you', name: true, email: false, phone: true, successMessage: 'Thanks' },
    allowedOriginsError: 'Not here',
    title: 'Bot',
    botMessage: { backgroundColor: '#fde68a', avatarSrc: 'https://a.example/bot.png', showAvatar: true },
  },
  followUpPrompts: JSON.stringify({
    status: true,
    selectedProvider: 'chatOpenAI',
    chatOpenAI: { credentialId: 'c1', modelName: 'gpt-4o-mini', prompt: 'Next: {history}', temperature: '0.5' },
    chatAnthropic: { modelName: 'kept' },
  }),
  isPublic: true,
};

describe("a canvas's chatbot settings", () => {
  it("read Flowise's shapes into the form", () => {
    const form = chatbotForm(flowise);
    expect(form).toMatchObject({
      followUp: true,
      provider: 'chatOpenAI',
      credentialId: 'c1',
      modelName: 'gpt-4o-mini',
      prompt: 'Next: {history}',
      temperature: '0.5',
      postProcessing: true,
      code: 'return $flow.rawOutput + "!";',
      leads: true,
      leadsName: true,
      leadsEmail: false,
      leadsPhone: true,
      originsError: 'Not here',
      isPublic: true,
      title: 'Bot',
      botBackground: '#fde68a',
      botAvatar: 'https://a.example/bot.png',
    });
  });
  it('write them back in the same shapes, keeping everything else', () => {
    const out = withChatbot(flowise, chatbotForm(flowise)) as Record<string, any>;
    expect(out.streamFormat).toBe('flowise');
    expect(out.chatbotConfig.starterPrompts).toEqual({ '0': { prompt: 'Hi?' } });
    expect(out.chatbotConfig.postProcessing).toEqual(flowise.chatbotConfig.postProcessing);
    expect(out.chatbotConfig.leads).toEqual(flowise.chatbotConfig.leads);
    expect(out.chatbotConfig.followUpPrompts).toEqual({ status: true });
    expect(out.chatbotConfig.botMessage).toEqual(flowise.chatbotConfig.botMessage);
    expect(out.followUpPrompts.chatOpenAI).toEqual(JSON.parse(flowise.followUpPrompts).chatOpenAI);
    expect(out.followUpPrompts.chatAnthropic).toEqual({ modelName: 'kept' });
    expect(out.isPublic).toBe(true);
  });
  it('a new canvas gets nothing it did not ask for', () => {
    const out = withChatbot({}, chatbotForm({})) as Record<string, any>;
    expect(out.followUpPrompts).toBeUndefined();
    expect(out.isPublic).toBeUndefined();
    expect(out.chatbotConfig).toEqual({});
    expect(chatbotForm({}).code).toBe(DEFAULT_POST_PROCESSING);
  });
  it('turning things off keeps them, off', () => {
    const form = { ...chatbotForm(flowise), followUp: false, postProcessing: false, isPublic: false };
    const out = withChatbot(flowise, form) as Record<string, any>;
    expect(out.followUpPrompts.status).toBe(false);
    expect(out.chatbotConfig.followUpPrompts).toBeUndefined();
    expect(out.chatbotConfig.postProcessing.enabled).toBe(false);
    expect(out.isPublic).toBeUndefined();
  });
  it("hands out Flowise's four embed codes, served from this server", () => {
    const html = embedCode('popup-html', 'http://h:3000', 'id1');
    expect(html).toContain('import Chatbot from "http://h:3000/static/vendor/flowise-embed.js"');
    expect(html).toContain('Chatbot.init({ chatflowid: "id1", apiHost: "http://h:3000" })');
    expect(embedCode('fullpage-html', 'http://h:3000', 'id1')).toMatch(/^<flowise-fullchatbot><\/flowise-fullchatbot>\n[\s\S]*initFull/);
    expect(embedCode('popup-react', 'http://h:3000', 'id1')).toContain('<BubbleChat chatflowid="id1" apiHost="http://h:3000" />');
    expect(embedCode('fullpage-react', 'http://h:3000', 'id1')).toContain('import { FullPageChat } from "flowise-embed-react"');
  });
});
