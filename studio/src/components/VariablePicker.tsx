import { useEffect, useRef, useState } from 'react';
import type { Variable } from '../variables';

// The {{ }} menu beside a text field that takes variables: what this node can see,
// grouped (chat, form, flow state, earlier nodes), filtered as you type.
export function VariablePicker({
  variables,
  open,
  onOpen,
  onPick,
}: {
  variables: Variable[];
  open: boolean;
  onOpen: (open: boolean) => void;
  onPick: (value: string) => void;
}) {
  const [filter, setFilter] = useState('');
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    setFilter('');
    const away = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) onOpen(false);
    };
    document.addEventListener('mousedown', away);
    return () => document.removeEventListener('mousedown', away);
  }, [open, onOpen]);
  const f = filter.toLowerCase();
  const shown = variables.filter((v) => !f || v.value.toLowerCase().includes(f) || v.label.toLowerCase().includes(f));
  const groups = [...new Set(shown.map((v) => v.group))];
  return (
    <div className="variable-picker" ref={box}>
      <button
        type="button"
        className="ghost small variable-button"
        aria-label="Insert a variable"
        aria-expanded={open}
        title="Insert a variable: the question, form inputs, flow state, earlier nodes' outputs"
        onClick={() => onOpen(!open)}
      >
        {'{{ }}'}
      </button>
      {open && (
        <div className="variable-menu" role="listbox" aria-label="Variables">
          <input
            autoFocus
            aria-label="Find a variable"
            placeholder="Find…"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') onOpen(false);
              if (e.key === 'Enter' && shown[0]) {
                e.preventDefault();
                onPick(shown[0].value);
              }
            }}
          />
          {groups.map((g) => (
            <div key={g} className="variable-group">
              <div className="variable-group-name">{g}</div>
              {shown
                .filter((v) => v.group === g)
                .map((v) => (
                  <button key={v.value} type="button" role="option" aria-selected={false} data-variable={v.value} onClick={() => onPick(v.value)}>
                    <code>{`{{ ${v.value} }}`}</code>
                    <span>{v.label}</span>
                  </button>
                ))}
            </div>
          ))}
          {shown.length === 0 && <p className="hint">Nothing matches.</p>}
        </div>
      )}
    </div>
  );
}
