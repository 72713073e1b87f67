// The studio's starter templates. The first two run offline, on the embedded model.
import { ref } from './graph';
import { api, type ModelChoice, type ModelDefaults } from './api';
import { choiceInputs } from './models';
import type { FlowData, NodeDesc } from './types';

const n = (id: string, name: string, inputs: Record<string, unknown>, x: number, y: number) => ({
  id,
  position: { x, y },
  data: { id, name, inputs },
});

const af = (source: string, handle: string, target: string) => ({
  id: `${source}-${handle}-${target}`,
  source,
  target,
  sourceHandle: `${source}-output-${handle}`,
  targetHandle: target,
  type: 'agentFlow',
});

const LABELS: Record<string, string> = {
  startAgentflow_0: 'Start',
  conditionAgentflow_0: 'About prices?',
  directReplyAgentflow_0: 'Hand over',
  llmAgentflow_0: 'Answer',
};

export interface Template {
  key: string;
  name: string;
  description: string;
  offline: boolean;
  // what it needs before it answers, said on its card
  needs?: string;
  flow: FlowData;
}

export const TEMPLATES: Template[] = [
  {
    key: 'rag-folder',
    name: 'Answer from a folder of documents',
    description: 'Your files (in docs/ under the server files folder), BM25 retrieval, the embedded model. No key, no network.',
    offline: true,
    needs: 'your files: upload them on its Folder with Files node',
    flow: {
      nodes: [
        n('folderFiles_0', 'folderFiles', {
          folderPath: 'docs', recursive: true, textSplitter: ref('recursiveCharacterTextSplitter_0'),
        }, 0, 0),
        n('recursiveCharacterTextSplitter_0', 'recursiveCharacterTextSplitter', { chunkSize: 800, chunkOverlap: 80 }, 0, 260),
        n('bm25Retriever_0', 'bm25Retriever', { document: [ref('folderFiles_0')], topK: 3 }, 340, 80),
        n('chatLocal_0', 'chatLocal', { maxTokens: 256 }, 340, 340),
        n('retrievalQAChain_0', 'retrievalQAChain', {
          model: ref('chatLocal_0'), vectorStoreRetriever: ref('bm25Retriever_0'),
        }, 700, 180),
      ],
      edges: [
        { source: 'folderFiles_0', target: 'bm25Retriever_0' },
        { source: 'recursiveCharacterTextSplitter_0', target: 'folderFiles_0' },
        { source: 'bm25Retriever_0', target: 'retrievalQAChain_0' },
        { source: 'chatLocal_0', target: 'retrievalQAChain_0' },
      ],
    },
  },
  {
    key: 'conversation',
    name: 'Conversation with memory',
    description: 'A chat that remembers the conversation, on the embedded model. No key, no network.',
    offline: true,
    flow: {
      nodes: [
        n('chatLocal_0', 'chatLocal', { maxTokens: 256 }, 0, 0),
        n('bufferMemory_0', 'bufferMemory', {}, 0, 260),
        n('conversationChain_0', 'conversationChain', {
          model: ref('chatLocal_0'), memory: ref('bufferMemory_0'),
        }, 360, 120),
      ],
      edges: [
        { source: 'chatLocal_0', target: 'conversationChain_0' },
        { source: 'bufferMemory_0', target: 'conversationChain_0' },
      ],
    },
  },
  {
    key: 'tool-agent',
    name: 'Tool agent with a calculator',
    description: 'An agent that calls tools. Needs a model with tool calling (OpenAI-compatible): the embedded one has none.',
    offline: false,
    needs: 'a model with tool calling: an OpenAI key (OPENAI_API_KEY, or a credential on its ChatOpenAI node)',
    flow: {
      nodes: [
        n('chatOpenAI_0', 'chatOpenAI', { modelName: 'gpt-4o-mini' }, 0, 0),
        n('calculator_0', 'calculator', {}, 0, 260),
        n('bufferMemory_0', 'bufferMemory', {}, 0, 420),
        n('toolAgent_0', 'toolAgent', {
          model: ref('chatOpenAI_0'), tools: [ref('calculator_0')], memory: ref('bufferMemory_0'),
        }, 380, 160),
      ],
      edges: [
        { source: 'chatOpenAI_0', target: 'toolAgent_0' },
        { source: 'calculator_0', target: 'toolAgent_0' },
        { source: 'bufferMemory_0', target: 'toolAgent_0' },
      ],
    },
  },
  {
    key: 'agentflow-route',
    name: 'Agentflow: answer or hand over',
    description:
      'An agentflow (Flowise 3): a condition sends questions about prices to a fixed reply, the rest to the embedded model. No key, no network.',
    offline: true,
    flow: {
      nodes: [
        n('startAgentflow_0', 'startAgentflow', { startInputType: 'chatInput' }, 0, 120),
        {
          ...n('conditionAgentflow_0', 'conditionAgentflow', {
            conditions: [{ type: 'string', value1: '{{ question }}', operation: 'contains', value2: 'price' }],
          }, 220, 120),
        },
        n('directReplyAgentflow_0', 'directReplyAgentflow', {
          directReplyMessage: 'Prices are on the website; a person will call you back.',
        }, 500, 20),
        n('llmAgentflow_0', 'llmAgentflow', {
          llmModel: 'chatLocal',
          llmModelConfig: { llmModel: 'chatLocal', maxTokens: 128 },
          llmMessages: [{ role: 'system', content: 'You are a helpful assistant. Answer briefly.' }],
          llmEnableMemory: true,
        }, 500, 220),
      ].map((node) => ({ ...node, type: 'agentFlow', data: { ...node.data, label: LABELS[node.id] } })),
      edges: [
        af('startAgentflow_0', 'startAgentflow', 'conditionAgentflow_0'),
        af('conditionAgentflow_0', '0', 'directReplyAgentflow_0'),
        af('conditionAgentflow_0', '1', 'llmAgentflow_0'),
      ],
    },
  },
];

/** A template with the server's default models (the Models page) in place of the
 *  embedded ones: a chatflow's embedded model and embeddings nodes become the chosen
 *  provider's (same id, so edges stay), an agentflow's model configuration too. Inputs
 *  the new node also takes (maxTokens...) are kept. */
export function withDefaults(flow: FlowData, defaults: ModelDefaults, byName: Map<string, NodeDesc>): FlowData {
  const swap: Record<string, ModelChoice | null | undefined> = {
    chatLocal: defaults.chat,
    miniLMEmbeddings: defaults.embeddings,
    wordLlamaEmbeddings: defaults.embeddings,
  };
  const nodes = flow.nodes.map((node) => {
    const inputs = node.data.inputs ?? {};
    const chosen = swap[node.data.name];
    if (chosen) {
      const desc = byName.get(chosen.node);
      const kept = Object.fromEntries(Object.entries(inputs).filter(([k]) => desc?.inputs.some((i) => i.name === k)));
      return { ...node, data: { ...node.data, name: chosen.node, label: desc?.label, inputs: { ...kept, ...choiceInputs(chosen, desc) } } };
    }
    if (defaults.chat && inputs.llmModel === 'chatLocal') {
      const config = (inputs.llmModelConfig ?? {}) as Record<string, unknown>;
      const desc = byName.get(defaults.chat.node);
      const model = defaults.chat.node;
      return {
        ...node,
        data: { ...node.data, inputs: { ...inputs, llmModel: model, llmModelConfig: { ...config, ...choiceInputs(defaults.chat, desc), llmModel: model } } },
      };
    }
    return node;
  });
  return { ...flow, nodes };
}

/** A canvas made from a starter template, with the server's default models; what it
 *  still needs is kept for the editor's banner. Its id. */
export async function startFrom(t: Template, byName: Map<string, NodeDesc>): Promise<string> {
  const defaults = await api.modelDefaults().catch(() => ({ chat: null, embeddings: null }));
  const made = await api.createCanvas(t.name, withDefaults(t.flow, defaults, byName));
  if (t.needs && !(t.key === 'tool-agent' && defaults.chat)) sessionStorage.setItem(`cf-needs:${made.id}`, t.needs);
  return made.id;
}
