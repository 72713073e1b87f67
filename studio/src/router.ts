// Paths under /studio/: the canvas list, an editor, credentials, models, API keys, executions
// (a list, one run), a shared run (read-only, no sign-in), evaluations (runs, datasets,
// evaluators; one run; one dataset).
import { useEffect, useState } from 'react';

export type Route =
  | { page: 'canvases' }
  | { page: 'editor'; id: string }
  | { page: 'credentials' }
  | { page: 'models' }
  | { page: 'variables' }
  | { page: 'templates' }
  | { page: 'usage' }
  | { page: 'messages'; id: string }
  | { page: 'tools' }
  | { page: 'keys' }
  | { page: 'executions' }
  | { page: 'execution'; id: string }
  | { page: 'shared'; id: string }
  | { page: 'evaluations' }
  | { page: 'evaluation'; id: string }
  | { page: 'dataset'; id: string }
  | { page: 'docstores' }
  | { page: 'docstore'; id: string };

export function parse(pathname: string): Route {
  const rest = pathname.replace(/^\/studio\/?/, '');
  const [head, arg] = rest.split('/');
  if (head === 'canvas' && arg) return { page: 'editor', id: decodeURIComponent(arg) };
  if (head === 'credentials') return { page: 'credentials' };
  if (head === 'models') return { page: 'models' };
  if (head === 'variables') return { page: 'variables' };
  if (head === 'templates') return { page: 'templates' };
  if (head === 'usage') return { page: 'usage' };
  if (head === 'messages' && arg) return { page: 'messages', id: decodeURIComponent(arg) };
  if (head === 'tools') return { page: 'tools' };
  if (head === 'keys') return { page: 'keys' };
  if (head === 'executions' && arg) return { page: 'execution', id: decodeURIComponent(arg) };
  if (head === 'executions') return { page: 'executions' };
  if (head === 'shared' && arg) return { page: 'shared', id: decodeURIComponent(arg) };
  if (head === 'evaluations' && arg) return { page: 'evaluation', id: decodeURIComponent(arg) };
  if (head === 'evaluations') return { page: 'evaluations' };
  if (head === 'datasets' && arg) return { page: 'dataset', id: decodeURIComponent(arg) };
  if (head === 'document-stores' && arg) return { page: 'docstore', id: decodeURIComponent(arg) };
  if (head === 'document-stores') return { page: 'docstores' };
  return { page: 'canvases' };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'editor':
      return `/studio/canvas/${encodeURIComponent(route.id)}`;
    case 'credentials':
      return '/studio/credentials';
    case 'models':
      return '/studio/models';
    case 'variables':
      return '/studio/variables';
    case 'templates':
      return '/studio/templates';
    case 'usage':
      return '/studio/usage';
    case 'messages':
      return `/studio/messages/${encodeURIComponent(route.id)}`;
    case 'tools':
      return '/studio/tools';
    case 'keys':
      return '/studio/keys';
    case 'executions':
      return '/studio/executions';
    case 'execution':
      return `/studio/executions/${encodeURIComponent(route.id)}`;
    case 'shared':
      return `/studio/shared/${encodeURIComponent(route.id)}`;
    case 'evaluations':
      return '/studio/evaluations';
    case 'evaluation':
      return `/studio/evaluations/${encodeURIComponent(route.id)}`;
    case 'dataset':
      return `/studio/datasets/${encodeURIComponent(route.id)}`;
    case 'docstores':
      return '/studio/document-stores';
    case 'docstore':
      return `/studio/document-stores/${encodeURIComponent(route.id)}`;
    default:
      return '/studio/';
  }
}

export function go(route: Route): void {
  history.pushState(null, '', href(route));
  dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.pathname));
  useEffect(() => {
    const on = () => setRoute(parse(location.pathname));
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  return route;
}
