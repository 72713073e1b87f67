import { describe, expect, it } from 'vitest';
import {
  branchesOf,
  canConnect,
  canConnectAgentflow,
  fromFlow,
  inputOfHandle,
  newNode,
  nextId,
  ref,
  richToPlain,
  toFlow,
} from '../src/graph';
import { layout } from '../src/layout';
import { BY_NAME } from './fixtures';

const get = (name: string) => BY_NAME.get(name)!;

describe('type compatibility', () => {
  it('accepts a node whose base classes include the input type', () => {
    expect(canConnect(get('chatLocal'), get('llmChain'), 'model')).toEqual({ ok: true });
    expect(canConnect(get('promptTemplate'), get('llmChain'), 'prompt')).toEqual({ ok: true });
  });
  it('refuses with a reason that names both sides', () => {
    const verdict = canConnect(get('promptTemplate'), get('llmChain'), 'model');
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.reason).toContain('BaseLanguageModel');
      expect(verdict.reason).toContain('Prompt Template');
    }
  });
  it('refuses an input that does not exist or is not an anchor', () => {
    expect(canConnect(get('chatLocal'), get('llmChain'), 'nope').ok).toBe(false);
  });
});

describe('ids and handles', () => {
  it('numbers new nodes like Flowise', () => {
    expect(nextId('llmChain', ['llmChain_0', 'llmChain_1'])).toBe('llmChain_2');
  });
  it('reads the input name back from a handle', () => {
    expect(inputOfHandle('llmChain_0-input-model-BaseLanguageModel', 'llmChain_0')).toBe('model');
    expect(inputOfHandle('x-output-y', 'llmChain_0')).toBeNull();
  });
});

describe('form <-> flowData', () => {
  const flow = {
    nodes: [
      { id: 'm', data: { name: 'chatLocal', inputs: { temperature: 0.5 } } },
      { id: 'p', data: { name: 'promptTemplate', inputs: { template: '{question}' } } },
      { id: 'mod', data: { name: 'inputModerationSimple', inputs: { denyList: 'x' } } },
      {
        id: 'c',
        data: { name: 'llmChain', inputs: { model: ref('m'), prompt: ref('p'), inputModeration: [ref('mod')] } },
      },
    ],
    edges: [{ source: 'm', target: 'c' }, { source: 'p', target: 'c' }, { source: 'mod', target: 'c' }],
  };

  it('turns references into edges on the right inputs, and back', () => {
    const { nodes, edges, needsLayout } = toFlow(flow, BY_NAME);
    expect(needsLayout).toBe(true);
    expect(edges.map((e) => inputOfHandle(e.targetHandle, 'c')).sort()).toEqual(['inputModeration', 'model', 'prompt']);
    const chain = nodes.find((n) => n.id === 'c')!;
    expect(chain.data.inputs).toEqual({}); // anchors live in edges
    const back = fromFlow(nodes, edges, BY_NAME);
    const inputs = back.nodes.find((n) => n.id === 'c')!.data.inputs!;
    expect(inputs.model).toBe(ref('m'));
    expect(inputs.prompt).toBe(ref('p'));
    expect(inputs.inputModeration).toEqual([ref('mod')]);
    expect(back.nodes.find((n) => n.id === 'm')!.data.inputs).toEqual({ temperature: 0.5 });
    expect(back.edges).toHaveLength(3);
  });

  it('keeps form values and empties unconnected anchors', () => {
    const node = newNode(get('llmChain'), 'llmChain_0', { x: 1, y: 2 });
    const back = fromFlow([node], [], BY_NAME);
    expect(back.nodes[0].data.inputs).toEqual({ model: '', prompt: '', inputModeration: [] });
    expect(newNode(get('chatLocal'), 'chatLocal_0', { x: 0, y: 0 }).data.inputs).toEqual({ temperature: 0.2 });
  });
});

describe('layout', () => {
  it('places nodes left to right along their edges, without overlap', () => {
    const { nodes, edges } = toFlow(
      {
        nodes: [
          { id: 'm', data: { name: 'chatLocal', inputs: {} } },
          { id: 'p', data: { name: 'promptTemplate', inputs: {} } },
          { id: 'c', data: { name: 'llmChain', inputs: { model: ref('m'), prompt: ref('p') } } },
        ],
        edges: [],
      },
      BY_NAME,
    );
    const placed = layout(nodes, edges);
    const x = (id: string) => placed.find((n) => n.id === id)!.position.x;
    const y = (id: string) => placed.find((n) => n.id === id)!.position.y;
    expect(x('c')).toBeGreaterThan(x('m'));
    expect(x('c')).toBeGreaterThan(x('p'));
    expect(Math.abs(y('m') - y('p'))).toBeGreaterThanOrEqual(100);
  });
  it("stacks a node's branches in the order of its outputs, each with what follows it", () => {
    const node = (id: string) => ({ id, position: { x: 0, y: 0 }, type: 'canvasNode' as const, data: { name: id, label: id, inputs: {} } });
    const nodes = ['start', 'cond', 'first', 'second', 'after'].map(node);
    const link = (source: string, target: string, handle = '') => ({ source, target, sourceHandle: handle || null });
    // the second output is listed first: dagre alone would put it on top
    const edges = [
      link('start', 'cond'),
      link('cond', 'second', 'cond-output-1'),
      link('second', 'after'),
      link('cond', 'first', 'cond-output-0'),
    ];
    for (const order of [edges, [...edges].reverse()]) {
      const placed = layout(nodes, order);
      const at = (id: string) => placed.find((n) => n.id === id)!.position;
      expect(at('first').y).toBeLessThan(at('second').y);
      expect(at('after').y).toBe(at('second').y); // its branch moved with it
      expect(at('first').x).toBeGreaterThan(at('cond').x);
      expect(at('cond').x).toBeGreaterThan(at('start').x);
    }
  });
});

describe('agentflows', () => {
  const af = (id: string, name: string, inputs: Record<string, unknown> = {}) => ({
    id,
    position: { x: 0, y: 0 },
    type: 'agentFlow',
    data: { id, name, label: id.toUpperCase(), inputs },
  });
  const edge = (source: string, handle: string, target: string) => ({
    id: `${source}-${handle}-${target}`,
    source,
    target,
    sourceHandle: `${source}-output-${handle}`,
    targetHandle: target,
  });
  const flow = {
    nodes: [
      af('startAgentflow_0', 'startAgentflow'),
      af('conditionAgentflow_0', 'conditionAgentflow', {
        conditions: [{ type: 'string', value1: '<p>{{ question }}</p>', operation: 'contains', value2: 'fox' }],
      }),
      af('llmAgentflow_0', 'llmAgentflow', { llmModel: 'chatOpenAI', llmModelConfig: { modelName: 'x' } }),
      af('directReplyAgentflow_0', 'directReplyAgentflow', { directReplyMessage: 'no' }),
    ],
    edges: [
      edge('startAgentflow_0', 'startAgentflow', 'conditionAgentflow_0'),
      edge('conditionAgentflow_0', '0', 'llmAgentflow_0'),
      edge('conditionAgentflow_0', '1', 'directReplyAgentflow_0'),
    ],
  };

  it('keeps every edge, branch and input through the editor and back', () => {
    const { nodes, edges } = toFlow(flow, BY_NAME);
    expect(edges).toHaveLength(3);
    expect(edges.map((e) => e.sourceHandle)).toEqual([
      'startAgentflow_0-output-startAgentflow',
      'conditionAgentflow_0-output-0',
      'conditionAgentflow_0-output-1',
    ]);
    expect(nodes.find((n) => n.id === 'llmAgentflow_0')!.data.label).toBe('LLMAGENTFLOW_0');
    const back = fromFlow(nodes, edges, BY_NAME);
    expect(back.edges.map((e) => [e.source, e.sourceHandle, e.target, e.targetHandle])).toEqual(
      flow.edges.map((e) => [e.source, e.sourceHandle, e.target, e.targetHandle]),
    );
    const llm = back.nodes.find((n) => n.id === 'llmAgentflow_0')!;
    expect(llm.type).toBe('agentFlow');
    expect(llm.data.inputs).toEqual({ llmModel: 'chatOpenAI', llmModelConfig: { modelName: 'x' } });
  });

  it('gives a branch per condition and an else, proceed and reject, none for a loop', () => {
    expect(branchesOf('conditionAgentflow', { conditions: [{}, {}] }).map((b) => b.label)).toEqual([
      'Condition 0',
      'Condition 1',
      'Else',
    ]);
    expect(branchesOf('humanInputAgentflow', {}).map((b) => b.handle)).toEqual(['0', '1']);
    expect(branchesOf('loopAgentflow', {})).toEqual([]);
    expect(branchesOf('conditionAgentAgentflow', { conditionAgentScenarios: [{ scenario: 'Billing' }] })[0].label).toBe(
      'Billing',
    );
  });

  it('connects agentflow nodes, never into Start nor to a chatflow node', () => {
    expect(canConnectAgentflow(get('llmAgentflow'), get('directReplyAgentflow'), 'a', 'b')).toEqual({ ok: true });
    expect(canConnectAgentflow(get('llmAgentflow'), get('startAgentflow'), 'a', 'b').ok).toBe(false);
    expect(canConnectAgentflow(get('chatLocal'), get('llmAgentflow'), 'a', 'b').ok).toBe(false);
  });

  it("reads Flowise's rich text as the server does", () => {
    expect(richToPlain('<p>English:</p><p><span class="variable">{{ question }}</span> </p><p>Japanese:</p><p></p>')).toBe(
      'English:\n\n{{ question }}\n\nJapanese:',
    );
    expect(richToPlain('plain {{ question }}')).toBe('plain {{ question }}');
  });
});

describe('a node output in words', () => {
  it("takes Flowise's label of the first output, else the first class", async () => {
    const { outputLabel } = await import('../src/components/CanvasNode');
    const base = { name: 'memoryVectorStore', label: 'In-Memory Vector Store', version: 1, type: 'Memory', category: 'Vector Stores', description: '', inputs: [], ending: false, icon: '', flowise: true };
    expect(outputLabel({ ...base, baseClasses: ['Memory', 'VectorStoreRetriever'], outputs: [{ name: 'retriever', label: 'Memory Retriever' }] })).toBe('Memory Retriever');
    expect(outputLabel({ ...base, baseClasses: ['LLMChain'] })).toBe('LLMChain');
  });
});
