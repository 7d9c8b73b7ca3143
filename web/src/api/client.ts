/**
 * The typed API client: openapi-fetch over the types generated from `openapi.json`
 * (`npm run generate`), so a request or an answer that drifts from the contract fails the type-check.
 *
 * Every request carries the session's id token. A token about to expire is refreshed first; a 401
 * refreshes once and replays the request; a refresh the server refuses ends the session, and the app
 * sends the person to log in, remembering where they were.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.gen";
import { expiresSoon, saveSession, session, type Session } from "../session";

export type Schemas = components["schemas"];
export type Post = Schemas["Post"];
export type User = Schemas["User"];
export type UserSummary = Schemas["UserSummary"];
export type Comment = Schemas["Comment"];
export type Notification = Schemas["Notification"];
export type Upload = Schemas["Upload"];
export type MediaItem = Schemas["MediaItem"];
export type MediaItemRequest = Schemas["MediaItemRequest"];

/** An answer that is not 2xx, with the contract's error code and message (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const OFFLINE = "Can't reach the server. Check your connection and try again.";

let baseUrl = "";
let refreshing: Promise<Session | null> | null = null;

/** Called with the path the person was on when the session ended (a refused refresh). */
let onExpired: (from: string) => void = () => undefined;

export function onSessionExpired(handler: (from: string) => void): void {
  onExpired = handler;
}

function expire(): void {
  if (!session.get()) return;
  saveSession(null);
  onExpired(location.pathname + location.search);
}

/**
 * Swap the refresh token for a new id token; one refresh at a time however many requests wait on it.
 * Returns null when the server refuses the refresh token (the session is over); throws ApiError on a
 * network failure or a server fault, which leaves the session as it was.
 */
export function refreshSession(current: Session): Promise<Session | null> {
  refreshing ??= (async () => {
    let response: Response;
    try {
      response = await fetch(`${baseUrl}/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refreshToken }),
      });
    } catch {
      throw new ApiError(0, "network", OFFLINE);
    }
    if (response.ok) {
      const tokens = (await response.json()) as Schemas["Tokens"];
      const latest = session.get() ?? current;
      const renewed: Session = {
        ...latest,
        idToken: tokens.id_token,
        expiresAt: Date.now() + tokens.expires_in * 1000,
      };
      saveSession(renewed);
      return renewed;
    }
    if (response.status >= 400 && response.status < 500 && response.status !== 429) return null;
    throw new ApiError(response.status, "internal", "The server could not renew your session; try again.");
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function authorisedFetch(request: Request): Promise<Response> {
  let current = session.get();
  if (!current || request.url.includes("/auth/")) return fetch(request);
  if (expiresSoon(current)) {
    const renewed = await refreshSession(current);
    if (!renewed) {
      expire();
      throw new ApiError(401, "unauthorized", "Your session has ended. Please log in again.");
    }
    current = renewed;
  }
  const replay = request.clone();
  request.headers.set("Authorization", `Bearer ${current.idToken}`);
  const response = await fetch(request);
  if (response.status !== 401) return response;
  // The token was refused (expired early, or revoked): renew once and send the request again.
  const renewed = await refreshSession(current);
  if (!renewed) {
    expire();
    return response;
  }
  replay.headers.set("Authorization", `Bearer ${renewed.idToken}`);
  const second = await fetch(replay);
  if (second.status === 401) expire();
  return second;
}

function makeClient() {
  return createClient<paths>({ baseUrl, fetch: authorisedFetch });
}

export let api: ReturnType<typeof makeClient>;

export function configureApi(url: string): void {
  baseUrl = url;
  api = makeClient();
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * The answer's body, or an ApiError with the contract's `{"error": {"code", "message"}}`.
 * A 204 gives undefined. Network failures become ApiError status 0.
 */
export async function call<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(0, "network", OFFLINE);
  }
  if (answer.response.ok) return answer.data as T;
  const body = answer.error as { error?: { code?: string; message?: string } } | undefined;
  const code = body?.error?.code ?? "internal";
  let message = body?.error?.message ?? `The server answered ${answer.response.status}.`;
  if (answer.response.status === 429) {
    const wait = answer.response.headers.get("Retry-After");
    message = `Too many requests; try again${wait ? ` in ${wait} s` : " shortly"}.`;
  }
  throw new ApiError(answer.response.status, code, message);
}

/** A message fit to show a person for anything thrown by a call. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}
