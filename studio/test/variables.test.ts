import { describe, expect, it } from 'vitest';
import type { StudioNode } from '../src/graph';
import { before, insertVariable, variablesFor } from '../src/variables';

const node = (id: string, name: string, inputs: Record<string, unknown> = {}, label = id): StudioNode => ({
  id,
  position: { x: 0, y: 0 },
  type: 'canvasNode',
  data: { name, label, inputs },
});

describe('the variables an agentflow node can name', () => {
  const nodes = [
    node('startAgentflow_0', 'startAgentflow', {
      startInputType: 'formInput',
      formInputTypes: [{ type: 'string', label: 'Your name', name: 'name' }],
      startState: [{ key: 'topic', value: '' }],
    }),
    node('llmAgentflow_0', 'llmAgentflow', { llmUpdateState: [{ key: 'summary', value: '{{ output }}' }] }, 'Summarise'),
    node('llmAgentflow_1', 'llmAgentflow', {}, 'Answer'),
    node('llmAgentflow_2', 'llmAgentflow', {}, 'Elsewhere'),
  ];
  const edges = [
    { source: 'startAgentflow_0', target: 'llmAgentflow_0' },
    { source: 'llmAgentflow_0', target: 'llmAgentflow_1' },
    { source: 'startAgentflow_0', target: 'llmAgentflow_2' },
  ];
  it('are the chat, the form, the state and the nodes before it', () => {
    const vars = variablesFor('llmAgentflow_1', nodes, edges);
    const values = vars.map((v) => v.value);
    expect(values).toContain('question');
    expect(values).toContain('$form.name');
    expect(values).toContain('$flow.state.topic');
    expect(values).toContain('$flow.state.summary');
    expect(values).toContain('llmAgentflow_0');
    expect(values).not.toContain('llmAgentflow_2'); // not before it
    expect(values).not.toContain('startAgentflow_0');
    expect(vars.find((v) => v.value === 'llmAgentflow_0')?.label).toBe('Summarise (its output)');
  });
  it('follow the edges back, nearest first', () => {
    expect(before('llmAgentflow_1', edges)).toEqual(['llmAgentflow_0', 'startAgentflow_0']);
    expect(before('x', [{ source: 'a', target: 'b' }, { source: 'b', target: 'a' }])).toEqual([]);
  });
  it('go where the cursor was', () => {
    expect(insertVariable('Hello !', 'question', 6)).toEqual({ text: 'Hello {{ question }}!', cursor: 20 });
    expect(insertVariable('ab', 'x')).toEqual({ text: 'ab{{ x }}', cursor: 9 });
  });
});
