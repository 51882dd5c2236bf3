import '@mantine/charts/styles.css';
import { BarChart, LineChart } from '@mantine/charts';
import { Alert, Button, Group, Paper, SegmentedControl, SimpleGrid, Skeleton, Stack, Table, Text, Title, VisuallyHidden } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { api, errorMessage, unwrap } from '../api/client';
import { keys } from '../api/queries';

/** `GET /api/stats/daily`. */
export interface DailyStats {
  days: { date: string; conversationsStarted: number; completed: number; handedOff: number; messagesIn: number; messagesOut: number }[];
  failuresByReason: { code: string | number | null; title: string | null; count: number }[];
}

const RANGES = ['7', '14', '30'];

export function useDailyStats(days: number) {
  return useQuery({
    queryKey: keys.daily(days),
    queryFn: async () => (await unwrap(api.GET('/api/stats/daily', { params: { query: { days } } }))) as unknown as DailyStats,
    placeholderData: keepPreviousData,
    refetchInterval: 60_000,
  });
}

const dayLabel = (iso: string) => new Date(`${iso}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

const CONVERSATION_SERIES = [
  { name: 'conversationsStarted', label: 'Started', color: 'teal.6' },
  { name: 'completed', label: 'Completed', color: 'blue.6' },
  { name: 'handedOff', label: 'Handed off', color: 'pink.6' },
];
const MESSAGE_SERIES = [
  { name: 'messagesIn', label: 'In', color: 'indigo.6' },
  { name: 'messagesOut', label: 'Out', color: 'orange.6' },
];

export function DashboardPage() {
  const [range, setRange] = useState('14');
  const days = Number(range);
  const stats = useDailyStats(days);
  const data = stats.data;
  const rows = useMemo(() => (data?.days ?? []).map((d) => ({ ...d, label: dayLabel(d.date) })), [data]);
  const totals = useMemo(() => {
    const t = { conversationsStarted: 0, completed: 0, handedOff: 0, messagesIn: 0, messagesOut: 0, failed: 0 };
    for (const d of data?.days ?? []) {
      t.conversationsStarted += d.conversationsStarted;
      t.completed += d.completed;
      t.handedOff += d.handedOff;
      t.messagesIn += d.messagesIn;
      t.messagesOut += d.messagesOut;
    }
    for (const f of data?.failuresByReason ?? []) t.failed += f.count;
    return t;
  }, [data]);
  const empty = !!data && Object.values(totals).every((v) => v === 0);

  return (
    <Stack p="md" maw={1200} mx="auto" gap="md">
      <Group justify="space-between" wrap="wrap">
        <Title order={1} size="h2">
          Dashboard
        </Title>
        <Group gap="xs">
          <Text size="sm" c="dimmed" id="range-label">
            Last
          </Text>
          <SegmentedControl
            aria-labelledby="range-label"
            value={range}
            onChange={setRange}
            data={RANGES.map((r) => ({ value: r, label: `${r} days` }))}
            data-testid="days-selector"
          />
        </Group>
      </Group>

      {stats.isError && (
        <Alert color="red" title="Could not load the figures" role="alert">
          <Stack gap="xs" align="flex-start">
            <Text size="sm">{errorMessage(stats.error)}</Text>
            <Button size="xs" variant="default" onClick={() => void stats.refetch()}>
              Try again
            </Button>
          </Stack>
        </Alert>
      )}

      {stats.isPending && (
        <Stack aria-busy="true" aria-label="Loading the figures">
          <SimpleGrid cols={{ base: 2, sm: 3, md: 6 }}>
            {Array.from({ length: 6 }, (_, i) => (
              <Skeleton key={i} h={72} />
            ))}
          </SimpleGrid>
          <Skeleton h={260} />
          <Skeleton h={260} />
        </Stack>
      )}

      {data && (
        <Stack gap="md" aria-busy={stats.isFetching || undefined} style={{ opacity: stats.isPlaceholderData ? 0.6 : 1, transition: 'opacity 120ms' }}>
          <SimpleGrid cols={{ base: 2, sm: 3, md: 6 }} component="dl" m={0} data-testid="totals">
            <Figure label="Conversations started" value={totals.conversationsStarted} testId="total-started" />
            <Figure label="Completed" value={totals.completed} testId="total-completed" />
            <Figure label="Handed off" value={totals.handedOff} testId="total-handed-off" />
            <Figure label="Messages in" value={totals.messagesIn} testId="total-in" />
            <Figure label="Messages out" value={totals.messagesOut} testId="total-out" />
            <Figure label="Failed deliveries" value={totals.failed} testId="total-failed" />
          </SimpleGrid>

          {empty && (
            <Alert color="gray" variant="light" title="Nothing yet">
              No conversations or messages in the last {days} days. Figures appear here once customers write to your number.
            </Alert>
          )}

          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <ChartCard
              title="Conversations per day"
              description={`Bot conversations started, completed and handed off to a human per day (UTC), last ${days} days.`}
              rows={rows}
              series={CONVERSATION_SERIES}
              testId="chart-conversations"
            />
            <ChartCard
              title="Messages per day"
              description={`Messages received from and sent to customers per day (UTC), last ${days} days.`}
              rows={rows}
              series={MESSAGE_SERIES}
              testId="chart-messages"
            />
          </SimpleGrid>

          <Paper withBorder p="md" component="section" aria-labelledby="failures-title">
            <Title order={2} size="h4" id="failures-title" mb="xs">
              Delivery failures by reason
            </Title>
            {data.failuresByReason.length === 0 ? (
              <Text size="sm" c="dimmed" data-testid="no-failures">
                No failed deliveries in the last {days} days.
              </Text>
            ) : (
              <SimpleGrid cols={{ base: 1, md: 2 }}>
                <div role="img" aria-label={`Bar chart of failed deliveries by WhatsApp error, last ${days} days; the table lists the same figures.`}>
                  <BarChart
                    h={Math.max(120, data.failuresByReason.length * 36)}
                    data={data.failuresByReason.map((f) => ({ reason: shortReason(f), count: f.count }))}
                    dataKey="reason"
                    orientation="vertical"
                    yAxisProps={{ width: 140 }}
                    series={[{ name: 'count', label: 'Failed', color: 'red.6' }]}
                    gridAxis="none"
                  />
                </div>
                <Table striped withTableBorder data-testid="failures-table">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Code</Table.Th>
                      <Table.Th>Reason</Table.Th>
                      <Table.Th ta="right">Messages</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {data.failuresByReason.map((f) => (
                      <Table.Tr key={String(f.code)}>
                        <Table.Td>{f.code ?? '—'}</Table.Td>
                        <Table.Td>{f.title || 'Unknown error'}</Table.Td>
                        <Table.Td ta="right">{f.count}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </SimpleGrid>
            )}
          </Paper>
        </Stack>
      )}
    </Stack>
  );
}

function shortReason(f: DailyStats['failuresByReason'][number]) {
  const t = f.title || 'Unknown error';
  const s = f.code != null ? `${f.code} ${t}` : t;
  return s.length > 28 ? `${s.slice(0, 27)}…` : s;
}

function Figure({ label, value, testId }: { label: string; value: number; testId: string }) {
  return (
    <Paper withBorder p="sm">
      <Text component="dt" size="xs" c="dimmed">
        {label}
      </Text>
      <Text component="dd" m={0} fw={700} size="xl" data-testid={testId}>
        {value.toLocaleString()}
      </Text>
    </Paper>
  );
}

type Row = DailyStats['days'][number] & { label: string };

function ChartCard({
  title,
  description,
  rows,
  series,
  testId,
}: {
  title: string;
  description: string;
  rows: Row[];
  series: { name: string; label: string; color: string }[];
  testId: string;
}) {
  const id = `${testId}-title`;
  return (
    <Paper withBorder p="md" component="section" aria-labelledby={id} data-testid={testId}>
      <Title order={2} size="h4" id={id}>
        {title}
      </Title>
      <Text size="xs" c="dimmed" mb="sm">
        {description}
      </Text>
      <div role="img" aria-label={`${title}: ${series.map((s) => `${s.label} ${rows.reduce((n, r) => n + Number(r[s.name as keyof Row]), 0)}`).join(', ')}. The table below lists each day.`}>
        <LineChart
          h={240}
          data={rows}
          dataKey="label"
          series={series}
          // straight lines: a day's count is a point, and a curve between two days suggests values in between
          curveType="linear"
          withLegend
          legendProps={{ verticalAlign: 'bottom' }}
          yAxisProps={{ allowDecimals: false }}
          withDots={rows.length <= 14}
        />
      </div>
      {/* the same figures as text, for screen readers and keyboard users */}
      <VisuallyHidden>
        <table>
          <caption>{title}</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              {series.map((s) => (
                <th key={s.name} scope="col">
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.date}>
                <th scope="row">{r.date}</th>
                {series.map((s) => (
                  <td key={s.name}>{String(r[s.name as keyof Row])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </VisuallyHidden>
    </Paper>
  );
}
