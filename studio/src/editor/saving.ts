// Saving: the name and flow in one PUT; a canvas with problems is kept as a draft and
// the toolbar says how many there are. True when it saved with none.
import { api, ApiError } from '../api';
import type { CanvasRow, FlowData, Problem } from '../types';

export function saveMessage(problems: Problem[]): string {
  const errors = problems.filter((p) => p.level === 'error').length;
  return errors ? `Saved as a draft: ${errors} problem${errors > 1 ? 's' : ''} to fix.` : 'Saved.';
}

export async function saveCanvas(
  id: string,
  name: string,
  flowData: FlowData,
  saved: (row: CanvasRow) => void,
  say: (notice: string) => void,
): Promise<boolean> {
  try {
    const row = await api.updateCanvas(id, { name, flowData });
    saved(row);
    say(saveMessage(row.problems ?? []));
    return (row.problems ?? []).every((p) => p.level !== 'error');
  } catch (e) {
    say(e instanceof ApiError ? e.message : String(e));
    return false;
  }
}
