// Chat with the draft: every turn resends the whole list of inputs to test-run, with the HTTP calls of the run
// before, so that an HTTP request node's API is called once, not again for every later message.
import { Alert, Badge, Box, Button, Code, Group, ScrollArea, Stack, Table, Text, TextInput } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import { api, errorMessage, unwrap } from '../api/client';
import { MessageBubble } from '../components/MessageBubble';
import bubbles from '../components/bubble.module.css';

export type TestInput = string | { buttonId: string; title?: string } | { listRowId: string; title?: string };

interface Step {
  input: unknown;
  messages: { type: string; content: unknown }[];
  variables: Record<string, unknown>;
  currentNodeId: string | null;
  ended: boolean;
  endedReason: string | null;
  waitingFor: string | null;
  handoff: boolean;
}

/** What the customer's bubble shows for an input. */
function inputBubble(input: TestInput, title?: string): { type: string; content: unknown } {
  if (typeof input === 'string') return { type: 'text', content: { body: input } };
  if ('buttonId' in input) return { type: 'interactive', content: { buttonId: input.buttonId, title: title ?? input.buttonId } };
  return { type: 'interactive', content: { listRowId: input.listRowId, title: title ?? input.listRowId } };
}

export function TestPanel({
  chatbotId,
  flush,
  onCurrentNode,
}: {
  chatbotId: string;
  flush(): Promise<void>;
  onCurrentNode(id: string | null): void;
}) {
  const [inputs, setInputs] = useState<{ input: TestInput; title?: string }[]>([]);
  const [steps, setSteps] = useState<Step[]>([]);
  const [httpCalls, setHttpCalls] = useState<Record<string, unknown>[]>([]);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const viewport = useRef<HTMLDivElement>(null);

  useEffect(() => () => onCurrentNode(null), [onCurrentNode]);
  useEffect(() => {
    viewport.current?.scrollTo({ top: viewport.current.scrollHeight });
  }, [steps]);

  const send = async (input: TestInput, title?: string) => {
    const next = [...inputs, { input, title }];
    setBusy(true);
    setError(null);
    try {
      await flush().catch(() => undefined);
      const out = await unwrap(
        api.POST('/api/chatbots/{chatbot_id}/test-run', {
          params: { path: { chatbot_id: chatbotId } },
          body: {
            inputs: next.map((x) => x.input),
            contactName: 'Test customer',
            contactPhone: null,
            published: false,
            httpReplay: httpCalls,
          },
        }),
      );
      const st = out.steps as unknown as Step[];
      setHttpCalls(out.httpCalls ?? []);
      setInputs(next);
      setSteps(st);
      onCurrentNode(st.at(-1)?.currentNodeId ?? null);
      setText('');
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const restart = () => {
    setInputs([]);
    setSteps([]);
    setHttpCalls([]);
    setError(null);
    onCurrentNode(null);
  };

  const last = steps.at(-1);
  return (
    <Stack gap="xs" h="100%" pt="xs" aria-label="Test panel">
      <Group justify="space-between">
        <Text size="sm" c="dimmed">
          Chat with the draft (nothing is sent to WhatsApp).
        </Text>
        <Button size="xs" variant="default" onClick={restart} disabled={!inputs.length}>
          Restart
        </Button>
      </Group>
      <ScrollArea viewportRef={viewport} style={{ flex: 1, minHeight: 200 }} className={bubbles.chat} p="xs" data-testid="test-transcript">
        {steps.length === 0 && (
          <Text size="sm" c="dimmed" ta="center" mt="md">
            Send a message to start (any text: the test ignores the start node's keywords).
          </Text>
        )}
        {steps.map((step, i) => {
          const mine = inputs[i];
          return (
            <Box key={i}>
              {mine && <MessageBubble direction="inbound" {...inputBubble(mine.input, mine.title)} />}
              {step.messages.map((m, j) => (
                <MessageBubble
                  key={j}
                  direction="outbound"
                  type={m.type}
                  content={m.content}
                  repliesDisabled={busy || i !== steps.length - 1 || step.ended}
                  onReply={(r) =>
                    'buttonId' in r
                      ? send({ buttonId: r.buttonId, title: r.title }, r.title)
                      : send({ listRowId: r.listRowId, title: r.title }, r.title)
                  }
                />
              ))}
              {step.messages.length === 0 && i === steps.length - 1 && !step.ended && (
                <Text size="xs" c="dimmed" ta="center">
                  (no answer)
                </Text>
              )}
              {step.ended && (
                <Text size="xs" c="dimmed" ta="center" my={4}>
                  — conversation ended: {step.endedReason ?? 'completed'}
                  {step.handoff ? ' (handed off to a human)' : ''} —
                </Text>
              )}
            </Box>
          );
        })}
      </ScrollArea>
      {error && (
        <Alert color="red" p="xs" title="Test run failed">
          {error}
        </Alert>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (text.trim()) void send(text.trim());
        }}
      >
        <Group gap="xs" wrap="nowrap">
          <TextInput
            style={{ flex: 1 }}
            placeholder="Type a message"
            aria-label="Test message"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            disabled={busy}
          />
          <Button type="submit" loading={busy} disabled={!text.trim()}>
            Send
          </Button>
        </Group>
      </form>
      {last && (
        <Box>
          <Group gap="xs" mb={4}>
            <Text size="xs" fw={700}>
              Current node:
            </Text>
            <Code>{last.currentNodeId ?? '—'}</Code>
            {last.waitingFor && <Badge size="xs">waiting for {last.waitingFor}</Badge>}
          </Group>
          <VariablesTable variables={last.variables} />
        </Box>
      )}
    </Stack>
  );
}

export function VariablesTable({ variables }: { variables: Record<string, unknown> }) {
  const entries = Object.entries(variables ?? {});
  if (!entries.length)
    return (
      <Text size="xs" c="dimmed">
        No variables yet.
      </Text>
    );
  return (
    <Table withTableBorder fz="xs" aria-label="Variables" verticalSpacing={2}>
      <Table.Tbody>
        {entries.map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Td>
              <Code>{k}</Code>
            </Table.Td>
            <Table.Td style={{ wordBreak: 'break-all' }}>{typeof v === 'string' ? v : JSON.stringify(v)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
