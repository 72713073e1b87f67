import { describe, expect, it } from 'vitest';
import { pasted } from '../src/editor/clipboard';
import { connected, verdictOf } from '../src/editor/connections';
import { clean } from '../src/editor/history';
import { saveMessage } from '../src/editor/saving';
import { shortcutOf } from '../src/editor/shortcuts';
import { newNode, type StudioNode } from '../src/graph';
import { CATALOGUE } from './fixtures';

const byName = new Map(CATALOGUE.map((d) => [d.name, d]));
const node = (name: string, id: string): StudioNode => newNode(byName.get(name)!, id, { x: 0, y: 0 });
const key = (k: string, mods: { ctrl?: boolean; shift?: boolean } = {}) => ({
  key: k,
  ctrlKey: !!mods.ctrl,
  metaKey: false,
  shiftKey: !!mods.shift,
});

describe('the editor', () => {
  it('reads shortcuts, and leaves a text field its own', () => {
    expect(shortcutOf(key('s', { ctrl: true }), true)).toBe('save');
    expect(shortcutOf(key('z', { ctrl: true }), false)).toBe('undo');
    expect(shortcutOf(key('z', { ctrl: true }), true)).toBeNull();
    expect(shortcutOf(key('Z', { ctrl: true, shift: true }), false)).toBe('redo');
    expect(shortcutOf(key('y', { ctrl: true }), false)).toBe('redo');
    expect(shortcutOf(key('c', { ctrl: true }), false)).toBe('copy');
    expect(shortcutOf(key('v', { ctrl: true }), false)).toBe('paste');
    expect(shortcutOf(key('!', { shift: true }), false)).toBe('fit');
    expect(shortcutOf(key('a'), false)).toBeNull();
  });
  it('pastes with fresh ids, moved, its inner edges renamed', () => {
    const a = node('promptTemplate', 'promptTemplate_0');
    const b = node('llmChain', 'llmChain_0');
    const edge = { id: 'e', source: a.id, target: b.id, sourceHandle: `${a.id}-output`, targetHandle: `${b.id}-input-prompt` };
    const copy = pasted({ nodes: clean([a, b]), edges: [edge] }, [a.id, b.id]);
    expect(copy.nodes.map((n) => n.id)).toEqual(['promptTemplate_1', 'llmChain_1']);
    expect(copy.nodes[0].position).toEqual({ x: 40, y: 40 });
    expect(copy.edges[0]).toMatchObject({ source: 'promptTemplate_1', target: 'llmChain_1', targetHandle: 'llmChain_1-input-prompt' });
  });
  it('refuses a node feeding itself and keeps one connection per single input', () => {
    const nodes = [node('promptTemplate', 'p'), node('promptTemplate', 'q'), node('llmChain', 'c')];
    expect(verdictOf({ source: 'p', target: 'p', sourceHandle: null, targetHandle: null }, nodes, byName)).toEqual({
      ok: false,
      reason: 'a node cannot feed itself',
    });
    const first = connected({ source: 'p', target: 'c', sourceHandle: 'p-output', targetHandle: 'c-input-prompt-BasePromptTemplate' }, [], nodes, byName);
    const second = connected({ source: 'q', target: 'c', sourceHandle: 'q-output', targetHandle: 'c-input-prompt-BasePromptTemplate' }, first, nodes, byName);
    expect(second.map((e) => e.source)).toEqual(['q']);
  });
  it('says what a save left to fix', () => {
    expect(saveMessage([])).toBe('Saved.');
    expect(saveMessage([{ message: 'x', level: 'error' } as never, { message: 'y', level: 'warning' } as never])).toBe(
      'Saved as a draft: 1 problem to fix.',
    );
  });
});
