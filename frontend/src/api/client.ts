// A small typed client of /api/v1: same-origin cookie session, CSRF header on every call,
// and one error type that knows which form field the server blamed.

export class ApiError extends Error {
  status: number;
  code: string | null;
  /** Server messages by form field ("name", "members[0]", …); "" = the form as a whole. */
  fields: Record<string, string>;
  /** The error's JSON body as the server sent it (e.g. a flow's `problems`). */
  body: unknown = null;

  constructor(status: number, message: string, code: string | null, fields: Record<string, string>) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

interface ValidationItem {
  loc?: Array<string | number>;
  msg?: string;
}

function fieldOfLoc(loc: Array<string | number> | undefined): string {
  if (!loc) return "";
  const parts = loc[0] === "body" || loc[0] === "query" || loc[0] === "path" ? loc.slice(1) : loc;
  let out = "";
  for (const part of parts) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

/** Turn any FastAPI error body into (message, code, fields). */
export function parseError(status: number, body: unknown): ApiError {
  const detail = (body as { detail?: unknown } | null)?.detail ?? body;
  if (typeof detail === "string") return new ApiError(status, detail, null, { "": detail });
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {};
    for (const item of detail as ValidationItem[]) {
      const field = fieldOfLoc(item.loc);
      const msg = (item.msg ?? "invalid").replace(/^Value error, /, "");
      fields[field] = fields[field] ? `${fields[field]}; ${msg}` : msg;
    }
    const message = Object.entries(fields)
      .map(([f, m]) => (f ? `${f}: ${m}` : m))
      .join("\n");
    return new ApiError(status, message, "validation", fields);
  }
  if (detail && typeof detail === "object") {
    const d = detail as { message?: string; code?: string; field?: string };
    const message = d.message ?? JSON.stringify(detail);
    return new ApiError(status, message, d.code ?? null, { [d.field ?? ""]: message });
  }
  return new ApiError(status, `HTTP ${status}`, null, { "": `HTTP ${status}` });
}

type Json = Record<string, unknown> | unknown[];

async function request<T>(method: string, path: string, body?: Json | FormData): Promise<T> {
  const headers: Record<string, string> = { "X-Requested-With": "madoguchi" };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: payload,
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "network", "network", {});
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const error = parseError(response.status, parsed);
    error.body = parsed;
    if (response.status === 401) unauthorizedListeners.forEach((fn) => fn());
    throw error;
  }
  return parsed as T;
}

const unauthorizedListeners = new Set<() => void>();

/** Called whenever the server says the session is gone (the app shows sign-in). */
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body?: Json | FormData) => request<T>("POST", path, body ?? {}),
  put: <T>(path: string, body: Json) => request<T>("PUT", path, body),
  patch: <T>(path: string, body: Json) => request<T>("PATCH", path, body),
  del: <T>(path: string) => request<T>("DELETE", path),
};
