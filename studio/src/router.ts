// Paths under /studio/: the canvas list, an editor, credentials, API keys.
import { useEffect, useState } from 'react';

export type Route =
  | { page: 'canvases' }
  | { page: 'editor'; id: string }
  | { page: 'credentials' }
  | { page: 'keys' };

export function parse(pathname: string): Route {
  const rest = pathname.replace(/^\/studio\/?/, '');
  const [head, arg] = rest.split('/');
  if (head === 'canvas' && arg) return { page: 'editor', id: decodeURIComponent(arg) };
  if (head === 'credentials') return { page: 'credentials' };
  if (head === 'keys') return { page: 'keys' };
  return { page: 'canvases' };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'editor':
      return `/studio/canvas/${encodeURIComponent(route.id)}`;
    case 'credentials':
      return '/studio/credentials';
    case 'keys':
      return '/studio/keys';
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
