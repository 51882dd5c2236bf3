import { Alert, Button, Group, Modal, NumberInput, Select, Stack, TagsInput, Text, Textarea } from '@mantine/core';
import { useState } from 'react';
import { nodeSummary, type FlowNode } from './model';

/** The run-time settings a chatbot keeps in its `metadata` (docs/flows.md); other metadata keys are kept as they are. */
export interface BotSettingsValue {
  sessionTimeoutMinutes: number | null;
  /** Sent first when a customer writes again after a timeout (docs/flows.md); '' is none. */
  sessionTimeoutMessage: string;
  restartKeywords: string[];
  handoffKeywords: string[];
  handoffNodeId: string | null;
}

export const DEFAULT_RESTART_KEYWORDS = ['restart', 'start over'];
const MAX_KEYWORDS = 20;
const MAX_KEYWORD_LENGTH = 100;
const MAX_TIMEOUT_MINUTES = 366 * 24 * 60;
const MAX_TIMEOUT_MESSAGE_LENGTH = 1024;

const strings = (v: unknown): string[] | null => (Array.isArray(v) ? v.filter((k): k is string => typeof k === 'string') : null);

export function readSettings(metadata: Record<string, unknown> | null | undefined): BotSettingsValue {
  const m = metadata ?? {};
  const timeout = m.sessionTimeoutMinutes;
  return {
    sessionTimeoutMinutes: typeof timeout === 'number' && timeout > 0 ? timeout : null,
    sessionTimeoutMessage: typeof m.sessionTimeoutMessage === 'string' ? m.sessionTimeoutMessage : '',
    restartKeywords: strings(m.restartKeywords) ?? DEFAULT_RESTART_KEYWORDS,
    handoffKeywords: strings(m.handoffKeywords) ?? [],
    handoffNodeId: typeof m.handoffNodeId === 'string' ? m.handoffNodeId : null,
  };
}

/** `metadata` with these settings written over it: a setting at its default is left out, as the engine reads it. */
export function writeSettings(metadata: Record<string, unknown> | null | undefined, s: BotSettingsValue): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(metadata ?? {}) };
  const put = (key: string, value: unknown, isDefault: boolean) => {
    if (isDefault) delete out[key];
    else out[key] = value;
  };
  put('sessionTimeoutMinutes', s.sessionTimeoutMinutes, s.sessionTimeoutMinutes === null);
  put('sessionTimeoutMessage', s.sessionTimeoutMessage, !s.sessionTimeoutMessage.trim());
  const restartIsDefault = s.restartKeywords.length === DEFAULT_RESTART_KEYWORDS.length && s.restartKeywords.every((k, i) => k === DEFAULT_RESTART_KEYWORDS[i]);
  put('restartKeywords', s.restartKeywords, restartIsDefault);
  put('handoffKeywords', s.handoffKeywords, s.handoffKeywords.length === 0);
  put('handoffNodeId', s.handoffNodeId, s.handoffNodeId === null);
  return out;
}

/** The settings as compared for "unpublished changes". */
export const settingsKey = (metadata: Record<string, unknown> | null | undefined) => JSON.stringify(readSettings(metadata));

const keywordKey = (k: string) => k.trim().toLowerCase().replace(/\s+/g, ' ');

/** What the server would refuse (a 422), said before saving. */
export function settingsProblems(s: BotSettingsValue): string[] {
  const problems: string[] = [];
  if (s.sessionTimeoutMinutes !== null && !(s.sessionTimeoutMinutes > 0 && s.sessionTimeoutMinutes <= MAX_TIMEOUT_MINUTES))
    problems.push(`The session timeout is a number of minutes above 0 and at most ${MAX_TIMEOUT_MINUTES.toLocaleString('en')} (a year).`);
  if (s.sessionTimeoutMessage.length > MAX_TIMEOUT_MESSAGE_LENGTH)
    problems.push(`The message after a timeout has at most ${MAX_TIMEOUT_MESSAGE_LENGTH.toLocaleString('en')} characters.`);
  for (const [label, list] of [
    ['restart', s.restartKeywords],
    ['hand-off', s.handoffKeywords],
  ] as const) {
    if (list.length > MAX_KEYWORDS) problems.push(`At most ${MAX_KEYWORDS} ${label} keywords.`);
    if (list.some((k) => k.length > MAX_KEYWORD_LENGTH)) problems.push(`A ${label} keyword has at most ${MAX_KEYWORD_LENGTH} characters.`);
  }
  const restart = new Set(s.restartKeywords.map(keywordKey));
  const both = s.handoffKeywords.find((k) => restart.has(keywordKey(k)));
  if (both !== undefined) problems.push(`“${both}” cannot both restart the chatbot and hand off to a person.`);
  return problems;
}

export function BotSettingsModal({
  opened,
  onClose,
  metadata,
  nodes,
  onSave,
}: {
  opened: boolean;
  onClose: () => void;
  metadata: Record<string, unknown> | null | undefined;
  nodes: FlowNode[];
  /** Saves the new metadata; rejects with a message to show. */
  onSave: (metadata: Record<string, unknown>) => Promise<void>;
}) {
  return (
    <Modal opened={opened} onClose={onClose} title="Chatbot settings" size="lg">
      {/* Mounted while open only: each opening starts from the settings saved. */}
      {opened && <SettingsForm metadata={metadata} nodes={nodes} onSave={onSave} onClose={onClose} />}
    </Modal>
  );
}

function SettingsForm({
  metadata,
  nodes,
  onSave,
  onClose,
}: {
  metadata: Record<string, unknown> | null | undefined;
  nodes: FlowNode[];
  onSave: (metadata: Record<string, unknown>) => Promise<void>;
  onClose: () => void;
}) {
  const [value, setValue] = useState(() => readSettings(metadata));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const problems = settingsProblems(value);
  const handoffs = nodes.filter((n) => n.type === 'handoff');
  const stepOptions = handoffs.map((n) => ({ value: n.id, label: `${n.id}: ${nodeSummary('handoff', n.data) || 'no message'}` }));
  const chosenMissing = value.handoffNodeId !== null && !handoffs.some((n) => n.id === value.handoffNodeId);
  if (chosenMissing) stepOptions.push({ value: value.handoffNodeId as string, label: `${value.handoffNodeId} (not a hand-off step of this draft)` });

  const save = async () => {
    setSaving(true);
    setError(null);
    try {
      await onSave(writeSettings(metadata, value));
      onClose();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Stack gap="md">
      <Text size="sm" c="dimmed">
        Customers get these with the next publish, like the flow itself.
      </Text>
      <NumberInput
        label="Session timeout (minutes)"
        description="A conversation idle this long starts from the beginning with its next message. Empty: never."
        placeholder="never"
        min={1}
        max={MAX_TIMEOUT_MINUTES}
        allowDecimal={false}
        value={value.sessionTimeoutMinutes ?? ''}
        onChange={(v) => setValue((s) => ({ ...s, sessionTimeoutMinutes: typeof v === 'number' ? v : null }))}
      />
      <Textarea
        label="Message after a timeout"
        description="Sent before the start's messages when a customer writes again after the timeout, unless they greeted (a start or restart keyword). {{contact.name}} works here. Empty: none."
        placeholder="e.g. Welcome back! We had not heard from you for a while, so let's start again."
        autosize
        minRows={2}
        maxLength={MAX_TIMEOUT_MESSAGE_LENGTH}
        disabled={value.sessionTimeoutMinutes === null && !value.sessionTimeoutMessage}
        value={value.sessionTimeoutMessage}
        onChange={(e) => {
          const text = e.currentTarget.value;
          setValue((s) => ({ ...s, sessionTimeoutMessage: text }));
        }}
      />
      <TagsInput
        label="Restart keywords"
        description="A message that is one of these (any case, punctuation around it ignored) starts the chatbot again. Enter after each."
        placeholder={value.restartKeywords.length ? '' : 'none: customers cannot start over'}
        value={value.restartKeywords}
        onChange={(v) => setValue((s) => ({ ...s, restartKeywords: v }))}
        clearable
      />
      <TagsInput
        label="Hand-off keywords"
        description="A message that is one of these, or asks for one in a sentence (“I want to talk to a person” for “talk to a person”; keywords of one or two words only alone or with “please”), hands the conversation to your team from any step (an option of the step waiting chosen by it is that option)."
        placeholder={value.handoffKeywords.length ? '' : 'e.g. agent, talk to a human'}
        value={value.handoffKeywords}
        onChange={(v) => setValue((s) => ({ ...s, handoffKeywords: v }))}
        clearable
      />
      <Select
        label="Hand-off step for these keywords"
        description={
          handoffs.length
            ? 'Its message is sent before your team takes over.'
            : 'This flow has no hand-off step: the keywords hand off without a message. Add one to tell the customer.'
        }
        placeholder={handoffs.length ? `the first: ${handoffs[0].id}` : 'none'}
        data={stepOptions}
        value={value.handoffNodeId}
        onChange={(v) => setValue((s) => ({ ...s, handoffNodeId: v }))}
        clearable
        disabled={!handoffs.length && !chosenMissing}
      />
      {[...problems, ...(error ? [error] : [])].map((p) => (
        <Alert key={p} color="red" py="xs">
          {p}
        </Alert>
      ))}
      <Group justify="flex-end">
        <Button variant="default" onClick={onClose}>
          Cancel
        </Button>
        <Button onClick={() => void save()} loading={saving} disabled={problems.length > 0}>
          Save settings
        </Button>
      </Group>
    </Stack>
  );
}
