import { screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Route, Routes } from 'react-router-dom';
import { renderUI } from '../test/render';
import { LoginPage } from './LoginPage';
import { clearToken, consumeTokenFromLocation, getToken, parseTokenFragment, setToken, wasSignedOutExpired } from './token';
import userEvent from '@testing-library/user-event';

describe('token handling', () => {
  beforeEach(() => localStorage.clear());
  afterEach(() => vi.unstubAllGlobals());

  it('parses the token out of a fragment and keeps the rest', () => {
    expect(parseTokenFragment('#token=wab_abc')).toEqual({ token: 'wab_abc', rest: '' });
    expect(parseTokenFragment('#token=wab_abc&x=1')).toEqual({ token: 'wab_abc', rest: '#x=1' });
    expect(parseTokenFragment('')).toEqual({ token: null, rest: '' });
    expect(parseTokenFragment('#token=')).toEqual({ token: null, rest: '' });
  });

  it('stores the token from the address and strips it from the address bar', () => {
    window.history.replaceState(null, '', '/login#token=wab_secret');
    expect(consumeTokenFromLocation()).toBe('wab_secret');
    expect(getToken()).toBe('wab_secret');
    expect(window.location.hash).toBe('');
    expect(window.location.href).not.toContain('wab_secret');
  });

  it('signing out forgets the token', () => {
    setToken('wab_x');
    clearToken();
    expect(getToken()).toBeNull();
  });

  it('the sign-in form checks a pasted token with GET /api/tokens', async () => {
    window.history.replaceState(null, '', '/login');
    const fetchMock = vi.fn(async (_url: string, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get('Authorization');
      return new Response('[]', { status: auth === 'Bearer good' ? 200 : 401 });
    });
    vi.stubGlobal('fetch', fetchMock);
    renderUI(
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route path="/chatbots" element={<p>chatbots page</p>} />
      </Routes>,
      { route: '/login' },
    );
    const input = screen.getByLabelText('API token');
    await userEvent.type(input, 'bad');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('This token is not valid.')).toBeInTheDocument();
    expect(getToken()).toBeNull();
    await userEvent.clear(input);
    await userEvent.type(input, 'good');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(screen.getByText('chatbots page')).toBeInTheDocument());
    expect(getToken()).toBe('good');
    expect(fetchMock).toHaveBeenCalledWith('/api/tokens', expect.anything());
  });
});

describe('signed out by the server', () => {
  it('is remembered until the next sign-in', () => {
    setToken('wab_old');
    clearToken(true);
    expect(getToken()).toBeNull();
    expect(wasSignedOutExpired()).toBe(true);
    setToken('wab_new');
    expect(wasSignedOutExpired()).toBe(false);
    clearToken();
    expect(wasSignedOutExpired()).toBe(false);
  });
});
