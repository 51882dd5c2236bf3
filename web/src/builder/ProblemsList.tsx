import { Alert, Button, Group, ScrollArea, Stack, Text } from '@mantine/core';
import { useReactFlow } from '@xyflow/react';
import { useStore } from 'zustand';
import type { Validation } from '../api/client';
import { useFlowStore, type CanvasProblem } from './context';
import { plural } from './model';
import { problemTitle } from './problems';

/** The Problems tab: the draft's errors and warnings, each saying what is wrong in words; a click selects and
 *  centres its node. */
export function ProblemsList({ problems, validation, onShow }: { problems: CanvasProblem[]; validation: Validation | null; onShow(): void }) {
  const store = useFlowStore();
  const rf = useReactFlow();
  const edgeIds = useStore(store, (s) => s.edges.map((e) => e.id).join('\n'));
  // Listed from the last validation even before they are shown on the canvas (a count alone said nothing).
  const listed: CanvasProblem[] = problems.length
    ? problems
    : [
        ...(validation?.errors ?? []).map((p) => ({ ...p, level: 'error' as const })),
        ...(validation?.warnings ?? []).map((p) => ({ ...p, level: 'warning' as const })),
      ];
  if (!listed.length)
    return (
      <Text size="sm" c="dimmed" p="sm">
        No problems found in the draft.
      </Text>
    );
  const existingEdges = new Set(edgeIds.split('\n'));
  return (
    <ScrollArea h="100%">
      {!problems.length && (
        <Group p="xs" pb={0} justify="space-between">
          <Text size="sm" c="dimmed">
            {plural(validation?.errors.length ?? 0, 'error')}, {plural(validation?.warnings.length ?? 0, 'warning')}
          </Text>
          <Button size="xs" variant="light" onClick={onShow}>
            Show them on the canvas
          </Button>
        </Group>
      )}
      <Stack gap={6} p="xs" role="list" aria-label="Problems">
        {listed.map((p, i) => (
          <Alert
            key={i}
            role="listitem"
            color={p.level === 'error' ? 'red' : 'orange'}
            p="xs"
            title={
              <Text size="xs" fw={700}>
                {p.level === 'error' ? 'Error' : 'Warning'}: {problemTitle(p.code, p.level)}
              </Text>
            }
            style={{ cursor: p.nodeId ? 'pointer' : undefined }}
            onClick={() => {
              if (!p.nodeId) return;
              store.getState().selectOnly(p.nodeId);
              const n = store.getState().nodes.find((x) => x.id === p.nodeId);
              if (n) void rf.setCenter(n.position.x + 110, n.position.y + 50, { zoom: 1, duration: 300 });
            }}
          >
            <Text size="xs">{p.message}</Text>
            {/* where, and the code: details for someone reporting it or reading docs/flows.md */}
            <Text size="11px" lh={1.6} c="dimmed" mt={2} data-testid="problem-detail">
              {[p.nodeId ? `node ${p.nodeId}` : '', p.edgeId ? `connection ${p.edgeId}` : '', p.field ?? '', p.code].filter(Boolean).join(' · ')}
            </Text>
            {p.edgeId && !p.nodeId && existingEdges.has(p.edgeId) && (
              // A connection to a node that is not there is drawn nowhere: this is the one place to remove it.
              <Button
                size="compact-xs"
                variant="light"
                color={p.level === 'error' ? 'red' : 'orange'}
                mt={4}
                onClick={(event) => {
                  event.stopPropagation();
                  store.getState().onEdgesChange([{ type: 'remove', id: p.edgeId! }]);
                }}
              >
                Delete this connection
              </Button>
            )}
          </Alert>
        ))}
      </Stack>
    </ScrollArea>
  );
}
