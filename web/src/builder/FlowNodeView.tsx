import { Badge, Box, Group, Text, Tooltip } from '@mantine/core';
import { Handle, Position, useStore, type NodeProps } from '@xyflow/react';
import { memo, useContext } from 'react';
import { DecorationsContext } from './context';
import { hasTargetHandle, NODE_COLORS, NODE_LABELS, nodeSummary, sourceHandles, type FlowNode } from './model';
import classes from './flow.module.css';

function FlowNodeViewInner({ id, type: shownAs, data, selected }: NodeProps<FlowNode>) {
  // A type the editor does not know (a file from a newer version, a typo) reaches here as React Flow's 'default'
  // (BuilderPage's nodeTypesMap): show it by its own name, marked, instead of as a blank box.
  const stored = useStore((s) => (shownAs === 'default' ? s.nodeLookup.get(id)?.type : undefined));
  const type = stored ?? shownAs;
  const unknown = !(type && type in NODE_LABELS);
  const deco = useContext(DecorationsContext);
  const problems = deco.problems.get(id) ?? [];
  const errors = problems.filter((p) => p.level !== 'warning');
  const handles = sourceHandles(type, data);
  const color = NODE_COLORS[type ?? ''] ?? 'var(--mantine-color-red-8)';
  const current = deco.currentNodeId === id;
  const stat = deco.stats?.[id];
  const summary = unknown ? 'Unknown node type: the bot cannot run it. Delete it, or fix the file it came from.' : nodeSummary(type, data);
  const cls = [classes.node, selected && classes.selected, errors.length > 0 && classes.invalid, current && classes.current]
    .filter(Boolean)
    .join(' ');
  return (
    <div className={cls} data-testid={`node-${id}`} data-node-type={type} aria-label={`${NODE_LABELS[type ?? ''] ?? type} node ${id}`}>
      {hasTargetHandle(type) && <Handle type="target" position={Position.Left} className={classes.target} />}
      <Box className={classes.header} style={{ background: color }}>
        <Text size="xs" fw={700} c="white" tt="uppercase">
          {unknown ? `Unknown: ${type ?? ''}` : NODE_LABELS[type ?? '']}
        </Text>
        <Text size="xs" c="white" opacity={0.85} truncate maw={120}>
          {id}
        </Text>
      </Box>
      <Box px="xs" py={6}>
        <Text size="xs" lineClamp={3} c={summary ? undefined : 'dimmed'}>
          {summary || 'No text'}
        </Text>
        {stat && (
          <Group gap={4} mt={4}>
            <Badge size="xs" variant="light" color="blue">
              {stat.visits} {stat.visits === 1 ? 'visit' : 'visits'}
            </Badge>
            <Badge size="xs" variant="light" color={stat.dropOffs ? 'orange' : 'gray'}>
              {stat.dropOffs} {stat.dropOffs === 1 ? 'drop-off' : 'drop-offs'}
            </Badge>
          </Group>
        )}
        {problems.length > 0 && (
          <Box mt={4}>
            {problems.slice(0, 3).map((p, i) => (
              <Text key={i} size="xs" c={p.level === 'warning' ? 'orange.8' : 'red.7'} role={p.level === 'warning' ? undefined : 'alert'}>
                {p.message}
              </Text>
            ))}
            {problems.length > 3 && (
              <Text size="xs" c="dimmed">
                +{problems.length - 3} more
              </Text>
            )}
          </Box>
        )}
      </Box>
      {handles.length === 1 && handles[0].id === null ? (
        <Handle type="source" position={Position.Right} className={classes.source} />
      ) : (
        <Box className={classes.exits}>
          {handles.map((h) => (
            <div key={h.id ?? '__default'} className={classes.exit}>
              <Tooltip label={h.id ?? 'default exit'} openDelay={400}>
                <Text size="xs" className={classes.exitLabel} truncate>
                  {h.label}
                </Text>
              </Tooltip>
              <Handle
                type="source"
                position={Position.Right}
                id={h.id ?? undefined}
                className={classes.source}
                data-handle={h.id ?? 'default'}
              />
            </div>
          ))}
        </Box>
      )}
    </div>
  );
}

export const FlowNodeView = memo(FlowNodeViewInner);
