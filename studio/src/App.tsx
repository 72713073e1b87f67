import { useEffect, useState } from 'react';
import { api, ApiError, type Session } from './api';
import { go, href, useRoute } from './router';
import { applyTheme, initialTheme, type Theme } from './theme';
import { CanvasList } from './pages/CanvasList';
import { Editor } from './pages/Editor';
import { Credentials } from './pages/Credentials';
import { Models } from './pages/Models';
import { Messages } from './pages/Messages';
import { Templates } from './pages/Templates';
import { Usage } from './pages/Usage';
import { Tools } from './pages/Tools';
import { Variables } from './pages/Variables';
import { DocumentStores } from './pages/DocumentStores';
import { DocumentStoreView } from './pages/DocumentStoreView';
import { ApiKeys } from './pages/ApiKeys';
import { SignIn } from './pages/SignIn';
import { Executions } from './pages/Executions';
import { ExecutionView } from './pages/ExecutionView';
import { Evaluations } from './pages/Evaluations';
import { EvaluationView } from './pages/EvaluationView';
import { DatasetView } from './pages/DatasetView';
import type { NodeDesc } from './types';

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null>(null);
  const [catalogue, setCatalogue] = useState<NodeDesc[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [theme, setTheme] = useState<Theme>(initialTheme);

  useEffect(() => applyTheme(theme), [theme]);
  useEffect(() => {
    api.session().then(setSession, (e) => setError(String(e)));
  }, []);
  const allowed = session !== null && (!session.authRequired || session.admin);
  useEffect(() => {
    if (!allowed) return;
    api.nodes().then(setCatalogue, (e: ApiError) => setError(e.message));
  }, [allowed]);

  // a run its owner shared: read-only, for anyone with the link
  if (route.page === 'shared') {
    return (
      <div className="app shared" data-ready="true">
        <header className="topbar">
          <strong className="brand">canvasflow · shared run</strong>
        </header>
        <ExecutionView id={route.id} shared />
      </div>
    );
  }
  if (error) return <p className="fatal">{error}</p>;
  if (session === null) return <p className="loading">Loading…</p>;
  if (!allowed) return <SignIn />;
  if (catalogue === null) return <p className="loading">Loading the node catalogue…</p>;

  const active = (page: string) =>
    route.page === page ||
    (page === 'executions' && route.page === 'execution') ||
    (page === 'evaluations' && (route.page === 'evaluation' || route.page === 'dataset')) ||
    (page === 'docstores' && route.page === 'docstore');
  const link = (
    page: | 'canvases'
      | 'credentials'
      | 'models'
      | 'keys'
      | 'executions'
      | 'evaluations'
      | 'variables'
      | 'docstores'
      | 'tools'
      | 'templates'
      | 'usage',
    label: string,
  ) => (
    <a
      href={href({ page })}
      className={active(page) ? 'active' : ''}
      onClick={(e) => {
        e.preventDefault();
        go({ page });
      }}
    >
      {label}
    </a>
  );

  return (
    <div className="app" data-ready="true">
      <header className="topbar">
        <strong className="brand">canvasflow studio</strong>
        <nav>
          {link('canvases', 'Canvases')}
          {link('templates', 'Templates')}
          {link('executions', 'Executions')}
          {link('evaluations', 'Evaluations')}
          {link('docstores', 'Document stores')}
          {link('usage', 'Usage')}
          {link('models', 'Models')}
          {link('tools', 'Tools')}
          {link('variables', 'Variables')}
          {link('credentials', 'Credentials')}
          {link('keys', 'API keys')}
          <a href="/docs">API docs</a>
        </nav>
        <button
          type="button"
          className="ghost"
          aria-label="Toggle dark mode"
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
        >
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
        {session.authRequired && (
          <button
            type="button"
            className="ghost"
            onClick={() => api.signOut().then(() => location.reload())}
          >
            Sign out
          </button>
        )}
      </header>
      {route.page === 'canvases' && <CanvasList catalogue={catalogue} />}
      {route.page === 'editor' && <Editor key={route.id} id={route.id} catalogue={catalogue} />}
      {route.page === 'credentials' && <Credentials />}
      {route.page === 'models' && <Models catalogue={catalogue} />}
      {route.page === 'tools' && <Tools />}
      {route.page === 'templates' && <Templates catalogue={catalogue} />}
      {route.page === 'usage' && <Usage />}
      {route.page === 'messages' && <Messages key={route.id} id={route.id} />}
      {route.page === 'variables' && <Variables />}
      {route.page === 'keys' && <ApiKeys />}
      {route.page === 'executions' && <Executions />}
      {route.page === 'execution' && <ExecutionView key={route.id} id={route.id} catalogue={catalogue} />}
      {route.page === 'evaluations' && <Evaluations />}
      {route.page === 'evaluation' && <EvaluationView key={route.id} id={route.id} />}
      {route.page === 'dataset' && <DatasetView key={route.id} id={route.id} />}
      {route.page === 'docstores' && <DocumentStores open={(id) => go({ page: 'docstore', id })} />}
      {route.page === 'docstore' && (
        <DocumentStoreView key={route.id} id={route.id} catalogue={catalogue} back={() => go({ page: 'docstores' })} />
      )}
    </div>
  );
}
