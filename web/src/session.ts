/**
 * The signed-in session: Cognito tokens from `POST /auth/login`, kept in localStorage so a reload
 * or a second tab stays signed in, and refreshed with the refresh token before the id token expires.
 */
import { signal } from "./store";

export interface Session {
  username: string;
  idToken: string;
  refreshToken: string;
  /** When the id token expires, in epoch milliseconds. */
  expiresAt: number;
}

const KEY = "photofeed.session";
/** Refresh this long before the id token expires (ms), so no request goes out with a dying token. */
export const REFRESH_MARGIN_MS = 60_000;

function read(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<Session>;
    if (
      typeof value.username === "string" &&
      typeof value.idToken === "string" &&
      typeof value.refreshToken === "string" &&
      typeof value.expiresAt === "number"
    ) {
      return value as Session;
    }
  } catch {
    // A damaged entry is the same as none.
  }
  return null;
}

export const session = signal<Session | null>(read());

export function saveSession(value: Session | null): void {
  if (value) localStorage.setItem(KEY, JSON.stringify(value));
  else localStorage.removeItem(KEY);
  session.set(value);
}

// Another tab logged in or out: follow it.
window.addEventListener("storage", (event) => {
  if (event.key === KEY) session.set(read());
});

export function expiresSoon(value: Session, now = Date.now()): boolean {
  return value.expiresAt - REFRESH_MARGIN_MS <= now;
}
