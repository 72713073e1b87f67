// The settings Flowise's chat widget reads (a canvas's settings.chatbotConfig and
// streamFormat), to and from the studio's form, and the snippet a website pastes.

export interface WidgetForm {
  enabled: boolean; // the canvas streams Flowise's format, which the widget reads
  starterPrompts: string; // one per line
  feedback: boolean;
  images: boolean;
  files: boolean;
}

type Settings = Record<string, unknown>;

export function widgetForm(settings: Settings): WidgetForm {
  const cfg = (settings.chatbotConfig ?? {}) as Record<string, any>;
  const prompts = Object.values((cfg.starterPrompts ?? {}) as Record<string, { prompt?: string }>)
    .map((p) => p?.prompt ?? '')
    .filter(Boolean);
  return {
    enabled: settings.streamFormat === 'flowise',
    starterPrompts: prompts.join('\n'),
    feedback: Boolean(cfg.chatFeedback?.status),
    images: Boolean(cfg.allowImageUploads),
    files: Boolean(cfg.allowFileUploads),
  };
}

/** The settings with the form's widget fields in them; other chatbotConfig keys kept. */
export function withWidget(settings: Settings, form: WidgetForm): Settings {
  const out: Settings = { ...settings };
  if (form.enabled) out.streamFormat = 'flowise';
  else if (out.streamFormat === 'flowise') delete out.streamFormat;
  const prompts = form.starterPrompts
    .split('\n')
    .map((p) => p.trim())
    .filter(Boolean);
  out.chatbotConfig = {
    ...((settings.chatbotConfig ?? {}) as Settings),
    starterPrompts: Object.fromEntries(prompts.map((prompt, i) => [String(i), { prompt }])),
    chatFeedback: { status: form.feedback },
    allowImageUploads: form.images,
    allowFileUploads: form.files,
  };
  return out;
}

export function embedSnippet(origin: string, canvasId: string): string {
  return [
    '<script type="module">',
    `  import Chatbot from "${origin}/static/vendor/flowise-embed.js";`,
    `  Chatbot.init({ chatflowid: "${canvasId}", apiHost: "${origin}" });`,
    '</script>',
  ].join('\n');
}
