import {
  Alert,
  Badge,
  Button,
  Code,
  CopyButton,
  Group,
  Modal,
  NumberInput,
  Paper,
  PasswordInput,
  SimpleGrid,
  Skeleton,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useForm } from '@mantine/form';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { api, errorMessage, unwrap, type TokenInfo } from '../api/client';
import { keys, useWhatsAppConfig } from '../api/queries';
import { relativeTime } from '../components/time';

export function SettingsPage() {
  return (
    <Stack p="md" maw={900} mx="auto" gap="lg">
      <Title order={1} size="h2">
        Settings
      </Title>
      <WhatsAppSettings />
      <TokenSettings />
    </Stack>
  );
}

function Copyable({ label, value }: { label: string; value: string }) {
  return (
    <Group gap="xs" wrap="nowrap">
      <TextInput label={label} value={value} readOnly style={{ flex: 1 }} onFocus={(e) => e.currentTarget.select()} />
      <CopyButton value={value}>
        {({ copied, copy }) => (
          <Button mt={24} variant="default" onClick={copy} aria-label={`Copy ${label}`}>
            {copied ? 'Copied' : 'Copy'}
          </Button>
        )}
      </CopyButton>
    </Group>
  );
}

/** `POST /api/whatsapp-config/test`. */
export type ConnectionTest =
  | { ok: true; displayPhoneNumber?: string | null; verifiedName?: string | null; qualityRating?: string | null }
  | { ok: false; error: { code?: number | string | null; title?: string | null; message?: string | null; httpStatus?: number | null } };

const QUALITY_COLOR: Record<string, string> = { GREEN: 'green', YELLOW: 'yellow', RED: 'red' };

export function ConnectionTestResult({ result, error }: { result?: ConnectionTest; error?: unknown }) {
  if (error)
    return (
      <Alert color="red" title="Could not test the connection" role="alert" data-testid="connection-test">
        {errorMessage(error)}
      </Alert>
    );
  if (!result) return null;
  if (result.ok)
    return (
      <Alert color="green" title="Connected to WhatsApp" role="status" data-testid="connection-test">
        <Stack gap={4}>
          <Text size="sm">
            Verified name: <b>{result.verifiedName || '—'}</b>
          </Text>
          <Text size="sm">
            Phone number: <b>{result.displayPhoneNumber || '—'}</b>
          </Text>
          {result.qualityRating && (
            <Group gap={6}>
              <Text size="sm">Quality rating:</Text>
              <Badge size="sm" variant="light" color={QUALITY_COLOR[result.qualityRating.toUpperCase()] ?? 'gray'}>
                {result.qualityRating}
              </Badge>
            </Group>
          )}
        </Stack>
      </Alert>
    );
  const e = result.error ?? {};
  // No HTTP answer at all (a wrong Graph API URL, no network, a timeout): nothing refused, nothing was reached.
  const unreached = e.httpStatus == null && e.code == null;
  return (
    <Alert color="red" title={unreached ? 'Could not reach WhatsApp' : 'WhatsApp refused the connection'} role="alert" data-testid="connection-test">
      <Stack gap={4}>
        <Text size="sm" fw={600}>
          {e.title || e.message || 'Unknown error'}
        </Text>
        {e.message && e.message !== e.title && <Text size="sm">{e.message}</Text>}
        <Text size="xs" c="dimmed">
          {e.code != null && <>Error code {String(e.code)}</>}
          {e.httpStatus != null && <> · HTTP {e.httpStatus}</>}
        </Text>
      </Stack>
    </Alert>
  );
}

function WhatsAppSettings() {
  const qc = useQueryClient();
  const config = useWhatsAppConfig();
  const form = useForm({
    initialValues: {
      phoneNumberId: '',
      businessAccountId: '',
      accessToken: '',
      webhookVerifyToken: '',
      appSecret: '',
      graphApiUrl: '',
      messagesPerSecond: '' as number | string,
    },
    validate: {
      phoneNumberId: (v) => (!v.trim() ? 'Required' : /^\d+$/.test(v.trim()) ? null : 'Digits only, as Meta shows it'),
      businessAccountId: (v) => (!v.trim() ? 'Required' : /^\d+$/.test(v.trim()) ? null : 'Digits only, as Meta shows it'),
      webhookVerifyToken: (v) => (v.trim() ? null : 'Required'),
      graphApiUrl: (v) => (!v || /^https?:\/\/\S+$/.test(v) ? null : 'An http(s) URL'),
      messagesPerSecond: (v) =>
        v === '' || (Number.isInteger(Number(v)) && Number(v) >= 1 && Number(v) <= 10000) ? null : 'A whole number from 1 to 10,000',
    },
  });
  useEffect(() => {
    if (config.data) {
      form.setValues({
        phoneNumberId: config.data.phoneNumberId,
        businessAccountId: config.data.businessAccountId,
        webhookVerifyToken: config.data.webhookVerifyToken,
        graphApiUrl: config.data.graphApiUrl ?? '',
        messagesPerSecond: config.data.messagesPerSecond ?? '',
        accessToken: '',
        appSecret: '',
      });
      form.resetDirty();
    }
  }, [config.data]);
  const save = useMutation({
    mutationFn: (v: typeof form.values) =>
      unwrap(
        api.PUT('/api/whatsapp-config', {
          body: {
            phoneNumberId: v.phoneNumberId.trim(),
            businessAccountId: v.businessAccountId.trim(),
            webhookVerifyToken: v.webhookVerifyToken.trim(),
            // secrets are write-only: empty keeps the stored one
            // pasted from Meta's pages, often with a line break or a space around it
            accessToken: v.accessToken.trim() || null,
            appSecret: v.appSecret.trim() || null,
            graphApiUrl: v.graphApiUrl || null,
            // empty: the server's default (WAB_SEND_RATE_PER_SECOND)
            messagesPerSecond: v.messagesPerSecond === '' ? null : Number(v.messagesPerSecond),
          },
        }),
      ),
    onSuccess: (data) => {
      qc.setQueryData(keys.config, data);
      notifications.show({ color: 'green', message: 'WhatsApp connection saved.' });
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Not saved', message: errorMessage(e) }),
  });
  const test = useMutation({
    mutationFn: async () => (await unwrap(api.POST('/api/whatsapp-config/test'))) as unknown as ConnectionTest,
  });
  const webhookUrl = `${window.location.origin}/webhooks/whatsapp`;
  const hasConfig = !!config.data;

  return (
    <Paper withBorder p="md">
      <Stack>
        <Group justify="space-between">
          <Title order={2} size="h4">
            WhatsApp connection
          </Title>
          {config.data && (
            <Badge color={config.data.isActive ? 'green' : 'gray'} variant="light">
              {config.data.isActive ? 'active' : 'inactive'}
            </Badge>
          )}
        </Group>
        {config.isPending && <Skeleton h={200} />}
        {config.isError && <Alert color="red">{errorMessage(config.error)}</Alert>}
        {config.data?.lastError && (
          <Alert color="red" title="Last error from WhatsApp">
            <Code block>{JSON.stringify(config.data.lastError, null, 2)}</Code>
          </Alert>
        )}
        {config.data?.lastWebhookRefusal && <WebhookRefusal refusal={config.data.lastWebhookRefusal} />}
        {!config.isPending && (
          <form onSubmit={form.onSubmit((v) => save.mutate(v))}>
            <Stack gap="sm">
              {!hasConfig && (
                <Text size="sm" c="dimmed">
                  Not connected yet. Fill in the values from your Meta app (WhatsApp → API Setup).
                </Text>
              )}
              <SimpleGrid cols={{ base: 1, sm: 2 }}>
                <TextInput label="Phone number ID" withAsterisk {...form.getInputProps('phoneNumberId')} />
                <TextInput label="WhatsApp Business Account ID" withAsterisk {...form.getInputProps('businessAccountId')} />
              </SimpleGrid>
              <PasswordInput
                label="Access token"
                description={hasConfig ? 'Stored and hidden. Leave empty to keep it.' : 'A system user token with whatsapp_business_messaging.'}
                placeholder={hasConfig ? '********' : ''}
                autoComplete="new-password"
                {...form.getInputProps('accessToken')}
              />
              <PasswordInput
                label="App secret"
                description={hasConfig ? 'Stored and hidden. Leave empty to keep it.' : 'Checks the signature of every webhook.'}
                placeholder={hasConfig ? '********' : ''}
                autoComplete="new-password"
                {...form.getInputProps('appSecret')}
              />
              <TextInput label="Webhook verify token" withAsterisk description="Any secret string; enter the same one in Meta's webhook settings." {...form.getInputProps('webhookVerifyToken')} />
              <SimpleGrid cols={{ base: 1, sm: 2 }}>
                <TextInput label="Graph API URL" placeholder="https://graph.facebook.com" description="Only to use the simulator or a proxy." {...form.getInputProps('graphApiUrl')} />
                <NumberInput
                  label="Messages per second"
                  placeholder="Server default"
                  description="Your tier in WhatsApp Manager: 80 by default, up to 1,000 (the simulator takes up to 10,000). Empty: the server's default."
                  min={1}
                  max={10000}
                  allowDecimal={false}
                  allowNegative={false}
                  thousandSeparator=","
                  {...form.getInputProps('messagesPerSecond')}
                />
              </SimpleGrid>
              <Group justify="flex-end">
                <Button
                  variant="default"
                  onClick={() => test.mutate()}
                  loading={test.isPending}
                  disabled={!hasConfig}
                  title={hasConfig ? 'Ask WhatsApp for this phone number with the stored token' : 'Save the connection first'}
                >
                  Test connection
                </Button>
                <Button type="submit" loading={save.isPending}>
                  Save connection
                </Button>
              </Group>
              {form.isDirty() && test.data && (
                <Text size="xs" c="dimmed" ta="right">
                  The test used the saved values; save your changes and test again.
                </Text>
              )}
              <ConnectionTestResult result={test.data} error={test.error} />
            </Stack>
          </form>
        )}
        <Title order={3} size="h5" mt="sm">
          Configure the webhook in Meta
        </Title>
        <Copyable label="Callback URL" value={webhookUrl} />
        {config.data && <Copyable label="Verify token" value={config.data.webhookVerifyToken} />}
      </Stack>
    </Paper>
  );
}

function TokenSettings() {
  const qc = useQueryClient();
  // One page of 200, newest first: the tokens a team actively manages (older ones stay revocable by the API).
  const tokens = useQuery({
    queryKey: keys.tokens,
    queryFn: async () => (await unwrap(api.GET('/api/tokens', { params: { query: { limit: 200 } } }))).items as TokenInfo[],
  });
  const [name, setName] = useState('');
  const [created, setCreated] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/api/tokens', { body: { name: name.trim() || 'web' } })),
    onSuccess: (t) => {
      setCreated(t.token);
      setName('');
      void qc.invalidateQueries({ queryKey: keys.tokens });
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Could not create a token', message: errorMessage(e) }),
  });
  const revoke = (t: TokenInfo) =>
    modals.openConfirmModal({
      title: `Revoke “${t.name}”?`,
      children: <Text size="sm">Everything that uses this token stops working at once. If it is the token you signed in with, you are signed out.</Text>,
      labels: { confirm: 'Revoke', cancel: 'Cancel' },
      confirmProps: { color: 'red' },
      onConfirm: async () => {
        try {
          await unwrap(api.DELETE('/api/tokens/{token_id}', { params: { path: { token_id: t.id } } }));
          void qc.invalidateQueries({ queryKey: keys.tokens });
        } catch (e) {
          notifications.show({ color: 'red', title: 'Could not revoke', message: errorMessage(e) });
        }
      },
    });
  const list = (tokens.data ?? []) as TokenInfo[];
  return (
    <Paper withBorder p="md">
      <Stack>
        <Title order={2} size="h4">
          API tokens
        </Title>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <Group align="flex-end" wrap="wrap">
            <TextInput label="New token name" description='Left empty, it is named "web".' placeholder="e.g. CRM integration" value={name} maxLength={100} onChange={(e) => setName(e.currentTarget.value)} style={{ flex: 1 }} miw={200} />
            <Button type="submit" loading={create.isPending}>
              Create token
            </Button>
          </Group>
        </form>
        {tokens.isPending && <Skeleton h={80} />}
        {tokens.isError && <Alert color="red">{errorMessage(tokens.error)}</Alert>}
        {tokens.data && (
          <Table.ScrollContainer minWidth={560}>
            <Table aria-label="API tokens">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Prefix</Table.Th>
                  <Table.Th>Created</Table.Th>
                  <Table.Th>Last used</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.map((t) => (
                  <Table.Tr key={t.id} opacity={t.revokedAt ? 0.5 : 1}>
                    <Table.Td>{t.name}</Table.Td>
                    <Table.Td>
                      <Code>{t.prefix}…</Code>
                    </Table.Td>
                    <Table.Td>{relativeTime(t.createdAt)}</Table.Td>
                    <Table.Td>{t.lastUsedAt ? relativeTime(t.lastUsedAt) : 'never'}</Table.Td>
                    <Table.Td>
                      {t.revokedAt ? (
                        <Badge color="gray">revoked</Badge>
                      ) : (
                        <Button size="xs" variant="light" color="red" onClick={() => revoke(t)}>
                          Revoke
                        </Button>
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Stack>
      <Modal opened={!!created} onClose={() => setCreated(null)} title="Your new token">
        <Stack>
          <Alert color="yellow">Copy it now: it is shown only once.</Alert>
          <Copyable label="Token" value={created ?? ''} />
          <Button onClick={() => setCreated(null)}>Done</Button>
        </Stack>
      </Modal>
    </Paper>
  );
}

/** Meta's deliveries are refused: the app secret saved here is not the Meta app's (it is never shown again). */
export function WebhookRefusal({ refusal }: { refusal: Record<string, unknown> }) {
  const at = typeof refusal.at === 'string' ? new Date(refusal.at) : null;
  return (
    <Alert color="red" title="Webhook deliveries are being refused">
      <Text size="sm">
        A delivery{at && !Number.isNaN(at.getTime()) ? ` at ${at.toLocaleString()}` : ''} was signed with
        another secret than the app secret saved here, so it was not received. If Meta sent it, the app secret
        saved here is not your Meta app&apos;s: copy it from the app (App settings → Basic) into App secret below
        and save. This clears once a delivery is accepted.
      </Text>
    </Alert>
  );
}
