import { useMemo, useState } from 'react';
import type { NodeDesc } from '../types';

// Every catalogue node, grouped by category, searchable; drag one onto the canvas.
export function Palette({ catalogue, onAdd }: { catalogue: NodeDesc[]; onAdd: (name: string) => void }) {
  const [search, setSearch] = useState('');
  const groups = useMemo(() => {
    const q = search.trim().toLowerCase();
    const found = catalogue.filter(
      (n) => !q || `${n.label} ${n.name} ${n.category} ${n.description}`.toLowerCase().includes(q),
    );
    const by = new Map<string, NodeDesc[]>();
    for (const n of found) by.set(n.category, [...(by.get(n.category) ?? []), n]);
    return [...by.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [catalogue, search]);
  return (
    <aside className="palette" aria-label="Nodes">
      <input
        type="search"
        placeholder="Search nodes"
        aria-label="Search nodes"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      {groups.map(([category, nodes]) => (
        <details key={category} open={search.trim() !== '' || groups.length < 4}>
          <summary>
            {category} <span className="count">{nodes.length}</span>
          </summary>
          {nodes.map((n) => (
            <div
              key={n.name}
              className={`palette-item${n.needs?.length ? ' unavailable' : ''}`}
              data-node={n.name}
              draggable
              title={n.needs?.length ? `${n.description} (needs ${n.needs.join(', ')}: pip install '${n.needs[0]}')` : n.description}
              onDragStart={(e) => {
                e.dataTransfer.setData('application/canvasflow-node', n.name);
                e.dataTransfer.effectAllowed = 'move';
              }}
              onDoubleClick={() => onAdd(n.name)}
            >
              <img src={n.icon} alt="" width={20} height={20} />
              <span>{n.label}</span>
              {n.needs?.length ? <small className="needs-extra">needs {n.needs.join(', ')}</small> : null}
            </div>
          ))}
        </details>
      ))}
    </aside>
  );
}
