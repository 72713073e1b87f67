// A canvas's chatbot settings in Flowise's shapes (so a Flowise export carries them both
// ways): follow-up prompts (settings.followUpPrompts, and chatbotConfig.followUpPrompts
// {status} for the widget), post-processing (chatbotConfig.postProcessing, the function
// JSON-encoded as Flowise keeps it), leads (chatbotConfig.leads), the allowed-domains
// message (chatbotConfig.allowedOriginsError), the public chatbot page (settings.isPublic)
// and its theme (chatbotConfig: title, welcome message, colours, avatars). And the embed
// code Flowise hands out: popup or full page, HTML or React.

type Settings = Record<string, unknown>;
type Obj = Record<string, any>;

// Flowise's follow-up providers (FollowUpPromptProvider), and the embedded model
export const FOLLOW_UP_PROVIDERS: { key: string; label: string; credential: string | null; url: boolean }[] = [
  { key: 'chatLocal', label: 'The embedded model (no key)', credential: null, url: false },
  { key: 'chatOpenAI', label: 'OpenAI', credential: 'openAIApi', url: true },
  { key: 'chatAnthropic', label: 'Anthropic', credential: 'anthropicApi', url: false },
  { key: 'azureChatOpenAI', label: 'Azure OpenAI', credential: 'azureOpenAIApi', url: false },
  { key: 'chatGoogleGenerativeAI', label: 'Google Gemini', credential: 'googleGenerativeAI', url: false },
  { key: 'chatMistralAI', label: 'Mistral AI', credential: 'mistralAIApi', url: false },
  { key: 'groqChat', label: 'Groq', credential: 'groqApi', url: false },
  { key: 'ollama', label: 'Ollama', credential: null, url: true },
];

export const DEFAULT_FOLLOW_UP_PROMPT =
  'Given the following conversations: {history}. Please help me predict the three most likely questions that human would ask and keeping each question short and concise.';

export const DEFAULT_POST_PROCESSING = `// $flow.rawOutput is the answer; return what is sent instead.
// Also: $flow.input, $flow.chatHistory, $flow.sourceDocuments, $flow.usedTools, $vars.
return $flow.rawOutput;`;

// the widget's own colours (flowise-embed's defaults)
export const THEME = {
  backgroundColor: '#ffffff',
  titleBackgroundColor: '#3b81f6',
  titleTextColor: '#ffffff',
  botBackground: '#f7f8ff',
  botText: '#303235',
  userBackground: '#3b81f6',
  userText: '#ffffff',
};

export interface ChatbotForm {
  followUp: boolean;
  provider: string;
  credentialId: string;
  modelName: string;
  baseUrl: string;
  prompt: string;
  temperature: string;
  postProcessing: boolean;
  code: string;
  leads: boolean;
  leadsTitle: string;
  leadsName: boolean;
  leadsEmail: boolean;
  leadsPhone: boolean;
  leadsSuccess: string;
  originsError: string;
  isPublic: boolean;
  title: string;
  welcomeMessage: string;
  backgroundColor: string;
  titleBackgroundColor: string;
  titleTextColor: string;
  botBackground: string;
  botText: string;
  botAvatar: string;
  userBackground: string;
  userText: string;
}

/** A setting Flowise keeps as a JSON string and canvasflow as an object: either. */
export function parsed(value: unknown): Obj {
  if (typeof value === 'string') {
    try {
      const v = JSON.parse(value);
      return v && typeof v === 'object' ? v : {};
    } catch {
      return {};
    }
  }
  return value && typeof value === 'object' ? (value as Obj) : {};
}

function decodedCode(stored: unknown): string {
  if (typeof stored !== 'string') return '';
  if (stored.trimStart().startsWith('"')) {
    try {
      const v = JSON.parse(stored);
      if (typeof v === 'string') return v;
    } catch {
      /* plain code */
    }
  }
  return stored;
}

export function chatbotForm(settings: Settings): ChatbotForm {
  const cfg = parsed(settings.chatbotConfig);
  const follow = parsed(settings.followUpPrompts);
  const provider = String(follow.selectedProvider ?? 'chatLocal');
  const chosen = parsed(follow[provider]);
  const post = parsed(cfg.postProcessing);
  const leads = parsed(cfg.leads);
  return {
    followUp: follow.status === true,
    provider,
    credentialId: String(chosen.credentialId ?? ''),
    modelName: String(chosen.modelName ?? ''),
    baseUrl: String(chosen.baseUrl ?? ''),
    prompt: String(chosen.prompt ?? DEFAULT_FOLLOW_UP_PROMPT),
    temperature: String(chosen.temperature ?? '0.9'),
    postProcessing: post.enabled === true,
    code: decodedCode(post.customFunction) || DEFAULT_POST_PROCESSING,
    leads: leads.status === true,
    leadsTitle: String(leads.title ?? 'Let us know where we can reach you:'),
    leadsName: Boolean(leads.name),
    leadsEmail: leads.email === undefined ? true : Boolean(leads.email),
    leadsPhone: Boolean(leads.phone),
    leadsSuccess: String(leads.successMessage ?? 'Thank you! We will be in touch.'),
    originsError: String(cfg.allowedOriginsError ?? ''),
    isPublic: settings.isPublic === true,
    title: String(cfg.title ?? ''),
    welcomeMessage: String(cfg.welcomeMessage ?? ''),
    backgroundColor: String(cfg.backgroundColor ?? THEME.backgroundColor),
    titleBackgroundColor: String(cfg.titleBackgroundColor ?? THEME.titleBackgroundColor),
    titleTextColor: String(cfg.titleTextColor ?? THEME.titleTextColor),
    botBackground: String(cfg.botMessage?.backgroundColor ?? THEME.botBackground),
    botText: String(cfg.botMessage?.textColor ?? THEME.botText),
    botAvatar: String(cfg.botMessage?.avatarSrc ?? ''),
    userBackground: String(cfg.userMessage?.backgroundColor ?? THEME.userBackground),
    userText: String(cfg.userMessage?.textColor ?? THEME.userText),
  };
}

const put = (out: Obj, key: string, value: string) => {
  if (value.trim()) out[key] = value.trim();
  else delete out[key];
};

/** The settings with the form in them; every other key kept as it was. */
export function withChatbot(settings: Settings, form: ChatbotForm): Settings {
  const out: Settings = { ...settings };
  const cfg: Obj = { ...parsed(settings.chatbotConfig) };
  // follow-up prompts: the provider's block kept beside the others, as Flowise does
  const follow: Obj = { ...parsed(settings.followUpPrompts) };
  const block: Obj = { ...parsed(follow[form.provider]), prompt: form.prompt || DEFAULT_FOLLOW_UP_PROMPT };
  put(block, 'credentialId', form.credentialId);
  put(block, 'modelName', form.modelName);
  put(block, 'baseUrl', form.baseUrl);
  put(block, 'temperature', form.temperature);
  if (form.followUp || Object.keys(follow).length) {
    out.followUpPrompts = { ...follow, status: form.followUp, selectedProvider: form.provider, [form.provider]: block };
  }
  if (form.followUp) cfg.followUpPrompts = { status: true };
  else delete cfg.followUpPrompts;
  if (form.postProcessing || cfg.postProcessing) {
    cfg.postProcessing = { enabled: form.postProcessing, customFunction: JSON.stringify(form.code) };
  }
  if (form.leads || cfg.leads) {
    cfg.leads = {
      status: form.leads,
      title: form.leadsTitle,
      name: form.leadsName,
      email: form.leadsEmail,
      phone: form.leadsPhone,
      successMessage: form.leadsSuccess,
    };
  }
  put(cfg, 'allowedOriginsError', form.originsError);
  put(cfg, 'title', form.title);
  put(cfg, 'welcomeMessage', form.welcomeMessage);
  // colours are written only when they differ from the widget's own
  const colour = (into: Obj, key: string, value: string, fallback: string) => {
    if (value && value.toLowerCase() !== fallback) into[key] = value;
    else delete into[key];
  };
  colour(cfg, 'backgroundColor', form.backgroundColor, THEME.backgroundColor);
  colour(cfg, 'titleBackgroundColor', form.titleBackgroundColor, THEME.titleBackgroundColor);
  colour(cfg, 'titleTextColor', form.titleTextColor, THEME.titleTextColor);
  const bot: Obj = { ...(cfg.botMessage ?? {}) };
  colour(bot, 'backgroundColor', form.botBackground, THEME.botBackground);
  colour(bot, 'textColor', form.botText, THEME.botText);
  if (form.botAvatar.trim()) Object.assign(bot, { avatarSrc: form.botAvatar.trim(), showAvatar: true });
  else delete bot.avatarSrc;
  const user: Obj = { ...(cfg.userMessage ?? {}) };
  colour(user, 'backgroundColor', form.userBackground, THEME.userBackground);
  colour(user, 'textColor', form.userText, THEME.userText);
  for (const [key, value] of [['botMessage', bot], ['userMessage', user]] as const) {
    if (Object.keys(value).length) cfg[key] = value;
    else delete cfg[key];
  }
  out.chatbotConfig = cfg;
  if (form.isPublic) out.isPublic = true;
  else delete out.isPublic;
  return out;
}

export type EmbedKind = 'popup-html' | 'fullpage-html' | 'popup-react' | 'fullpage-react';

export const EMBED_KINDS: { key: EmbedKind; label: string }[] = [
  { key: 'popup-html', label: 'Popup (HTML)' },
  { key: 'fullpage-html', label: 'Full page (HTML)' },
  { key: 'popup-react', label: 'Popup (React)' },
  { key: 'fullpage-react', label: 'Full page (React)' },
];

/** The code a website pastes, as Flowise's "Embed" tab gives it; the HTML variants load
 *  the widget from this server (no CDN), the React ones use `flowise-embed-react`. */
export function embedCode(kind: EmbedKind, origin: string, canvasId: string): string {
  const script = (call: string) =>
    [
      '<script type="module">',
      `  import Chatbot from "${origin}/static/vendor/flowise-embed.js";`,
      `  Chatbot.${call}({ chatflowid: "${canvasId}", apiHost: "${origin}" });`,
      '</script>',
    ].join('\n');
  const react = (component: string) =>
    [
      `import { ${component} } from "flowise-embed-react";`,
      '',
      'const App = () => {',
      `  return <${component} chatflowid="${canvasId}" apiHost="${origin}" />;`,
      '};',
    ].join('\n');
  switch (kind) {
    case 'popup-html':
      return script('init');
    case 'fullpage-html':
      return `<flowise-fullchatbot></flowise-fullchatbot>\n${script('initFull')}`;
    case 'popup-react':
      return react('BubbleChat');
    case 'fullpage-react':
      return react('FullPageChat');
  }
}
