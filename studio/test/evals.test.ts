import { describe, expect, it } from 'vitest';
import { bars, describe as describeEvaluator, evaluatorBody, fileFormat, percent, progress, running } from '../src/evals';

describe('evaluations', () => {
  it('says rates and progress', () => {
    expect(percent(0.5)).toBe('50%');
    expect(percent(0.6667)).toBe('66.7%');
    expect(percent(null)).toBe('–');
    expect(progress({ done: 5, total: 20 })).toBe(0.25);
    expect(progress({ done: 0, total: 0 })).toBe(0);
    expect(running({ status: 'pending' })).toBe(true);
    expect(running({ status: 'aborted' })).toBe(false);
  });
  it('describes evaluators in words', () => {
    expect(describeEvaluator({ name: 'c', type: 'text', operator: 'Contains' })).toBe('Contains the expected answer');
    expect(describeEvaluator({ name: 'r', type: 'text', operator: 'Regex', value: '^a' })).toBe('Regex ^a');
    expect(describeEvaluator({ name: 'l', type: 'numeric', measure: 'latency', operator: 'lessThan', value: '2000' })).toBe(
      'latency lessThan 2000',
    );
    expect(describeEvaluator({ name: 'j', type: 'llm', model: { name: 'chatOpenAI' } })).toBe('judged by chatOpenAI');
  });
  it('posts only the fields an evaluator type uses', () => {
    const body = evaluatorBody({ name: ' judge ', type: 'llm', operator: 'Contains', value: 'x', prompt: 'p {answer}', rubric: 'r', model: { name: 'chatLocal' } });
    expect(body).toEqual({ name: 'judge', type: 'llm', prompt: 'p {answer}', rubric: 'r', model: { name: 'chatLocal' } });
    expect(evaluatorBody({ name: 's', type: 'json', operator: 'MatchesSchema', value: '{}', prompt: 'x' })).toEqual({
      name: 's',
      type: 'json',
      operator: 'MatchesSchema',
      value: '{}',
    });
  });
  it('scales bars to the largest and knows file formats', () => {
    expect(bars([1, 2, 4], (x) => x).map((b) => b.share)).toEqual([0.25, 0.5, 1]);
    expect(bars([0, 0], (x) => x).map((b) => b.share)).toEqual([0, 0]);
    expect(fileFormat('a.CSV')).toBe('csv');
    expect(fileFormat('rows.jsonl')).toBe('jsonl');
    expect(fileFormat('rows.json')).toBe('json');
  });
});
