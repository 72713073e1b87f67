import { useEffect, useMemo, useState } from 'react';
import { api, ApiError, type MarketplaceTemplate } from '../api';
import { go } from '../router';
import { startFrom, TEMPLATES } from '../templates';
import type { NodeDesc } from '../types';

type Filter = 'all' | 'Chatflow' | 'AgentflowV2' | 'runs';

// Flowise's marketplace (its 24 chatflows and 13 agentflows, shipped with canvasflow under
// their licence) as cards: what each is, its nodes, and what canvasflow's validator says
// it needs on this server. "Use this template" makes a canvas and opens its problems.
export function Templates({ catalogue }: { catalogue: NodeDesc[] }) {
  const byName = useMemo(() => new Map(catalogue.map((d) => [d.name, d])), [catalogue]);
  const [all, setAll] = useState<MarketplaceTemplate[] | null>(null);
  const [filter, setFilter] = useState<Filter>('all');
  const [search, setSearch] = useState('');
  const [notice, setNotice] = useState('');
  useEffect(() => {
    api.marketplace().then(setAll, (e: ApiError) => setNotice(e.message));
  }, []);
  const shown = useMemo(() => {
    const s = search.trim().toLowerCase();
    return (all ?? []).filter(
      (t) =>
        (filter === 'all' || (filter === 'runs' ? t.runs : t.type === filter)) &&
        (!s || `${t.templateName} ${t.description} ${(t.usecases ?? []).join(' ')} ${(t.nodes ?? []).join(' ')}`.toLowerCase().includes(s)),
    );
  }, [all, filter, search]);
  const use = async (t: MarketplaceTemplate) => {
    try {
      const made = await api.importCanvas({ name: t.templateName, flowData: t.flowData }, t.templateName);
      // said in the editor's banner: "This canvas needs ..."
      const said = (t.needs ?? []).map((n) =>
        n.startsWith('not supported: ') ? `a node in place of ${n.slice(15)} (canvasflow lacks it)` : n.replace(/^to fill in: /, ''),
      );
      if (said.length) sessionStorage.setItem(`cf-needs:${made.id}`, said.join('; '));
      go({ page: 'editor', id: made.id });
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : String(err));
    }
  };
  const count = (f: Filter) => (all ?? []).filter((t) => f === 'all' || (f === 'runs' ? t.runs : t.type === f)).length;
  return (
    <main className="list-page templates-page">
      <h2>Templates</h2>
      <p className="hint">
        Flowise's marketplace templates (Flowise 3.1.2, Apache 2.0), checked against this server: what each needs before it
        answers is said on its card. Your own saved templates are on the canvas list.
      </p>
      <div className="template-filters">
        <input type="search" aria-label="Search templates" placeholder="Search templates" value={search} onChange={(e) => setSearch(e.target.value)} />
        {(
          [
            ['all', 'All'],
            ['Chatflow', 'Chatflows'],
            ['AgentflowV2', 'Agentflows'],
            ['runs', 'Runs as it is'],
          ] as const
        ).map(([f, label]) => (
          <button key={f} type="button" className={filter === f ? 'small' : 'ghost small'} aria-pressed={filter === f} onClick={() => setFilter(f)}>
            {label} ({count(f)})
          </button>
        ))}
      </div>
      {filter === 'all' && !search.trim() && (
        <>
          <h3>canvasflow's starters</h3>
          <section className="gallery starters">
            {TEMPLATES.map((t) => (
              <article key={t.key} className="card template" data-template={t.name}>
                <header className="template-head">
                  <h3>{t.name}</h3>
                  <span className={`badge ${t.key.startsWith('agentflow') ? 'agentflow' : 'chatflow'}`}>{t.offline ? 'runs offline' : 'needs a key'}</span>
                </header>
                <p>{t.description}</p>
                {t.needs && <ul className="needs-list"><li>{t.needs}</li></ul>}
                <button type="button" onClick={async () => go({ page: 'editor', id: await startFrom(t, byName) })}>
                  Use this template
                </button>
              </article>
            ))}
          </section>
          <h3>Flowise's marketplace</h3>
        </>
      )}
      {all === null && !notice && <p className="loading">Loading the templates…</p>}
      {all !== null && shown.length === 0 && <p className="empty">No template matches.</p>}
      <section className="gallery">
        {shown.map((t) => (
          <article key={t.id} className="card template marketplace" data-template={t.templateName}>
            <header className="template-head">
              <h3>{t.templateName}</h3>
              <span className={`badge ${t.type === 'AgentflowV2' ? 'agentflow' : 'chatflow'}`}>{t.type === 'AgentflowV2' ? 'Agentflow' : 'Chatflow'}</span>
            </header>
            <p>{t.description}</p>
            <p className="tag">
              {[...(t.usecases ?? []), ...(t.categories ?? [])].join(' · ')}
            </p>
            <p className="template-nodes" title={(t.nodes ?? []).join(', ')}>
              {(t.nodes ?? []).slice(0, 6).join(' · ')}
              {(t.nodes?.length ?? 0) > 6 ? ` · +${t.nodes!.length - 6}` : ''}
            </p>
            {t.runs ? (
              <p className="needs ok">Runs as it is on this server.</p>
            ) : (
              <ul className="needs-list" aria-label="What it needs">
                {(t.needs ?? []).slice(0, 4).map((n) => (
                  <li key={n} className={n.startsWith('not supported') ? 'bad' : ''}>
                    {n.replace(/^to fill in: /, 'fill in: ')}
                  </li>
                ))}
                {(t.needs?.length ?? 0) > 4 && <li>and {t.needs!.length - 4} more</li>}
              </ul>
            )}
            <button type="button" onClick={() => use(t)}>
              Use this template
            </button>
          </article>
        ))}
      </section>
      {notice && <p className="notice" role="status">{notice}</p>}
    </main>
  );
}
