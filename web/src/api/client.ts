import createClient, { type Middleware } from 'openapi-fetch';
import { clearToken, getToken } from '../auth/token';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type ChatbotSummary = Schemas['ChatbotSummary'];
export type Chatbot = Schemas['ChatbotOut'];
export type Conversation = Schemas['ConversationOut'];
export type ConversationDetail = Schemas['ConversationDetail'];
export type Message = Schemas['MessageOut'];
export type Problem = Schemas['ProblemOut'];
export type Validation = Schemas['ValidationOut'];
export type TokenInfo = Schemas['TokenOut'];
export type WhatsAppConfig = Schemas['WhatsAppConfigOut'];
export type UserInfo = Schemas['UserOut'];
export type ContextInfo = Schemas['ContextOut'];

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown[];
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details: unknown[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function toApiError(status: number, body: unknown): ApiError {
  const err = (body as { error?: ApiErrorBody } | undefined)?.error;
  if (err && typeof err.code === 'string') return new ApiError(status, err.code, err.message ?? err.code, err.details ?? []);
  const detail = (body as { detail?: unknown } | undefined)?.detail;
  if (Array.isArray(detail)) return new ApiError(status, 'invalid_request', 'The request is invalid.', detail);
  return new ApiError(status, `http_${status}`, `The server answered ${status}.`);
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && getToken()) clearToken(true);
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: typeof window !== 'undefined' ? window.location.origin : '' });
api.use(auth);

/** Unwraps an openapi-fetch result: the data, or throws an ApiError. */
export async function unwrap<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await p;
  if (!response.ok) throw toApiError(response.status, error);
  return data as T;
}

/** A raw call for routes the schema doesn't describe (yet). */
export async function rawFetch<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const response = await fetch(path, { ...init, headers });
  const text = await response.text();
  const body: unknown = text ? safeJson(text) : undefined;
  if (!response.ok) {
    if (response.status === 401 && token) clearToken(true);
    throw toApiError(response.status, body);
  }
  return body as T;
}

/** A binary answer (a customer's photo), with the token; an ApiError from the JSON error body otherwise. */
export async function fetchBlob(path: string): Promise<Blob> {
  const headers = new Headers();
  const token = getToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  const response = await fetch(path, { headers });
  if (!response.ok) {
    if (response.status === 401 && token) clearToken(true);
    const text = await response.text();
    throw toApiError(response.status, text ? safeJson(text) : undefined);
  }
  return response.blob();
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** An ApiError's details that say something: the field they name ('' for none) and why. */
function detailsOf(e: ApiError): { field: string; message: string }[] {
  return e.details
    .filter((d): d is { field?: unknown; message?: unknown } => !!d && typeof d === 'object')
    .map((d) => ({ field: typeof d.field === 'string' ? d.field : '', message: typeof d.message === 'string' ? d.message : '' }))
    .filter((d) => d.message);
}

/** The details' messages by the field they name (`content.language` → "…"), for errors shown beside a form's
 *  own inputs; the first message of a field wins. */
export function fieldErrors(e: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(e instanceof ApiError)) return out;
  for (const { field, message } of detailsOf(e)) if (field && !(field in out)) out[field] = message;
  return out;
}

/** What to tell a person: the error's message, and what its details say about which value and why. */
export function errorMessage(e: unknown): string {
  // an id in the page's address that is no id at all (edited by hand, cut when pasted): the API's 422 names the
  // path parameter, which means nothing to an operator
  if (e instanceof ApiError && e.status === 422) {
    const details = detailsOf(e);
    if (details.length && details.every((d) => d.field.startsWith('path.'))) return 'There is nothing at this address: the link is not complete or not right.';
  }
  if (e instanceof ApiError) {
    const parts = detailsOf(e).map(({ field, message }) => (field ? `${field}: ${message}` : message));
    if (!parts.length) return e.message;
    return `${e.message} ${parts.slice(0, 3).join('; ')}${parts.length > 3 ? ` (and ${parts.length - 3} more)` : ''}`;
  }
  // fetch() itself failed: the browser's words for it ("Failed to fetch", "NetworkError when attempting to fetch
  // resource", "Load failed") say nothing to an operator
  if (e instanceof TypeError && /fetch|network|load failed/i.test(e.message))
    return 'The server cannot be reached. Check that it is running, then try again.';
  if (e instanceof Error) return e.message;
  return String(e);
}
