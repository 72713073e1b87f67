import type { NodeDesc } from '../src/types';

const input = (name: string, type: string, extra: Partial<NodeDesc['inputs'][number]> = {}) => ({
  name,
  label: name,
  type,
  description: name,
  optional: false,
  list: false,
  additionalParams: false,
  ...extra,
});

export const CATALOGUE: NodeDesc[] = [
  {
    name: 'chatLocal', label: 'Embedded Local Model', version: 1, type: 'ChatLocal', category: 'Chat Models',
    description: '', baseClasses: ['ChatLocal', 'BaseChatModel', 'BaseLanguageModel', 'Runnable'],
    inputs: [input('temperature', 'number', { optional: true, default: 0.2 })], ending: false, icon: '', flowise: true,
  },
  {
    name: 'promptTemplate', label: 'Prompt Template', version: 1, type: 'PromptTemplate', category: 'Prompts',
    description: '', baseClasses: ['PromptTemplate', 'BasePromptTemplate'],
    inputs: [input('template', 'string')], ending: false, icon: '', flowise: true,
  },
  {
    name: 'llmChain', label: 'LLM Chain', version: 1, type: 'LLMChain', category: 'Chains',
    description: '', baseClasses: ['LLMChain', 'BaseChain'],
    inputs: [input('model', 'BaseLanguageModel'), input('prompt', 'BasePromptTemplate'),
      input('inputModeration', 'Moderation', { optional: true, list: true })],
    ending: true, icon: '', flowise: true,
  },
  {
    name: 'inputModerationSimple', label: 'Simple Moderation', version: 1, type: 'Moderation', category: 'Moderation',
    description: '', baseClasses: ['Moderation'], inputs: [input('denyList', 'string')], ending: false, icon: '', flowise: true,
  },
  ...['startAgentflow', 'llmAgentflow', 'conditionAgentflow', 'directReplyAgentflow', 'loopAgentflow', 'humanInputAgentflow'].map(
    (name): NodeDesc => ({
      name, label: name, version: 1, type: name, category: 'Agent Flows', description: '', baseClasses: [],
      inputs: name === 'conditionAgentflow' ? [input('conditions', 'array')] : [], ending: false, icon: '', flowise: true, agentflow: true,
    }),
  ),
];

export const BY_NAME = new Map(CATALOGUE.map((n) => [n.name, n]));
