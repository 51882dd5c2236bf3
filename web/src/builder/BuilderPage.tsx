import {
  ActionIcon,
  Alert,
  Badge,
  Box,
  Button,
  Drawer,
  Group,
  Loader,
  Menu,
  ScrollArea,
  Stack,
  Tabs,
  Text,
  Title,
  Tooltip,
} from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesInitialized,
  useReactFlow,
  type Edge,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useCallback, useContext, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useStore } from 'zustand';
import { api, ApiError, errorMessage, unwrap, type Chatbot, type Problem, type Validation } from '../api/client';
import { keys, useChatbot, useNodeTypes, usePatchChatbot, type NodeTypes } from '../api/queries';
import { DecorationsContext, FlowStoreContext, useFlow, useFlowStore, type CanvasDecorations, type CanvasProblem } from './context';
import classes from './flow.module.css';
import { FlowNodeView } from './FlowNodeView';
import { autoLayout, freePosition } from './layout';
import { behaviourKey, deserializeGraph, graphVariables, NODE_COLORS, NODE_LABELS, NODE_TYPES, plural, serializeGraph } from './model';
import { ProblemsList } from './ProblemsList';
import { SchemaForm, schemaText } from './SchemaForm';
import { BotSettingsModal, settingsKey } from './BotSettings';
import { createFlowStore, type FlowStore } from './store';
import { TestPanel } from './TestPanel';

const DRAG_TYPE = 'application/x-wab-node-type';
const AUTOSAVE_MS = 800;

export function BuilderPage() {
  const { id = '' } = useParams();
  const chatbot = useChatbot(id);
  const nodeTypes = useNodeTypes();
  if (chatbot.isPending || nodeTypes.isPending)
    return (
      <Group justify="center" p="xl">
        <Loader aria-label="Loading the chatbot" />
      </Group>
    );
  if (chatbot.isError || nodeTypes.isError)
    return (
      <Alert color="red" title="Could not open the chatbot" m="md">
        {errorMessage(chatbot.error ?? nodeTypes.error)} <Link to="/chatbots">Back to the chatbots</Link>
      </Alert>
    );
  return (
    <ReactFlowProvider>
      <Editor key={chatbot.data.id} chatbot={chatbot.data} schemas={nodeTypes.data} />
    </ReactFlowProvider>
  );
}

type SaveState = 'saved' | 'pending' | 'saving' | 'error' | 'conflict';

function Editor({ chatbot, schemas }: { chatbot: Chatbot; schemas: NodeTypes }) {
  const [loaded] = useState(() => deserializeGraph(chatbot.nodes, chatbot.edges));
  const [store] = useState<FlowStore>(() => {
    const g = loaded;
    // A flow written by hand or by a script may carry no positions: every node on one spot, the start hidden
    // under the others. Lay it out once (saved with the next edit).
    const stacked = g.nodes.length > 1 && g.nodes.every((n) => n.position.x === g.nodes[0].position.x && n.position.y === g.nodes[0].position.y);
    return createFlowStore(stacked ? { ...g, nodes: autoLayout(g.nodes, g.edges) } : g);
  });
  const qc = useQueryClient();
  const patch = usePatchChatbot();
  const version = useStore(store, (s) => s.version);
  const [saveState, setSaveState] = useState<SaveState>('saved');
  const [validation, setValidation] = useState<Validation | null>(null);
  const [showProblems, setShowProblems] = useState(false);
  const [publishErrors, setPublishErrors] = useState<Problem[] | null>(null);
  const [tab, setTab] = useState<string | null>(null);
  // A node selected or added: its form, unless the panel shows the test chat or the problems.
  const showNode = useCallback(() => setTab((t) => (t === 'test' || t === 'problems' ? t : 'node')), []);
  const [currentNodeId, setCurrentNodeId] = useState<string | null>(null);
  const [statsOn, setStatsOn] = useState(false);
  const [publishing, setPublishing] = useState(false);
  const [publishedAt, setPublishedAt] = useState(chatbot.publishedAt ?? null);
  // What customers run, to tell whether the draft differs from it ("unpublished changes").
  const [publishedKey, setPublishedKey] = useState(() => behaviourKey(chatbot.publishedNodes, chatbot.publishedEdges));
  // The settings (metadata) of the draft and of what customers run: a change to them is an unpublished change too.
  const [draftMetadata, setDraftMetadata] = useState(() => chatbot.metadata ?? {});
  const [publishedSettings, setPublishedSettings] = useState(() => (chatbot.publishedAt ? settingsKey(chatbot.publishedMetadata) : null));
  const [settingsOpen, setSettingsOpen] = useState(false);
  const draftKey = useMemo(() => {
    void version; // changes with every edit of the graph
    const s = store.getState();
    return behaviourKey(s.nodes, s.edges);
  }, [store, version]);
  const savedVersion = useRef(0);
  // The stored version this editor's graph builds on (updatedAt): saves and publishes send it as If-Match, so
  // another tab's or person's save in between is not silently overwritten, nor published unseen.
  const baseVersion = useRef(chatbot.updatedAt);
  const [conflict, setConflict] = useState(false);
  const inflight = useRef<Promise<void> | null>(null);
  // known at the first render: the notice shown at mount takes its place from it
  const narrow = useMediaQuery('(max-width: 48em)', undefined, { getInitialValueInEffect: false });
  // The editor's notices go to the canvas's bottom left (app.css), beside the zoom buttons: at the top right they
  // covered the side panel's tabs for the seconds they show. At phone width there is no side panel beside the canvas.
  const toastAt = narrow ? undefined : ('bottom-left' as const);

  const save = useCallback(async () => {
    const s = store.getState();
    if (s.version === savedVersion.current) return;
    const v = s.version;
    setSaveState('saving');
    try {
      const saved = await patch.mutateAsync({ id: chatbot.id, body: serializeGraph(s.nodes, s.edges), ifMatch: baseVersion.current });
      savedVersion.current = v;
      baseVersion.current = saved.updatedAt;
      setValidation(saved.validation);
      qc.setQueryData(keys.chatbot(chatbot.id), saved);
      setSaveState(store.getState().version === v ? 'saved' : 'pending');
    } catch (e) {
      if (e instanceof ApiError && e.code === 'edit_conflict') {
        setConflict(true);
        setSaveState('conflict');
      } else {
        setSaveState('error');
        notifications.show({ position: toastAt, color: 'red', title: 'Could not save the draft', message: errorMessage(e) });
      }
      throw e;
    }
  }, [store, patch, chatbot.id, qc, toastAt]);

  /** After a conflict: save this editor's graph over the other version. */
  const keepMine = async () => {
    baseVersion.current = '*';
    setConflict(false);
    await flush().catch(() => undefined);
  };

  /** Saves now and waits (before a test run or publish). */
  const flush = useCallback(async () => {
    if (inflight.current) await inflight.current.catch(() => undefined);
    const p = save();
    inflight.current = p;
    await p;
  }, [save]);

  useEffect(() => {
    if (version === savedVersion.current || conflict) return;
    setSaveState('pending');
    const t = setTimeout(() => {
      const p = save().catch(() => undefined);
      inflight.current = p;
    }, AUTOSAVE_MS);
    return () => clearTimeout(t);
  }, [version, save, conflict]);

  // Nodes stored under one id (a hand-written file) are shown apart: say which got a new id.
  const toldRenames = useRef(false);
  useEffect(() => {
    if (!loaded.renamed.length || toldRenames.current) return;
    toldRenames.current = true;
    const listed = loaded.renamed.map((r) => (r.from ? `a second “${r.from}” is “${r.to}”` : `a node without an id is “${r.to}”`));
    notifications.show({
      position: toastAt,
      color: 'orange',
      autoClose: 15_000, // longer than others: it explains ids the canvas shows; not for good (at phone width it covers the toolbar)
      title: plural(loaded.renamed.length, 'node') + ' renamed',
      message: `Every node needs its own id: ${listed.join(', ')} here (connections keep going to the first). Saved with your next edit.`,
    });
  }, [loaded, toastAt]);

  // Validate the stored draft once so warnings show from the start.
  useEffect(() => {
    unwrap(api.GET('/api/chatbots/{chatbot_id}/validate', { params: { path: { chatbot_id: chatbot.id } } }))
      .then(setValidation)
      .catch(() => undefined);
  }, [chatbot.id]);

  const publish = async () => {
    setPublishing(true);
    try {
      await flush();
      const out = await unwrap(
        api.POST('/api/chatbots/{chatbot_id}/publish', {
          params: { path: { chatbot_id: chatbot.id }, header: { 'If-Match': baseVersion.current } },
        }),
      );
      baseVersion.current = out.updatedAt;
      setPublishErrors(null);
      setPublishedAt(out.publishedAt ?? new Date().toISOString());
      setPublishedKey(behaviourKey(out.publishedNodes, out.publishedEdges));
      setPublishedSettings(settingsKey(out.publishedMetadata));
      void qc.invalidateQueries({ queryKey: keys.chatbots });
      notifications.show({
        position: toastAt,
        ...(out.isActive
          ? { color: 'green', title: 'Published', message: `${chatbot.name} now answers customers with this version.` }
          : { color: 'yellow', title: 'Published, but switched off', message: `Switch ${chatbot.name} on in Chatbots for it to answer customers.` }),
      });
      const warnings = validation?.warnings ?? [];
      if (warnings.length) {
        // Advice, not errors: it is live, but something may not work as meant (an unreachable node, a loop).
        setShowProblems(true);
        notifications.show({
          position: toastAt,
          color: 'orange',
          title: plural(warnings.length, 'warning'),
          message: `${warnings[0].message}${warnings.length > 1 ? ` (and ${warnings.length - 1} more in Problems)` : ''}`,
        });
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === 'edit_conflict') {
        setConflict(true);
        setSaveState('conflict');
      } else if (e instanceof ApiError && e.code === 'invalid_flow') {
        const details = (e.details as Problem[]).filter((d) => d && typeof d === 'object');
        setPublishErrors(details);
        setShowProblems(true);
        setTab('problems');
        notifications.show({ position: toastAt, color: 'red', title: 'Not published', message: `${plural(details.length, 'problem')} to fix first.` });
      } else if (!(e instanceof ApiError && e.status === 0)) {
        notifications.show({ position: toastAt, color: 'red', title: 'Could not publish', message: errorMessage(e) });
      }
    } finally {
      setPublishing(false);
    }
  };

  /** Saves the settings (after the graph's pending edits, on the version they made). */
  const saveSettings = async (metadata: Record<string, unknown>) => {
    await flush();
    try {
      const saved = await patch.mutateAsync({ id: chatbot.id, body: { metadata }, ifMatch: baseVersion.current });
      baseVersion.current = saved.updatedAt;
      setValidation(saved.validation);
      setDraftMetadata(saved.metadata ?? {});
      qc.setQueryData(keys.chatbot(chatbot.id), saved);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'edit_conflict') {
        setConflict(true);
        setSaveState('conflict');
        throw new Error('Someone saved this chatbot meanwhile: load the saved version (or keep yours) first.');
      }
      throw new Error(errorMessage(e));
    }
  };
  const unpublished = publishedKey !== null && (draftKey !== publishedKey || settingsKey(draftMetadata) !== publishedSettings);

  // After a failed publish, each save's validation keeps the outlines current.
  const problems: CanvasProblem[] = useMemo(() => {
    if (!showProblems) return [];
    const errs = validation ? validation.errors : (publishErrors ?? []);
    const list: CanvasProblem[] = errs.map((p) => ({ ...p, level: 'error' }));
    for (const w of validation?.warnings ?? []) list.push({ ...w, level: 'warning' });
    return list;
  }, [showProblems, validation, publishErrors]);

  const stats = useQuery({
    queryKey: keys.stats(chatbot.id),
    enabled: statsOn,
    refetchInterval: statsOn ? 10000 : false,
    queryFn: () => unwrap(api.GET('/api/chatbots/{chatbot_id}/stats', { params: { path: { chatbot_id: chatbot.id } } })),
  });

  const decorations: CanvasDecorations = useMemo(() => {
    const byNode = new Map<string, CanvasProblem[]>();
    for (const p of problems) if (p.nodeId) byNode.set(p.nodeId, [...(byNode.get(p.nodeId) ?? []), p]);
    const nodeStats = statsOn ? ((stats.data as { nodes?: CanvasDecorations['stats'] } | undefined)?.nodes ?? null) : null;
    return { problems: byNode, currentNodeId, stats: nodeStats };
  }, [problems, currentNodeId, statsOn, stats.data]);

  const errorCount = problems.filter((p) => p.level === 'error').length;
  const liveErrors = validation?.errors.length ?? 0;

  const side = (
    <Tabs value={tab} onChange={setTab} keepMounted={false} h="100%" style={{ display: 'flex', flexDirection: 'column', flex: 1, minHeight: 0 }}>
      <Tabs.List>
        <Tabs.Tab value="node">Node</Tabs.Tab>
        <Tabs.Tab value="problems" rightSection={problems.length ? <Badge size="xs" color={errorCount ? 'red' : 'orange'}>{problems.length}</Badge> : null}>
          Problems
        </Tabs.Tab>
        <Tabs.Tab value="test">Test</Tabs.Tab>
      </Tabs.List>
      <Box style={{ flex: 1, minHeight: 0, overflowY: 'auto' }} data-testid="side-panel-content">
        <Tabs.Panel value="node" h="100%">
          <Inspector schemas={schemas} />
        </Tabs.Panel>
        <Tabs.Panel value="problems" h="100%">
          <ProblemsList problems={problems} validation={validation} onShow={() => setShowProblems(true)} />
        </Tabs.Panel>
        <Tabs.Panel value="test" h="100%">
          <TestPanel chatbotId={chatbot.id} flush={flush} onCurrentNode={setCurrentNodeId} />
        </Tabs.Panel>
      </Box>
    </Tabs>
  );

  return (
    <FlowStoreContext.Provider value={store}>
      <DecorationsContext.Provider value={decorations}>
        <Stack gap={0} h="calc(100dvh - var(--app-shell-header-height, 56px))">
          <Group justify="space-between" px="sm" py={6} wrap="wrap" gap="xs" style={{ borderBottom: '1px solid var(--mantine-color-gray-3)' }}>
            <Group gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
              <Title order={2} size="h4" dir="auto" title={chatbot.name} style={{ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap', minWidth: 0 }}>
                {chatbot.name}
              </Title>
              <SaveBadge state={saveState} />
              {publishedAt && unpublished ? (
                <Badge
                  variant="light"
                  color="orange"
                  style={{ flexShrink: 0 }}
                  data-testid="publish-state"
                  title={`Customers still get the version published ${new Date(publishedAt).toLocaleString()}. Publish to put these changes live.`}
                >
                  unpublished changes
                </Badge>
              ) : publishedAt ? (
                <Badge variant="light" color="green" style={{ flexShrink: 0 }} data-testid="publish-state" title={`Published ${new Date(publishedAt).toLocaleString()}`}>
                  published
                </Badge>
              ) : (
                <Badge variant="light" color="gray" style={{ flexShrink: 0 }} data-testid="publish-state">
                  never published
                </Badge>
              )}
            </Group>
            <Group gap="xs">
              <UndoRedo />
              <Button size="xs" variant="default" onClick={() => store.getState().layout()}>
                Auto-layout
              </Button>
              <Button size="xs" variant={statsOn ? 'filled' : 'default'} onClick={() => setStatsOn((v) => !v)} aria-pressed={statsOn}>
                Stats
              </Button>
              <Button size="xs" variant="default" onClick={() => setTab(tab === 'test' ? null : 'test')}>
                Test
              </Button>
              <Button size="xs" variant="default" onClick={() => setSettingsOpen(true)}>
                Settings
              </Button>
              <Button
                size="xs"
                color="green"
                loading={publishing}
                onClick={publish}
                title={liveErrors ? `${plural(liveErrors, 'error')} in the draft` : undefined}
              >
                Publish
              </Button>
            </Group>
          </Group>
          {conflict && (
            <Alert color="orange" title="Changed elsewhere" py="xs" radius={0} data-testid="edit-conflict">
              <Group justify="space-between" gap="xs">
                <Text size="sm">
                  Someone saved this chatbot (in another tab, or another person) after you opened it, so your changes
                  since then are not saved, and publishing waits.
                </Text>
                <Group gap="xs">
                  <Button size="xs" variant="default" onClick={() => window.location.reload()}>
                    Load the saved version
                  </Button>
                  <Button size="xs" color="orange" onClick={() => void keepMine()}>
                    Keep mine (replace it)
                  </Button>
                </Group>
              </Group>
            </Alert>
          )}
          <Box style={{ flex: 1, minHeight: 0, display: 'flex' }}>
            {!narrow && <Palette onAdded={showNode} />}
            <Box style={{ flex: 1, minWidth: 0, position: 'relative' }}>
              <Canvas problems={problems} onSelectNode={showNode} narrow={!!narrow} />
            </Box>
            {!narrow && tab && (
              <Box w={380} p="xs" style={{ borderLeft: '1px solid var(--mantine-color-gray-3)', display: 'flex', flexDirection: 'column' }}>
                {/* Lies over the tab bar's right end: it lets clicks through, except on the button itself. */}
                <Group justify="flex-end" mb={-30} style={{ zIndex: 1, pointerEvents: 'none' }}>
                  <ActionIcon variant="subtle" aria-label="Close the side panel" onClick={() => setTab(null)} style={{ pointerEvents: 'auto' }}>
                    ✕
                  </ActionIcon>
                </Group>
                {side}
              </Box>
            )}
          </Box>
        </Stack>
        <BotSettingsModal
          opened={settingsOpen}
          onClose={() => setSettingsOpen(false)}
          metadata={draftMetadata}
          nodes={store.getState().nodes}
          onSave={saveSettings}
        />
        {narrow && (
          <Drawer
            opened={!!tab}
            onClose={() => setTab(null)}
            position="bottom"
            size="80%"
            title="Details"
            // The drawer itself does not scroll (its whole content did, and the tabs went out of view with a long
            // test chat): the body fills it below the title, and the open tab's content scrolls under the tabs.
            styles={{
              content: { display: 'flex', flexDirection: 'column', overflow: 'hidden' },
              body: { flex: 1, minHeight: 0, display: 'flex', flexDirection: 'column' },
            }}
          >
            {side}
          </Drawer>
        )}
      </DecorationsContext.Provider>
    </FlowStoreContext.Provider>
  );
}

function SaveBadge({ state }: { state: SaveState }) {
  const map = {
    saved: ['teal', 'Draft saved'],
    pending: ['gray', 'Unsaved changes'],
    saving: ['blue', 'Saving…'],
    error: ['red', 'Save failed'],
    conflict: ['orange', 'Not saved: changed elsewhere'],
  } as const;
  const [color, label] = map[state];
  return (
    <Badge variant="dot" color={color} aria-live="polite" data-testid="save-state" style={{ flexShrink: 0 }}>
      {label}
    </Badge>
  );
}

function UndoRedo() {
  const store = useFlowStore();
  const canUndo = useFlow((s) => s.past.length > 0);
  const canRedo = useFlow((s) => s.future.length > 0);
  return (
    <Group gap={4}>
      <Tooltip label="Undo (Ctrl+Z)">
        <ActionIcon variant="default" aria-label="Undo" disabled={!canUndo} onClick={() => store.getState().undo()}>
          ↶
        </ActionIcon>
      </Tooltip>
      <Tooltip label="Redo (Ctrl+Shift+Z)">
        <ActionIcon variant="default" aria-label="Redo" disabled={!canRedo} onClick={() => store.getState().redo()}>
          ↷
        </ActionIcon>
      </Tooltip>
    </Group>
  );
}

/** A node added by a click: centred on `center` (flow coordinates), or moved to the nearest free spot; returns
 * where it went. */
function addNodeNear(store: FlowStore, type: string, center: { x: number; y: number }) {
  const at = freePosition(store.getState().nodes, { x: center.x - 110, y: center.y - 30 });
  store.getState().addNode(type, at);
  return at;
}

function Palette({ onAdded }: { onAdded(): void }) {
  const store = useFlowStore();
  const rf = useReactFlow();
  const addAtCenter = (type: string) => {
    const el = document.querySelector('.react-flow');
    const rect = el?.getBoundingClientRect();
    const pos = rect ? rf.screenToFlowPosition({ x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 }) : { x: 0, y: 0 };
    const at = addNodeNear(store, type, pos);
    // The free spot may be below the others, out of view: bring the new (selected) node into the middle.
    void rf.setCenter(at.x + 110, at.y + 30, { zoom: rf.getZoom(), duration: 200 });
    onAdded(); // its form opens, as for a node dropped on the canvas
  };
  return (
    <ScrollArea w={170} p="xs" style={{ borderRight: '1px solid var(--mantine-color-gray-3)' }} aria-label="Node palette">
      <Text size="xs" c="dimmed" mb={6}>
        Drag onto the canvas, or click to add
      </Text>
      <div className={classes.palette} role="list">
        {NODE_TYPES.map((t) => (
          <div
            key={t}
            role="listitem"
            tabIndex={0}
            className={classes.paletteItem}
            style={{ borderLeftColor: NODE_COLORS[t] }}
            draggable
            data-testid={`palette-${t}`}
            aria-label={`Add a ${NODE_LABELS[t]} node`}
            onDragStart={(e) => {
              e.dataTransfer.setData(DRAG_TYPE, t);
              e.dataTransfer.effectAllowed = 'move';
            }}
            onClick={() => addAtCenter(t)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                addAtCenter(t);
              }
            }}
          >
            <Text size="sm">{NODE_LABELS[t]}</Text>
          </div>
        ))}
      </div>
    </ScrollArea>
  );
}

/** Below this zoom a node's text is too small to read. */
const READABLE_ZOOM = 0.7;

/**
 * Open the canvas on the whole flow when it fits at a readable size; a larger flow opens at a readable zoom on
 * its start node instead (at the left, centred vertically), as a reader starts there. Once, when the nodes have
 * been measured; the minimap and the fit-view button still show the whole.
 */
function useReadableOpening(canvasRef: React.RefObject<HTMLDivElement | null>) {
  const rf = useReactFlow();
  const initialized = useNodesInitialized();
  const placed = useRef(false);
  useEffect(() => {
    if (!initialized || placed.current) return;
    placed.current = true;
    void rf.fitView({ padding: 0.2, maxZoom: 1 }).then(() => {
      const box = canvasRef.current?.getBoundingClientRect();
      const start = rf.getNodes().find((n) => n.type === 'start');
      if (!box || !start || rf.getZoom() >= READABLE_ZOOM) return;
      const zoom = 0.85;
      const height = start.measured?.height ?? 60;
      void rf.setViewport({ x: 40 - start.position.x * zoom, y: box.height / 2 - (start.position.y + height / 2) * zoom, zoom });
    });
  }, [initialized, rf, canvasRef]);
}

/** While a test run moves through the flow, keep the node it stopped at in view (panning, not zooming). */
function useFollowCurrentNode(canvasRef: React.RefObject<HTMLDivElement | null>) {
  const rf = useReactFlow();
  const { currentNodeId } = useContext(DecorationsContext);
  useEffect(() => {
    const node = currentNodeId ? rf.getNode(currentNodeId) : undefined;
    const box = canvasRef.current?.getBoundingClientRect();
    if (!node || !box) return;
    const { x, y, zoom } = rf.getViewport();
    const w = node.measured?.width ?? 240;
    const h = node.measured?.height ?? 80;
    const left = node.position.x * zoom + x;
    const top = node.position.y * zoom + y;
    if (left >= 0 && top >= 0 && left + w * zoom <= box.width && top + h * zoom <= box.height) return;
    void rf.setCenter(node.position.x + w / 2, node.position.y + h / 2, { zoom, duration: 300 });
  }, [currentNodeId, rf, canvasRef]);
}

// 'default': what React Flow renders a node of a type missing here with (FlowNodeView shows it as unknown).
// React Flow's other built-in types ('input', 'output', 'group') would draw their own boxes for a node of that type.
const nodeTypesMap = Object.fromEntries([...NODE_TYPES, 'default', 'input', 'output', 'group'].map((t) => [t, FlowNodeView]));

function Canvas({ problems, onSelectNode, narrow }: { problems: CanvasProblem[]; onSelectNode(): void; narrow: boolean }) {
  const store = useFlowStore();
  const nodes = useFlow((s) => s.nodes);
  const edges = useFlow((s) => s.edges);
  const onNodesChange = useFlow((s) => s.onNodesChange);
  const onEdgesChange = useFlow((s) => s.onEdgesChange);
  const connect = useFlow((s) => s.connect);
  const rf = useReactFlow();
  const canvasRef = useRef<HTMLDivElement>(null);
  useReadableOpening(canvasRef);
  useFollowCurrentNode(canvasRef);

  const shownEdges: Edge[] = useMemo(() => {
    const byEdge = new Map<string, CanvasProblem>();
    for (const p of problems) if (p.edgeId) byEdge.set(p.edgeId, p);
    return edges.map((e) => {
      const p = byEdge.get(e.id);
      return p
        ? { ...e, style: { stroke: p.level === 'error' ? '#e03131' : '#f08c00', strokeWidth: 2 }, label: p.message, labelStyle: { fill: '#c92a2a', fontSize: 11 } }
        : e;
    });
  }, [edges, problems]);

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const type = e.dataTransfer.getData(DRAG_TYPE);
    if (!type) return;
    const position = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
    store.getState().addNode(type, { x: position.x - 110, y: position.y - 30 });
    onSelectNode();
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.closest('input, textarea, select, [contenteditable="true"], [role="dialog"]') || target.isContentEditable)) return;
      const mod = e.ctrlKey || e.metaKey;
      const s = store.getState();
      const key = e.key.toLowerCase();
      if (mod && key === 'z' && !e.shiftKey) (e.preventDefault(), s.undo());
      else if (mod && ((key === 'z' && e.shiftKey) || key === 'y')) (e.preventDefault(), s.redo());
      else if (mod && key === 'c') s.copySelection();
      else if (mod && key === 'v') {
        e.preventDefault();
        const pasted = s.paste();
        // below the copied nodes, maybe out of view: the view follows them (as a node added by a click)
        const placed = store.getState().nodes.filter((n) => pasted.includes(n.id));
        if (placed.length) {
          const xs = placed.map((n) => n.position.x);
          const ys = placed.map((n) => n.position.y);
          void rf.setCenter((Math.min(...xs) + Math.max(...xs)) / 2 + 110, (Math.min(...ys) + Math.max(...ys)) / 2 + 30, { zoom: rf.getZoom(), duration: 200 });
        }
      }
      else if (e.key === 'Delete' || e.key === 'Backspace') s.deleteSelection();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store, rf]);

  return (
    <>
      <ReactFlow
        ref={canvasRef}
        nodes={nodes}
        edges={shownEdges}
        nodeTypes={nodeTypesMap}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={connect}
        onDrop={onDrop}
        onDragOver={(e) => {
          e.preventDefault();
          e.dataTransfer.dropEffect = 'move';
        }}
        onNodeClick={onSelectNode}
        deleteKeyCode={null}
        minZoom={0.1}
        defaultEdgeOptions={{ type: 'smoothstep' }}
        proOptions={{ hideAttribution: true }}
        aria-label="Flow canvas"
      >
        <Background gap={16} />
        <Controls showInteractive={false} />
        {!narrow && <MiniMap pannable zoomable nodeColor={(n) => NODE_COLORS[n.type ?? ''] ?? '#999'} ariaLabel="Minimap" />}
      </ReactFlow>
      {narrow && (
        <Box pos="absolute" top={8} left={8} style={{ zIndex: 5 }}>
          <Menu>
            <Menu.Target>
              <Button size="xs">Add node</Button>
            </Menu.Target>
            <Menu.Dropdown>
              {NODE_TYPES.map((t) => (
                <Menu.Item
                  key={t}
                  onClick={() => {
                    const pos = rf.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
                    addNodeNear(store, t, pos);
                  }}
                >
                  {NODE_LABELS[t]}
                </Menu.Item>
              ))}
            </Menu.Dropdown>
          </Menu>
        </Box>
      )}
    </>
  );
}

function Inspector({ schemas }: { schemas: NodeTypes }) {
  const store = useFlowStore();
  const selected = useFlow((s) => {
    const sel = s.nodes.filter((n) => n.selected);
    return sel.length === 1 ? sel[0] : null;
  });
  const nodes = useFlow((s) => s.nodes);
  const variables = useMemo(() => graphVariables(nodes), [nodes]);
  const nodeIds = useMemo(() => nodes.map((n) => n.id), [nodes]);
  if (!selected)
    return (
      <Text c="dimmed" size="sm" p="sm">
        Select a node on the canvas to edit it.
      </Text>
    );
  const schema = schemas[selected.type ?? ''];
  return (
    <ScrollArea h="100%" offsetScrollbars>
      <Stack gap="xs" p="xs" aria-label={`Settings of ${selected.id}`}>
        <Group justify="space-between">
          <div>
            <Text fw={700}>{schema?.title ?? selected.type}</Text>
            <Text size="xs" c="dimmed">
              id: {selected.id}
            </Text>
          </div>
          <Button size="xs" variant="light" color="red" onClick={() => store.getState().deleteNodes([selected.id])}>
            Delete node
          </Button>
        </Group>
        {schema?.description && (
          <Text size="xs" c="dimmed">
            {schemaText(schema.description)}
          </Text>
        )}
        {schema ? (
          <SchemaForm
            key={selected.id}
            schema={schema}
            value={selected.data}
            onChange={(data) => store.getState().updateNodeData(selected.id, data)}
            variables={variables}
            nodeIds={nodeIds.filter((i) => i !== selected.id)}
            hideUnlessSet={selected.type === 'set_variable' ? ['variable', 'value'] : []}
          />
        ) : (
          <Alert color="orange">Unknown node type “{selected.type}”.</Alert>
        )}
      </Stack>
    </ScrollArea>
  );
}
