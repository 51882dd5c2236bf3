import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { renderUI } from '../test/render';

// openapi-fetch takes globalThis.fetch when the client is created: replace it before the imports run.
const fetchMock = vi.hoisted(() => {
  const f = vi.fn<(input?: Request) => Promise<Response>>();
  globalThis.fetch = f as unknown as typeof fetch;
  return f;
});

const { DashboardPage } = await import('./DashboardPage');

const day = (date: string, n: number) => ({ date, conversationsStarted: n, completed: n > 0 ? 1 : 0, handedOff: 0, messagesIn: 3 * n, messagesOut: 4 * n });
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('DashboardPage', () => {
  beforeEach(() => fetchMock.mockReset());

  it('shows the totals and the failures, and asks again for another range', async () => {
    fetchMock.mockImplementation(async (req?: Request) => {
      const days = req ? Number(new URL(req.url).searchParams.get('days')) : 14;
      return json({
        days: [day('2026-01-01', 2), day('2026-01-02', days === 7 ? 5 : 1)],
        failuresByReason: [{ code: '131047', title: 'Re-engagement message', count: 3 }],
      });
    });
    renderUI(<DashboardPage />);
    expect(await screen.findByTestId('total-started')).toHaveTextContent('3');
    expect(screen.getByTestId('total-in')).toHaveTextContent('9');
    expect(screen.getByTestId('total-out')).toHaveTextContent('12');
    expect(screen.getByTestId('total-failed')).toHaveTextContent('3');
    const table = screen.getByTestId('failures-table');
    expect(within(table).getByText('Re-engagement message')).toBeInTheDocument();
    expect(screen.getByRole('img', { name: /Conversations per day: Started 3, Completed 2, Handed off 0/ })).toBeInTheDocument();
    expect(new URL(fetchMock.mock.calls[0][0]!.url).searchParams.get('days')).toBe('14');

    await userEvent.click(screen.getByRole('radio', { name: '7 days' }));
    await waitFor(() => expect(screen.getByTestId('total-started')).toHaveTextContent('7'));
  });

  it('says when there is nothing yet', async () => {
    fetchMock.mockResolvedValue(json({ days: [day('2026-01-01', 0)], failuresByReason: [] }));
    renderUI(<DashboardPage />);
    expect(await screen.findByText('Nothing yet')).toBeInTheDocument();
    expect(screen.getByTestId('no-failures')).toBeInTheDocument();
  });

  it('shows the error with a retry', async () => {
    fetchMock.mockResolvedValue(json({ error: { code: 'boom', message: 'The database is away.' } }, 503));
    renderUI(<DashboardPage />);
    expect(await screen.findByText('The database is away.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
  });
});
