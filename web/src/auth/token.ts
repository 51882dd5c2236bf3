// The API token: read from the sign-in link's fragment (/login#token=…), kept in localStorage.
const KEY = 'wab.token';
const listeners = new Set<() => void>();

export function getToken(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string): void {
  localStorage.setItem(KEY, token.trim());
  try {
    sessionStorage.removeItem('wab.signedOut');
  } catch {
    /* nothing to forget */
  }
  listeners.forEach((l) => l());
}

const SIGNED_OUT = 'wab.signedOut';

/** Forget the token; `expired` when the server refused it (the sign-in page then says why). */
export function clearToken(expired = false): void {
  localStorage.removeItem(KEY);
  try {
    if (expired) sessionStorage.setItem(SIGNED_OUT, 'expired');
    else sessionStorage.removeItem(SIGNED_OUT);
  } catch {
    /* storage unavailable: the sign-in page just says less */
  }
  listeners.forEach((l) => l());
}

/** Whether the last sign-out was the server refusing the token (until the next sign-in). */
export function wasSignedOutExpired(): boolean {
  try {
    return sessionStorage.getItem(SIGNED_OUT) === 'expired';
  } catch {
    return false;
  }
}

export function subscribeToken(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Takes `token=…` out of a URL fragment. Returns the token (or null) and the fragment without it. */
export function parseTokenFragment(hash: string): { token: string | null; rest: string } {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  const params = new URLSearchParams(raw);
  const token = params.get('token');
  params.delete('token');
  const rest = params.toString();
  return { token: token && token.trim() ? token.trim() : null, rest: rest ? `#${rest}` : '' };
}

/** If the address bar holds #token=…, store it and strip it from the address (history is replaced). */
export function consumeTokenFromLocation(loc: Location = window.location, hist: History = window.history): string | null {
  const { token, rest } = parseTokenFragment(loc.hash);
  if (!token) return null;
  setToken(token);
  hist.replaceState(hist.state, '', `${loc.pathname}${loc.search}${rest}`);
  return token;
}
