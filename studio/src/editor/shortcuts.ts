// The editor's keyboard: save anywhere; undo, redo, copy, paste and fit only when no
// field has the focus (a text field keeps its own undo and clipboard).
import { useEffect } from 'react';

export interface Shortcuts {
  save: () => void;
  undo: () => void;
  redo: () => void;
  copy: () => void;
  paste: () => void;
  fit: () => void;
}

export const typing = (target: EventTarget | null) =>
  target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));

// the action a key press asks for, or null
export function shortcutOf(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'shiftKey'>, inField: boolean): keyof Shortcuts | null {
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (mod && key === 's') return 'save';
  if (inField) return null;
  if (mod && key === 'z' && !e.shiftKey) return 'undo';
  if (mod && (key === 'y' || (key === 'z' && e.shiftKey))) return 'redo';
  if (mod && key === 'c') return 'copy';
  if (mod && key === 'v') return 'paste';
  if (e.shiftKey && e.key === '!') return 'fit';
  return null;
}

export function useShortcuts(actions: Shortcuts) {
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      const action = shortcutOf(e, typing(e.target));
      if (action === null) return;
      if (action === 'save' || action === 'undo' || action === 'redo') e.preventDefault();
      actions[action]();
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });
}
