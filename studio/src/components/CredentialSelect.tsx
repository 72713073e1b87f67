import { useEffect, useState } from 'react';
import { api, type Credential } from '../api';

// A stored credential of the given kinds, picked by name ("none": the server's own key);
// a form's field where no new credential is made (the node form's CredentialField does).
export function CredentialSelect({
  label,
  kinds,
  value,
  onChange,
  none = "(none: the server's key)",
}: {
  label: string;
  kinds: string[];
  value: string;
  onChange: (id: string) => void;
  none?: string;
}) {
  const [all, setAll] = useState<Credential[]>([]);
  useEffect(() => {
    api.credentials().then(setAll, () => setAll([]));
  }, []);
  return (
    <label>
      Credential
      <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{none}</option>
        {all
          .filter((c) => kinds.includes(c.credentialName))
          .map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
      </select>
    </label>
  );
}
