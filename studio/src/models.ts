// The server's default models (the Models page) as node inputs: what a template's
// embedded model and embeddings become.
import type { ModelChoice } from './api';
import type { NodeDesc } from './types';

export const URL_INPUTS = ['basepath', 'baseUrl', 'basePath'];

/** The node inputs a choice stands for (as the server reads it). */
export function choiceInputs(choice: ModelChoice, desc?: NodeDesc): Record<string, unknown> {
  const inputs: Record<string, unknown> = { modelName: choice.modelName ?? '' };
  if (choice.credential) inputs.credential = choice.credential;
  const where = desc?.inputs.find((i) => URL_INPUTS.includes(i.name));
  if (choice.baseUrl && where) inputs[where.name] = choice.baseUrl;
  return inputs;
}

