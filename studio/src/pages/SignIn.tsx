import { useState } from 'react';
import { api } from '../api';

// Asked once: the key becomes an HttpOnly session cookie; the page keeps nothing.
export function SignIn() {
  const [key, setKey] = useState('');
  const [error, setError] = useState('');
  return (
    <form
      className="signin"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const s = await api.signIn(key.trim());
          if (!s.admin) {
            setError('That key is not an admin key: the studio needs one.');
            return;
          }
          location.reload();
        } catch {
          setError('That key is not valid.');
        }
      }}
    >
      <h1>canvasflow studio</h1>
      <p>Sign in with the admin API key (printed at the server's first start, kept in its data dir as admin.key).</p>
      <input
        id="signin-key"
        type="password"
        autoComplete="off"
        placeholder="cf_…"
        aria-label="Admin API key"
        value={key}
        onChange={(e) => setKey(e.target.value)}
      />
      <button type="submit">Sign in</button>
      {error && <p className="error">{error}</p>}
    </form>
  );
}
