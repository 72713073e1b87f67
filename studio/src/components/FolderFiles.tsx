// The files a Folder with Files node reads (its folder under the server's files folder):
// listed with their sizes, uploaded one request per file (a file picker, a whole folder,
// or dropped here) with progress, and deleted one by one.
import { useCallback, useEffect, useState } from 'react';
import type { SchemaFolderOut } from '../api-types';
import { request } from '../api';

type Folder = SchemaFolderOut;

const q = (folder: string, path?: string) =>
  `folder=${encodeURIComponent(folder)}${path === undefined ? '' : `&path=${encodeURIComponent(path)}`}`;

/** One file's upload, with its progress (fetch cannot report an upload's progress). */
function upload(folder: string, path: string, file: File, onProgress: (done: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/api/v1/files?${q(folder, path)}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status < 300) return resolve();
      let message = xhr.statusText;
      try {
        message = JSON.parse(xhr.responseText).message ?? message;
      } catch {
        // not JSON
      }
      reject(new Error(`${path}: ${message}`));
    };
    xhr.onerror = () => reject(new Error(`${path}: the upload failed`));
    xhr.send(file);
  });
}

export const kib = (n: number) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);

export function FolderFiles({ folder }: { folder: string }) {
  const [listing, setListing] = useState<Folder | null>(null);
  const [progress, setProgress] = useState('');
  const [error, setError] = useState('');
  const name = folder.replace(/^\/+|\/+$/g, '');
  const load = useCallback(() => {
    if (!name) return;
    request<Folder>('GET', `/api/v1/files?${q(name)}`).then(setListing, (e: Error) => setError(e.message));
  }, [name]);
  useEffect(load, [load]);

  const send = async (files: File[]) => {
    setError('');
    const total = files.reduce((n, f) => n + f.size, 0);
    let sent = 0;
    try {
      for (const [i, file] of files.entries()) {
        // a folder's files keep their place under it (its own name left out)
        const rel = (file as File & { webkitRelativePath?: string }).webkitRelativePath;
        const path = rel ? rel.split('/').slice(1).join('/') : file.name;
        await upload(name, path, file, (done) =>
          setProgress(`Uploading ${i + 1} of ${files.length}: ${path} (${Math.round(((sent + done) / Math.max(total, 1)) * 100)}%)`),
        );
        sent += file.size;
      }
      setProgress(`Uploaded ${files.length} file${files.length === 1 ? '' : 's'} (${kib(total)}).`);
    } catch (e) {
      setError((e as Error).message);
      setProgress('');
    }
    load();
  };

  if (!name) return <p className="hint">Name a folder above to upload files into it.</p>;
  return (
    <div
      className="folder-files"
      data-folder={name}
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        void send([...e.dataTransfer.files]);
      }}
    >
      <h4>Files in {name}/</h4>
      <div className="folder-actions">
        <label className="button ghost">
          Upload files
          <input type="file" multiple hidden onChange={(e) => e.target.files && void send([...e.target.files])} />
        </label>
        <label className="button ghost">
          Upload a folder
          <input
            type="file"
            multiple
            hidden
            {...({ webkitdirectory: '' } as Record<string, string>)}
            onChange={(e) => e.target.files && void send([...e.target.files])}
          />
        </label>
      </div>
      {progress && <p className="upload-progress" role="status">{progress}</p>}
      {error && <p className="problem error" role="alert">{error}</p>}
      {listing && !listing.files.length && (
        <p className="hint">No files yet: upload some, or drop them here.</p>
      )}
      {listing && listing.files.length > 0 && (
        <>
          <ul className="file-list">
            {listing.files.map((f) => (
              <li key={f.path}>
                <span className="file-path">{f.path}</span>
                <span className="file-size">{kib(f.size)}</span>
                <button
                  type="button"
                  className="ghost small"
                  aria-label={`Delete ${f.path}`}
                  onClick={() => request('DELETE', `/api/v1/files?${q(name, f.path)}`).then(load, (e: Error) => setError(e.message))}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
          <p className="hint">{listing.files.length} file{listing.files.length === 1 ? '' : 's'}, {kib(listing.totalBytes)}</p>
        </>
      )}
    </div>
  );
}
