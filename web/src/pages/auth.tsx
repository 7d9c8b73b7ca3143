/** Log in and sign up (API.md "Auth"). */
import { api, call } from "../api/client";
import { saveSession } from "../session";
import { ErrorNote } from "../components";
import { useFormSubmit } from "../hooks";

const NEXT_KEY = "photofeed.next";

/** Where to go after logging in: the page the person was on when their session ended, or home. */
export function rememberNext(path: string): void {
  if (!path.startsWith("/login") && !path.startsWith("/signup")) sessionStorage.setItem(NEXT_KEY, path);
}

/** The remembered page (once), or home. */
export function takeNext(): string {
  const next = sessionStorage.getItem(NEXT_KEY);
  sessionStorage.removeItem(NEXT_KEY);
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

async function logIn(username: string, password: string): Promise<void> {
  const tokens = await call(api.POST("/auth/login", { body: { username, password } }));
  saveSession({
    username: username.trim().toLowerCase(),
    idToken: tokens.id_token,
    refreshToken: tokens.refresh_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
  });
}

export function Login() {
  const expired = sessionStorage.getItem(NEXT_KEY) !== null;
  // The shell sees the new session and goes on to the remembered page.
  const { submit, busy, error } = useFormSubmit((form) => logIn(String(form.get("username")), String(form.get("password"))));

  return (
    <main class="auth-page">
      <h1 class="brand-title">Photo feed</h1>
      <form class="card form" onSubmit={submit}>
        <h2>Log in</h2>
        {expired && !error && <p class="note">Your session ended. Log in to carry on where you were.</p>}
        {error && <ErrorNote message={error} />}
        <label>
          Username
          <input name="username" autoComplete="username" autoCapitalize="none" required minLength={3} maxLength={30} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required minLength={8} maxLength={128} />
        </label>
        <button type="submit" class="button-primary" disabled={busy}>
          Log in
        </button>
      </form>
      <p class="auth-switch">
        New here? <a href="/signup">Sign up</a>
      </p>
    </main>
  );
}

export function Signup() {
  const { submit, busy, error } = useFormSubmit(async (form) => {
    const username = String(form.get("username")).trim().toLowerCase();
    const password = String(form.get("password"));
    await call(api.POST("/auth/signup", { body: { username, email: String(form.get("email")).trim(), password } }));
    await logIn(username, password);
  });

  return (
    <main class="auth-page">
      <h1 class="brand-title">Photo feed</h1>
      <form class="card form" onSubmit={submit}>
        <h2>Sign up</h2>
        {error && <ErrorNote message={error} />}
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            required
            pattern="[a-zA-Z0-9_]{3,30}"
            title="3 to 30 letters, digits or underscores"
            aria-describedby="username-hint"
          />
        </label>
        <small id="username-hint" class="hint">
          3 to 30 letters, digits or underscores.
        </small>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="new-password" required minLength={8} maxLength={128} aria-describedby="password-hint" />
        </label>
        <small id="password-hint" class="hint">
          At least 8 characters.
        </small>
        <button type="submit" class="button-primary" disabled={busy}>
          Sign up
        </button>
      </form>
      <p class="auth-switch">
        Have an account? <a href="/login">Log in</a>
      </p>
    </main>
  );
}
