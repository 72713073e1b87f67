// "Save as template": the canvas's flow as it is now (credentials left out) under
// My templates on the canvas list, to start new canvases from.
import { useState } from 'react';
import { api, ApiError } from '../api';
import type { CanvasRow } from '../types';

export function SaveAsTemplate({ canvas }: { canvas: CanvasRow }) {
  const [name, setName] = useState(canvas.name);
  const [description, setDescription] = useState('');
  const [notice, setNotice] = useState('');
  return (
    <fieldset className="save-template">
      <legend>Save as template</legend>
      <p className="hint">Its flow as saved now, credentials left out, under My templates on the canvas list.</p>
      <label>
        Name <input aria-label="Template name" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Description <input aria-label="Template description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <button
        type="button"
        className="ghost"
        onClick={async () => {
          try {
            await api.saveTemplate(canvas.id, name, description);
            setNotice(`Saved as the template "${name}".`);
          } catch (e) {
            setNotice(e instanceof ApiError ? e.message : String(e));
          }
        }}
      >
        Save as template
      </button>
      {notice && <p className="notice">{notice}</p>}
    </fieldset>
  );
}
