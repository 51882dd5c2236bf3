import {
  ActionIcon,
  Alert,
  Badge,
  Button,
  Card,
  FileButton,
  Group,
  Menu,
  Modal,
  Skeleton,
  Stack,
  Switch,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMediaQuery } from '@mantine/hooks';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api, errorMessage, unwrap, type ChatbotSummary } from '../api/client';
import { downloadJson, keys, slug, useChatbots, usePatchChatbot } from '../api/queries';
import { relativeTime } from '../components/time';

const STATUS_COLOR = { draft: 'gray', active: 'green', archived: 'orange' } as const;

/** A new chatbot's graph: a start node whose keyword is the chatbot's name. Not "hi": the demo bot (and most
 * first bots) already answer it, and of two chatbots with one keyword only the older one ever gets it. */
function starterGraph(name: string) {
  const keyword = name.trim().toLowerCase().replace(/\s+/g, ' ').slice(0, 50) || 'start';
  return {
    nodes: [{ id: 'start', type: 'start', position: { x: 0, y: 0 }, data: { triggerKeywords: [keyword] } }],
    edges: [],
  };
}

export function ChatbotsPage() {
  const list = useChatbots();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const patch = usePatchChatbot();
  const narrow = useMediaQuery('(max-width: 48em)');
  const [createOpen, setCreateOpen] = useState(false);
  const [renaming, setRenaming] = useState<ChatbotSummary | null>(null);

  const refresh = () => qc.invalidateQueries({ queryKey: keys.chatbots });

  const toggleActive = async (c: ChatbotSummary, isActive: boolean) => {
    try {
      await patch.mutateAsync({ id: c.id, body: { isActive } });
      notifications.show({ message: `${c.name} is ${isActive ? 'active' : 'inactive'}.`, color: isActive ? 'green' : 'gray' });
    } catch (e) {
      notifications.show({ color: 'red', title: `Could not ${isActive ? 'activate' : 'deactivate'} ${c.name}`, message: errorMessage(e) });
    }
  };

  const duplicate = useMutation({
    mutationFn: (id: string) => unwrap(api.POST('/api/chatbots/{chatbot_id}/duplicate', { params: { path: { chatbot_id: id } } })),
    onSuccess: (c) => {
      void refresh();
      notifications.show({ color: 'green', message: `Created ${c.name}.` });
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Could not duplicate', message: errorMessage(e) }),
  });

  const remove = (c: ChatbotSummary) =>
    modals.openConfirmModal({
      title: `Delete ${c.name}?`,
      children: (
        <Text size="sm">
          The chatbot and its flow are deleted. {c.runningConversations > 0 && `${c.runningConversations} running conversation(s) stop.`} This cannot be
          undone; export it first to keep a copy.
        </Text>
      ),
      labels: { confirm: 'Delete', cancel: 'Cancel' },
      confirmProps: { color: 'red' },
      onConfirm: async () => {
        try {
          await unwrap(api.DELETE('/api/chatbots/{chatbot_id}', { params: { path: { chatbot_id: c.id } } }));
          notifications.show({ message: `Deleted ${c.name}.` });
          void refresh();
        } catch (e) {
          notifications.show({ color: 'red', title: 'Could not delete', message: errorMessage(e) });
        }
      },
    });

  const exportBot = async (c: ChatbotSummary) => {
    try {
      const data = await unwrap(api.GET('/api/chatbots/{chatbot_id}/export', { params: { path: { chatbot_id: c.id } } }));
      downloadJson(`${slug(c.name)}.json`, data);
    } catch (e) {
      notifications.show({ color: 'red', title: 'Could not export', message: errorMessage(e) });
    }
  };

  const importFile = async (file: File | null) => {
    if (!file) return;
    let text: string;
    try {
      // file.text() would turn bytes that are not UTF-8 into U+FFFD and import the damage (the API and the CLI
      // refuse such a file)
      text = new TextDecoder('utf-8', { fatal: true }).decode(await file.arrayBuffer());
    } catch {
      notifications.show({ color: 'red', title: 'Could not import', message: 'The file is not UTF-8 text: save it as UTF-8 and try again.' });
      return;
    }
    try {
      const body = JSON.parse(text);
      const c = await unwrap(api.POST('/api/chatbots/import', { params: { query: { activate: false } }, body }));
      void refresh();
      // A file is imported as a draft whatever it holds; say at once what must be fixed before it can go live.
      const errors = c.validation.errors;
      notifications.show(
        errors.length
          ? {
              color: 'yellow',
              title: `Imported ${c.name}, with ${errors.length === 1 ? '1 problem' : `${errors.length} problems`}`,
              message: `${errors[0].message}. Open it to fix ${errors.length === 1 ? 'it' : 'them'} before publishing.`,
            }
          : { color: 'green', message: `Imported ${c.name}.` },
      );
    } catch (e) {
      notifications.show({
        color: 'red',
        title: 'Could not import',
        message: e instanceof SyntaxError ? 'The file is not JSON.' : errorMessage(e),
      });
    }
  };

  const actions = (c: ChatbotSummary) => (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <ActionIcon variant="subtle" aria-label={`Actions for ${c.name}`}>
          ⋯
        </ActionIcon>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item component={Link} to={`/chatbots/${c.id}`}>
          Edit flow
        </Menu.Item>
        <Menu.Item onClick={() => setRenaming(c)}>Rename</Menu.Item>
        <Menu.Item onClick={() => duplicate.mutate(c.id)}>Duplicate</Menu.Item>
        <Menu.Item onClick={() => exportBot(c)}>Export JSON</Menu.Item>
        <Menu.Divider />
        <Menu.Item color="red" onClick={() => remove(c)}>
          Delete
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );

  const activeSwitch = (c: ChatbotSummary) => (
    <Switch
      checked={c.isActive}
      onChange={(e) => toggleActive(c, e.currentTarget.checked)}
      aria-label={`${c.name} active`}
      label={narrow ? 'Active' : undefined}
    />
  );

  return (
    <Stack p="md" maw={1200} mx="auto">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Chatbots
        </Title>
        <Group gap="xs">
          <FileButton onChange={importFile} accept="application/json,.json">
            {(props) => (
              <Button variant="default" {...props}>
                Import
              </Button>
            )}
          </FileButton>
          <Button onClick={() => setCreateOpen(true)}>New chatbot</Button>
        </Group>
      </Group>

      {list.isPending && (
        <Stack aria-label="Loading chatbots">
          <Skeleton h={40} />
          <Skeleton h={40} />
          <Skeleton h={40} />
        </Stack>
      )}
      {list.isError && (
        <Alert color="red" title="Could not load the chatbots">
          {errorMessage(list.error)}{' '}
          <Button size="xs" variant="light" onClick={() => list.refetch()}>
            Retry
          </Button>
        </Alert>
      )}
      {list.data && list.data.length === 0 && (
        <Card withBorder p="xl" ta="center">
          <Text fw={600}>No chatbots yet</Text>
          <Text size="sm" c="dimmed" mb="md">
            Create one, or import a JSON file (the demo is examples/demo-chatbot.json).
          </Text>
          <Group justify="center">
            <Button onClick={() => setCreateOpen(true)}>New chatbot</Button>
          </Group>
        </Card>
      )}
      {list.data && list.data.length > 0 && narrow && (
        <Stack gap="xs">
          {list.data.map((c) => (
            <Card key={c.id} withBorder p="sm">
              <Group justify="space-between" wrap="nowrap">
                <Text component={Link} to={`/chatbots/${c.id}`} fw={600} truncate>
                  {c.name}
                </Text>
                {actions(c)}
              </Group>
              <Group gap="xs" mt={4}>
                <Badge color={STATUS_COLOR[c.status]} variant="light">
                  {c.status}
                </Badge>
                <Text size="xs" c="dimmed">
                  {c.runningConversations} running · edited {relativeTime(c.updatedAt)}
                </Text>
              </Group>
              <Group mt="xs">{activeSwitch(c)}</Group>
            </Card>
          ))}
        </Stack>
      )}
      {list.data && list.data.length > 0 && !narrow && (
        <Table.ScrollContainer minWidth={700}>
          <Table highlightOnHover verticalSpacing="sm" aria-label="Chatbots">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Active</Table.Th>
                <Table.Th>Nodes</Table.Th>
                <Table.Th>Running</Table.Th>
                <Table.Th>Last edit</Table.Th>
                <Table.Th>
                  <span className="visually-hidden">Actions</span>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.data.map((c) => (
                <Table.Tr key={c.id}>
                  <Table.Td>
                    {/* A long name without spaces is cut, or it would push every other column off screen. */}
                    <Text component={Link} to={`/chatbots/${c.id}`} fw={600} c="teal.9" truncate="end" maw={380} display="block" title={c.name} dir="auto">
                      {c.name}
                    </Text>
                    {c.description && (
                      <Text size="xs" c="dimmed" lineClamp={1} maw={380}>
                        {c.description}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Badge color={STATUS_COLOR[c.status]} variant="light">
                      {c.status}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{activeSwitch(c)}</Table.Td>
                  <Table.Td>{c.nodeCount}</Table.Td>
                  <Table.Td>{c.runningConversations}</Table.Td>
                  <Table.Td>
                    <Text size="sm" title={new Date(c.updatedAt).toLocaleString()}>
                      {relativeTime(c.updatedAt)}
                    </Text>
                  </Table.Td>
                  <Table.Td>{actions(c)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <CreateModal
        opened={createOpen}
        onClose={() => setCreateOpen(false)}
        onCreated={(id) => {
          void refresh();
          navigate(`/chatbots/${id}`);
        }}
      />
      <RenameModal chatbot={renaming} onClose={() => setRenaming(null)} />
    </Stack>
  );
}

function CreateModal({ opened, onClose, onCreated }: { opened: boolean; onClose(): void; onCreated(id: string): void }) {
  const form = useForm({
    initialValues: { name: '', description: '' },
    validate: { name: (v) => (v.trim() ? (v.length > 255 ? 'At most 255 characters' : null) : 'Give it a name') },
  });
  const [busy, setBusy] = useState(false);
  const submit = form.onSubmit(async (v) => {
    setBusy(true);
    try {
      const c = await unwrap(
        api.POST('/api/chatbots', {
          body: { name: v.name.trim(), description: v.description || null, ...starterGraph(v.name), isActive: false, status: 'draft' },
        }),
      );
      form.reset();
      onClose();
      onCreated(c.id);
    } catch (e) {
      form.setFieldError('name', errorMessage(e));
    } finally {
      setBusy(false);
    }
  });
  return (
    <Modal opened={opened} onClose={onClose} title="New chatbot">
      <form onSubmit={submit}>
        <Stack>
          <TextInput label="Name" withAsterisk data-autofocus {...form.getInputProps('name')} />
          <Textarea label="Description" autosize minRows={2} {...form.getInputProps('description')} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={busy}>
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function RenameModal({ chatbot, onClose }: { chatbot: ChatbotSummary | null; onClose(): void }) {
  const patch = usePatchChatbot();
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal
      opened={!!chatbot}
      onClose={onClose}
      title="Rename chatbot"
      transitionProps={{ onEnter: () => (setName(chatbot?.name ?? ''), setError(null)) }}
    >
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          if (!chatbot || !name.trim()) return setError('Give it a name');
          try {
            await patch.mutateAsync({ id: chatbot.id, body: { name: name.trim() } });
            onClose();
          } catch (err) {
            setError(errorMessage(err));
          }
        }}
      >
        <Stack>
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={error} data-autofocus />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={patch.isPending}>
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
