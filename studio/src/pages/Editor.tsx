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
import { useCallback, useMemo, useRef, useState } from 'react';
import { CanvasNode, CatalogueContext } from '../components/CanvasNode';
import { NodeForm } from '../components/NodeForm';
import { Palette } from '../components/Palette';
import { CanvasSettings } from '../components/CanvasSettings';
import { TestPanel, type NodeRun } from '../components/TestPanel';
import { GenerateAgentflow } from '../components/GenerateAgentflow';
import { ApiDialog } from '../components/ApiDialog';
import { VersionHistory } from '../components/VersionHistory';
import { useClipboard } from '../editor/clipboard';
import { connected, verdictOf } from '../editor/connections';
import { useUndoHistory } from '../editor/history';
import { READABLE_ZOOM, useCanvas } from '../editor/loading';
import { saveCanvas } from '../editor/saving';
import { useShortcuts } from '../editor/shortcuts';
import { useValidation } from '../editor/validation';
import { isAgentflowDesc, newNode, nextId, toFlow, type StudioNode } from '../graph';
import { variablesFor } from '../variables';
import { go } from '../router';
import { layout } from '../layout';
import type { FlowData, NodeDesc, Problem } from '../types';

const nodeTypes = { canvasNode: CanvasNode };

// The editor: the canvas board, the palette, the side panel. Each concern is a module
// of its own in ../editor (loading, undo history, validation, connections, clipboard,
// saving, shortcuts); this component wires them to the board.
function EditorInner({ id, catalogue }: { id: string; catalogue: NodeDesc[] }) {
  const byName = useMemo(() => new Map(catalogue.map((n) => [n.name, n])), [catalogue]);
  const [nodes, setNodes, onNodesChange] = useNodesState<StudioNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [notice, setNotice] = useState('');
  // what a template made just now needs before it answers (its card said so too)
  const [needs, setNeeds] = useState(() => sessionStorage.getItem(`cf-needs:${id}`) ?? '');
  const [dirty, setDirty] = useState(false);
  const [tab, setTab] = useState<'node' | 'test' | 'settings' | 'history'>('node');
  const flow = useReactFlow<StudioNode, Edge>();
  const wrapper = useRef<HTMLDivElement>(null);

  const { canvas, setCanvas, name, setName, load } = useCanvas(
    id,
    byName,
    flow,
    (placed, loadedEdges, loadedProblems) => {
      setNodes(placed);
      setEdges(loadedEdges);
      setProblems(loadedProblems);
    },
    setNotice,
  );
  const { flowData, problems, setProblems, shown, errors, deepCheck } = useValidation(canvas !== null, nodes, edges, byName);
  const changed = useCallback(() => setDirty(true), []);
  const { remember, undo, redo } = useUndoHistory(nodes, edges, setNodes, setEdges, changed);
  const { copy, paste } = useClipboard(nodes, edges, setNodes, setEdges, remember, setNotice);

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

  const verdict = (c: Connection | Edge) => verdictOf(c, nodes, byName);
  const isValidConnection: IsValidConnection<Edge> = (c) => verdict(c).ok;

  const onConnect = (c: Connection) => {
    const v = verdict(c);
    if (!v.ok) {
      setNotice(`Connection refused: ${v.reason}`);
      return;
    }
    remember();
    setEdges((all) => connected(c, all, nodes, byName));
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

  const [generating, setGenerating] = useState(false);
  const [showApi, setShowApi] = useState(false);
  // a generated draft replaces the canvas (undoable), laid out, checked, not saved
  const draft = (generated: FlowData, found: Problem[]) => {
    remember();
    const parsed = toFlow(generated, byName);
    setNodes(layout(parsed.nodes, parsed.edges));
    setEdges(parsed.edges);
    setProblems(found);
    setDirty(true);
    setGenerating(false);
    setNotice(`A draft of ${parsed.nodes.length} nodes: look it over, fill in what is missing, then save.`);
    setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1, minZoom: READABLE_ZOOM }), 50);
  };

  const arrange = () => {
    remember();
    setNodes(layout(nodes, edges));
    // never so far out that node text cannot be read: a large canvas is then panned
    setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1, minZoom: READABLE_ZOOM }), 50);
  };

  const save = () =>
    saveCanvas(
      id,
      name,
      flowData,
      (row) => {
        setCanvas(row);
        setProblems(row.problems ?? []);
        setDirty(false);
      },
      setNotice,
    );

  useShortcuts({ save, undo, redo, copy, paste, fit: () => flow.fitView({ padding: 0.2 }) });

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
      {showApi && <ApiDialog canvas={canvas} onClose={() => setShowApi(false)} onSaved={setCanvas} />}
      {generating && (
        <GenerateAgentflow
          replacing={nodes.some((n) => n.data.name !== 'startAgentflow')}
          onDraft={draft}
          onClose={() => setGenerating(false)}
        />
      )}
      <div className="editor">
        <Palette catalogue={paletteNodes} onAdd={(n) => addNode(n)} />
        <section className="board">
          {needs && (
            <div className="needs-banner" role="note">
              <span>This canvas needs {needs}.</span>
              {/key/.test(needs) ? (
                <>
                  <a href="/studio/models">Set a model on the Models page</a>
                  <button type="button" className="ghost small" onClick={() => { setNotice('Checking the models…'); deepCheck().then(setNotice, (e: Error) => setNotice(e.message)); }}>
                    Check it
                  </button>
                </>
              ) : null}
              <button
                type="button"
                className="ghost small"
                aria-label="Dismiss"
                onClick={() => {
                  sessionStorage.removeItem(`cf-needs:${id}`);
                  setNeeds('');
                }}
              >
                ×
              </button>
            </div>
          )}
          <div className="board-bar">
            <input className="canvas-title" aria-label="Canvas name" value={name} onChange={(e) => { setName(e.target.value); setDirty(true); }} />
            <button type="button" id="save" onClick={save}>Save{dirty ? ' •' : ''}</button>
            <button type="button" className="ghost" onClick={undo} title="Undo (Ctrl+Z)">Undo</button>
            <button type="button" className="ghost" onClick={redo} title="Redo (Ctrl+Shift+Z)">Redo</button>
            <button type="button" className="ghost" onClick={arrange} title="Lay the nodes out">Arrange</button>
            <button type="button" className="ghost" id="api-dialog" onClick={() => setShowApi(true)} title="Call this canvas from your code">
              API
            </button>
            <button type="button" className="ghost" id="messages" onClick={() => go({ page: 'messages', id })} title="Its conversations, leads and usage">
              Messages
            </button>
            {(agentflowCanvas || nodes.length === 0) && (
              <button type="button" className="ghost" id="generate" onClick={() => setGenerating(true)} title="Draft an agentflow from a description, with a chat model">
                Generate
              </button>
            )}
            <button
              type="button"
              className="ghost"
              id="check"
              title="Ask each model's provider whether it answers with the key it would use (no tokens spent)"
              onClick={() => {
                setNotice('Checking the models…');
                deepCheck().then(setNotice, (e: Error) => setNotice(e.message));
              }}
            >
              Check
            </button>
            <span className="problems-count" data-errors={errors}>
              {errors === 1 ? '1 problem' : `${errors} problems`}
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
                choices={{
                  nodes: nodes.filter((n) => n.id !== selected.id).map((n) => ({ id: n.id, label: n.data.label })),
                  variables: selectedDesc.agentflow ? variablesFor(selected.id, nodes, edges) : undefined,
                }}
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
              settingsKey={canvas ? JSON.stringify(canvas.settings) : ''}
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
