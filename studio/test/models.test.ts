import { describe, expect, it } from 'vitest';
import { TEMPLATES, withDefaults } from '../src/templates';
import type { NodeDesc } from '../src/types';
import { CATALOGUE } from './fixtures';

const custom: NodeDesc = {
  ...CATALOGUE[0],
  name: 'chatOpenAICustom',
  label: 'ChatOpenAI Custom',
  inputs: [
    { name: 'modelName', label: 'Model', type: 'string', description: '', optional: false, list: false, additionalParams: false },
    { name: 'maxTokens', label: 'Max', type: 'number', description: '', optional: true, list: false, additionalParams: false },
    { name: 'basepath', label: 'Base', type: 'string', description: '', optional: true, list: false, additionalParams: false },
  ],
};
const byName = new Map([...CATALOGUE, custom].map((d) => [d.name, d]));
const chat = { node: 'chatOpenAICustom', modelName: 'mock', credential: 'cred-1', baseUrl: 'http://models.local/v1' };

describe('templates with the default models', () => {
  it('puts the chosen chat model in place of the embedded one, edges and shared inputs kept', () => {
    const rag = TEMPLATES.find((t) => t.key === 'rag-folder')!;
    const made = withDefaults(rag.flow, { chat, embeddings: null }, byName);
    const model = made.nodes.find((n) => n.id === 'chatLocal_0')!;
    expect(model.data.name).toBe('chatOpenAICustom');
    expect(model.data.inputs).toEqual({ maxTokens: 256, modelName: 'mock', credential: 'cred-1', basepath: 'http://models.local/v1' });
    expect(made.edges).toEqual(rag.flow.edges);
  });

  it("sets an agentflow's model configuration", () => {
    const route = TEMPLATES.find((t) => t.key === 'agentflow-route')!;
    const made = withDefaults(route.flow, { chat, embeddings: null }, byName);
    const llm = made.nodes.find((n) => n.id === 'llmAgentflow_0')!;
    expect(llm.data.inputs?.llmModel).toBe('chatOpenAICustom');
    expect(llm.data.inputs?.llmModelConfig).toMatchObject({ llmModel: 'chatOpenAICustom', modelName: 'mock', maxTokens: 128 });
  });

  it('changes nothing without defaults', () => {
    const t = TEMPLATES[1];
    expect(withDefaults(t.flow, { chat: null, embeddings: null }, byName)).toEqual(t.flow);
  });
});
