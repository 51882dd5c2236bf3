import { Alert, Anchor, Button, Center, Code, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import { errorMessage } from '../api/client';
import { clearToken, consumeTokenFromLocation, getToken, setToken, wasSignedOutExpired } from './token';

/** Checks a token against the API: GET /api/tokens answers 200 only with a valid token. */
export async function checkToken(token: string): Promise<boolean> {
  const r = await fetch('/api/tokens', { headers: { Authorization: `Bearer ${token}` } });
  if (r.status === 401 || r.status === 403) return false;
  if (!r.ok) throw new Error(`The server answered ${r.status}.`);
  return true;
}

export function LoginPage() {
  const navigate = useNavigate();
  const loc = useLocation();
  const from = (loc.state as { from?: string } | null)?.from ?? '/chatbots';
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [expired] = useState(wasSignedOutExpired);

  // The sign-in link: /login#token=… — keep the token, strip it from the address bar.
  // (Also when the link is opened in a tab that already shows /login: only the fragment changes then.)
  useEffect(() => {
    const fromLink = () => {
      const token = consumeTokenFromLocation();
      if (!token) return false;
      checkToken(token)
        .then((ok) => {
          if (ok) navigate(from, { replace: true });
          else {
            clearToken();
            setError('The token in this link is not valid (revoked?). Paste a new one.');
          }
        })
        .catch((e) => setError(errorMessage(e)));
      return true;
    };
    if (!fromLink() && getToken()) navigate(from, { replace: true });
    window.addEventListener('hashchange', fromLink);
    return () => window.removeEventListener('hashchange', fromLink);
  }, []);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const token = value.trim();
    if (!token) return setError('Paste an API token.');
    setBusy(true);
    setError(null);
    try {
      if (await checkToken(token)) {
        setToken(token);
        navigate(from, { replace: true });
      } else setError('This token is not valid.');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100dvh" p="md" bg="gray.0">
      <Paper withBorder shadow="sm" p="xl" w={440} maw="100%">
        <form onSubmit={submit} aria-label="Sign in">
          <Stack>
            <Title order={1} size="h2">
              Sign in to WhatsApp Builder
            </Title>
            <Text size="sm" c="dimmed">
              Open the link that <Code>whatsapp-builder serve</Code> prints, or paste an API token from{' '}
              <Code>whatsapp-builder token create</Code>.
            </Text>
            {expired && !error && (
              <Alert color="yellow" title="You were signed out" data-testid="signed-out-expired">
                The server no longer accepts the token this browser used: it was revoked, or the server now uses
                another database. Open the link <Code>whatsapp-builder serve</Code> prints now, or paste a token.
              </Alert>
            )}
            <PasswordInput label="API token" placeholder="wab_…" value={value} onChange={(e) => setValue(e.currentTarget.value)} autoFocus />
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <Button type="submit" loading={busy}>
              Sign in
            </Button>
            <Text size="xs" c="dimmed">
              The token stays in this browser until you sign out. <Anchor href="/docs">API docs</Anchor>
            </Text>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
