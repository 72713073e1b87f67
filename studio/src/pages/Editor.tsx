import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type Edge,
  type IsValidConnection,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, ApiError } from '../api';
import { CanvasNode, CatalogueContext } from '../components/CanvasNode';
import { NodeForm } from '../components/NodeForm';
import { Palette } from '../components/Palette';
import { CanvasSettings } from '../components/CanvasSettings';
import { TestPanel, type NodeRun } from '../components/TestPanel';
import { VersionHistory } from '../components/VersionHistory';
import {
  canConnect,
  canConnectAgentflow,
  fromFlow,
  inputOfHandle,
  isAgentflowDesc,
  newNode,
  nextId,
  toFlow,
  type StudioNode,
} from '../graph';
import { layout } from '../layout';
import type { CanvasRow, NodeDesc, Problem } from '../types';

// the smallest zoom at which a node's label and anchors stay readable
const READABLE_ZOOM = 0.6;

const nodeTypes = { canvasNode: CanvasNode };

interface Snapshot {
  nodes: StudioNode[];
  edges: Edge[];
}

const clean = (nodes: StudioNode[]): StudioNode[] =>
  nodes.map((n) => ({ ...n, selected: false, data: { name: n.data.name, label: n.data.label, inputs: n.data.inputs } }));

const typing = (target: EventTarget | null) =>
  target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));

function EditorInner({ id, catalogue }: { id: string; catalogue: NodeDesc[] }) {
  const byName = useMemo(() => new Map(catalogue.map((n) => [n.name, n])), [catalogue]);
  const [canvas, setCanvas] = useState<CanvasRow | null>(null);
  const [nodes, setNodes, onNodesChange] = useNodesState<StudioNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [notice, setNotice] = useState('');
  const [dirty, setDirty] = useState(false);
  const [tab, setTab] = useState<'node' | 'test' | 'settings' | 'history'>('node');
  const [name, setName] = useState('');
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const clipboard = useRef<Snapshot | null>(null);
  const flow = useReactFlow<StudioNode, Edge>();
  const wrapper = useRef<HTMLDivElement>(null);

  // -- loading -----------------------------------------------------------------------
  const load = () =>
    api.canvas(id).then(
      (row) => {
        setCanvas(row);
        setName(row.name);
        const parsed = toFlow(JSON.parse(row.flowData || '{"nodes":[],"edges":[]}'), byName);
        const placed = parsed.needsLayout ? layout(parsed.nodes, parsed.edges) : parsed.nodes;
        setNodes(placed);
        setEdges(parsed.edges);
        setProblems(row.problems);
        if (placed.length) setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1, minZoom: READABLE_ZOOM }), 50);
      },
      (e: ApiError) => setNotice(e.message),
    );
  useEffect(() => {
    load();
  }, [id]); // eslint-disable-line react-hooks/exhaustive-deps

  // -- history -------------------------------------------------------------------------
  const remember = useCallback(() => {
    past.current.push({ nodes: clean(nodes), edges });
    if (past.current.length > 100) past.current.shift();
    future.current = [];
    setDirty(true);
  }, [nodes, edges]);

  const restore = (from: Snapshot[], to: Snapshot[]) => {
    const snap = from.pop();
    if (!snap) return;
    to.push({ nodes: clean(nodes), edges });
    setNodes(snap.nodes);
    setEdges(snap.edges);
    setDirty(true);
  };
  const undo = () => restore(past.current, future.current);
  const redo = () => restore(future.current, past.current);

  // -- problems, as the user edits ------------------------------------------------------
  const flowData = useMemo(() => fromFlow(nodes, edges, byName), [nodes, edges, byName]);
  const structure = useMemo(
    () => JSON.stringify({ n: flowData.nodes.map((n) => [n.id, n.data.inputs]), e: flowData.edges.map((e) => [e.source, e.target, e.targetHandle]) }),
    [flowData],
  );
  useEffect(() => {
    if (!canvas) return;
    const timer = setTimeout(() => {
      api.validate(flowData).then((v) => setProblems(v.problems), () => undefined);
    }, 300);
    return () => clearTimeout(timer);
  }, [structure]); // eslint-disable-line react-hooks/exhaustive-deps

  const shown = useMemo(
    () => nodes.map((n) => ({ ...n, data: { ...n.data, problems: problems.filter((p) => p.nodeId === n.id) } })),
    [nodes, problems],
  );

  // -- editing ---------------------------------------------------------------------------
  const addNode = (nodeName: string, position?: { x: number; y: number }) => {
    const desc = byName.get(nodeName);
    if (!desc) return;
    remember();
    const at = position ?? flow.screenToFlowPosition({ x: 400, y: 300 });
    const node = newNode(desc, nextId(nodeName, nodes.map((n) => n.id)), at);
    setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), { ...node, selected: true }]);
    setTab('node');
  };

  const verdict = (c: Connection | Edge) => {
    const source = nodes.find((n) => n.id === c.source);
    const target = nodes.find((n) => n.id === c.target);
    const sdesc = source && byName.get(source.data.name);
    const tdesc = target && byName.get(target.data.name);
    if (!sdesc || !tdesc || !c.target) return { ok: false as const, reason: 'unknown node' };
    if (c.source === c.target) return { ok: false as const, reason: 'a node cannot feed itself' };
    if (isAgentflowDesc(sdesc) || isAgentflowDesc(tdesc)) return canConnectAgentflow(sdesc, tdesc, c.source, c.target);
    return canConnect(sdesc, tdesc, inputOfHandle(c.targetHandle, c.target));
  };

  const isValidConnection: IsValidConnection<Edge> = (c) => verdict(c).ok;

  const onConnect = (c: Connection) => {
    const v = verdict(c);
    if (!v.ok) {
      setNotice(`Connection refused: ${v.reason}`);
      return;
    }
    remember();
    const target = nodes.find((n) => n.id === c.target)!;
    if (isAgentflowDesc(byName.get(target.data.name))) {
      // an agentflow edge: from a branch of one node to another node
      const edgeId = `${c.source}-${c.sourceHandle}-${c.target}`;
      setEdges((all) => [
        ...all.filter((e) => e.id !== edgeId),
        { id: edgeId, source: c.source, target: c.target, sourceHandle: c.sourceHandle, targetHandle: c.target },
      ]);
      setNotice('');
      return;
    }
    const input = byName.get(target.data.name)!.inputs.find((i) => i.name === inputOfHandle(c.targetHandle, c.target));
    setEdges((all) => {
      // an input that takes one node swaps the old connection for the new one
      const kept = input?.list ? all : all.filter((e) => !(e.target === c.target && e.targetHandle === c.targetHandle));
      return [...kept, { id: `${c.source}-${c.target}-${input?.name}`, source: c.source, target: c.target, sourceHandle: c.sourceHandle, targetHandle: c.targetHandle }];
    });
    setNotice('');
  };

  const onConnectEnd = (_: unknown, state: { isValid: boolean | null; fromNode: { id: string } | null; toNode: { id: string } | null; toHandle: { id?: string | null } | null }) => {
    if (state.isValid === false && state.fromNode && state.toNode) {
      const v = verdict({ source: state.fromNode.id, target: state.toNode.id, sourceHandle: null, targetHandle: state.toHandle?.id ?? null });
      if (!v.ok) setNotice(`Connection refused: ${v.reason}`);
    }
  };

  const setInput = (nodeId: string, key: string, value: unknown) => {
    remember();
    setNodes((all) => all.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, inputs: { ...n.data.inputs, [key]: value } } } : n)));
  };
  const setLabel = (nodeId: string, label: string) =>
    setNodes((all) => all.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, label } } : n)));

  const copy = () => {
    const chosen = nodes.filter((n) => n.selected);
    const ids = new Set(chosen.map((n) => n.id));
    clipboard.current = { nodes: clean(chosen), edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
    if (chosen.length) setNotice(`Copied ${chosen.length} node${chosen.length > 1 ? 's' : ''}.`);
  };
  const paste = () => {
    const clip = clipboard.current;
    if (!clip?.nodes.length) return;
    remember();
    const taken = nodes.map((n) => n.id);
    const rename = new Map<string, string>();
    for (const n of clip.nodes) {
      const fresh = nextId(n.data.name, [...taken, ...rename.values()]);
      rename.set(n.id, fresh);
    }
    const pasted = clip.nodes.map((n) => ({
      ...n,
      id: rename.get(n.id)!,
      selected: true,
      position: { x: n.position.x + 40, y: n.position.y + 40 },
    }));
    const swap = (h: string | null | undefined, oldId: string, newId: string) => (h ? h.replace(`${oldId}-`, `${newId}-`) : h);
    const pastedEdges = clip.edges.map((e) => {
      const s = rename.get(e.source)!;
      const t = rename.get(e.target)!;
      return { ...e, id: `${s}-${t}-${e.id}`, source: s, target: t, sourceHandle: swap(e.sourceHandle, e.source, s), targetHandle: swap(e.targetHandle, e.target, t) };
    });
    setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), ...pasted]);
    setEdges((all) => [...all, ...pastedEdges]);
  };

  const arrange = () => {
    remember();
    setNodes(layout(nodes, edges));
    // never so far out that node text cannot be read: a large canvas is then panned
    setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1, minZoom: READABLE_ZOOM }), 50);
  };

  const save = async (): Promise<boolean> => {
    try {
      const row = await api.updateCanvas(id, { name, flowData });
      setCanvas(row);
      setProblems(row.problems);
      setDirty(false);
      const errors = row.problems.filter((p) => p.level === 'error').length;
      setNotice(errors ? `Saved as a draft: ${errors} problem${errors > 1 ? 's' : ''} to fix.` : 'Saved.');
      return errors === 0;
    } catch (e) {
      setNotice(e instanceof ApiError ? e.message : String(e));
      return false;
    }
  };

  // -- keyboard -----------------------------------------------------------------------
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === 's') {
        e.preventDefault();
        save();
        return;
      }
      if (typing(e.target)) return;
      if (mod && e.key.toLowerCase() === 'z' && !e.shiftKey) {
        e.preventDefault();
        undo();
      } else if (mod && (e.key.toLowerCase() === 'y' || (e.key.toLowerCase() === 'z' && e.shiftKey))) {
        e.preventDefault();
        redo();
      } else if (mod && e.key.toLowerCase() === 'c') {
        copy();
      } else if (mod && e.key.toLowerCase() === 'v') {
        paste();
      } else if (e.shiftKey && e.key === '!') {
        flow.fitView({ padding: 0.2 });
      }
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  });

  // -- the test panel's lights --------------------------------------------------------------
  const onNodeRun = (run: NodeRun) =>
    setNodes((all) =>
      all.map((n) => (n.id === run.nodeId ? { ...n, data: { ...n.data, status: run.status, ms: run.ms, tokens: run.tokens } } : n)),
    );
  const resetRuns = () =>
    setNodes((all) => all.map((n) => ({ ...n, data: { ...n.data, status: undefined, ms: undefined, tokens: undefined } })));

  // an agentflow is built from agentflow nodes (and a chatflow from the others)
  const agentflowCanvas = nodes.some((n) => isAgentflowDesc(byName.get(n.data.name)));
  const paletteNodes = nodes.length
    ? catalogue.filter((d) => isAgentflowDesc(d) === agentflowCanvas)
    : catalogue;

  const selected = nodes.find((n) => n.selected);
  const selectedDesc = selected && byName.get(selected.data.name);
  const theme = document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light';

  if (!canvas) return <p className="loading">{notice || 'Loading the canvas…'}</p>;

  return (
    <CatalogueContext.Provider value={byName}>
      <div className="editor">
        <Palette catalogue={paletteNodes} onAdd={(n) => addNode(n)} />
        <section className="board">
          <div className="board-bar">
            <input className="canvas-title" aria-label="Canvas name" value={name} onChange={(e) => { setName(e.target.value); setDirty(true); }} />
            <button type="button" id="save" onClick={save}>Save{dirty ? ' •' : ''}</button>
            <button type="button" className="ghost" onClick={undo} title="Undo (Ctrl+Z)">Undo</button>
            <button type="button" className="ghost" onClick={redo} title="Redo (Ctrl+Shift+Z)">Redo</button>
            <button type="button" className="ghost" onClick={arrange} title="Lay the nodes out">Arrange</button>
            <span className="problems-count" data-errors={problems.filter((p) => p.level === 'error').length}>
              {(() => {
                const n = problems.filter((p) => p.level === 'error').length;
                return n === 1 ? '1 problem' : `${n} problems`;
              })()}
            </span>
            {notice && <span className="notice" role="status">{notice}</span>}
          </div>
          <div
            className="flow"
            ref={wrapper}
            onDragOver={(e) => {
              e.preventDefault();
              e.dataTransfer.dropEffect = 'move';
            }}
            onDrop={(e) => {
              e.preventDefault();
              const nodeName = e.dataTransfer.getData('application/canvasflow-node');
              if (nodeName) addNode(nodeName, flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
            }}
          >
            <ReactFlow<StudioNode, Edge>
              nodes={shown}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={(changes) => {
                if (changes.some((c) => c.type === 'remove')) remember();
                onNodesChange(changes);
              }}
              onEdgesChange={(changes) => {
                if (changes.some((c) => c.type === 'remove')) remember();
                onEdgesChange(changes);
              }}
              onNodeDragStart={() => remember()}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd as never}
              isValidConnection={isValidConnection}
              deleteKeyCode={['Backspace', 'Delete']}
              colorMode={theme}
              defaultViewport={{ x: 0, y: 0, zoom: 1 }}
              fitViewOptions={{ padding: 0.2, maxZoom: 1 }}
              minZoom={0.2}
            >
              <Background gap={18} />
              <Controls />
              <MiniMap pannable zoomable />
            </ReactFlow>
          </div>
        </section>
        <aside className="side">
          <nav className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={tab === 'node'} onClick={() => setTab('node')}>Node</button>
            <button type="button" role="tab" aria-selected={tab === 'test'} onClick={() => setTab('test')}>Test</button>
            <button type="button" role="tab" aria-selected={tab === 'settings'} onClick={() => setTab('settings')}>Settings</button>
            <button type="button" role="tab" aria-selected={tab === 'history'} onClick={() => setTab('history')}>History</button>
          </nav>
          <div hidden={tab !== 'node'}>
            {selected && selectedDesc ? (
              <NodeForm
                key={selected.id}
                node={selected}
                desc={selectedDesc}
                problems={problems.filter((p) => p.nodeId === selected.id)}
                onChange={(k, v) => setInput(selected.id, k, v)}
                onLabel={(l) => setLabel(selected.id, l)}
                choices={{ nodes: nodes.filter((n) => n.id !== selected.id).map((n) => ({ id: n.id, label: n.data.label })) }}
              />
            ) : (
              <div className="empty-form">
                <p>Select a node to edit it, or drag one from the left.</p>
                {problems.length > 0 && (
                  <ul className="all-problems">
                    {problems.map((p, i) => (
                      <li key={i} className={`problem ${p.level}`}>{p.message}</li>
                    ))}
                  </ul>
                )}
              </div>
            )}
          </div>
          <div hidden={tab !== 'test'}>
            <TestPanel
              canvasId={id}
              beforeRun={async () => (dirty ? save() : problems.every((p) => p.level !== 'error') || save())}
              onNode={onNodeRun}
              onStart={resetRuns}
            />
          </div>
          <div hidden={tab !== 'settings'}>
            <CanvasSettings canvas={canvas} onSaved={setCanvas} />
          </div>
          <div hidden={tab !== 'history'}>
            {tab === 'history' && (
              <VersionHistory
                canvas={canvas}
                onChanged={load}
                onCompare={(ids) =>
                  setNodes((all) => all.map((n) => ({ ...n, data: { ...n.data, changed: ids.has(n.id) } })))
                }
              />
            )}
          </div>
        </aside>
      </div>
    </CatalogueContext.Provider>
  );
}

export function Editor(props: { id: string; catalogue: NodeDesc[] }) {
  return (
    <ReactFlowProvider>
      <EditorInner {...props} />
    </ReactFlowProvider>
  );
}
