/** The app shell: routes, the navigation bar, and the guard that sends a signed-out person to log in. */
import type { ComponentChildren } from "preact";
import { useEffect } from "preact/hooks";
import { LocationProvider, Route, Router, lazy, useLocation } from "preact-iso";
import { onSessionExpired, refreshSession } from "./api/client";
import { Toasts } from "./components";
import { config } from "./config";
import { useInterval } from "./hooks";
import { refreshUnread, unread } from "./notifications";
import { Login, Signup, rememberNext, takeNext } from "./pages/auth";
import { Feed } from "./pages/feed";
import { Notifications } from "./pages/notifications";
import { PostPage } from "./pages/post";
import { EditProfile, FollowList, Profile } from "./pages/profile";
import { Search } from "./pages/search";
import { REFRESH_MARGIN_MS, saveSession, session } from "./session";
import { useSignal } from "./store";

const PUBLIC = new Set(["/login", "/signup"]);

// Posting is not on the first screen: its code comes in its own file, fetched once the first page has
// had its turn (or at once when /new is opened first).
const Compose = lazy(() => import("./pages/compose").then((module) => module.Compose));
const PRELOAD_COMPOSE_MS = 2000;

export function App() {
  return (
    <LocationProvider>
      <Shell />
      <Toasts />
    </LocationProvider>
  );
}

function Shell() {
  const current = useSignal(session);
  const { path, url, route } = useLocation();

  useEffect(() => {
    onSessionExpired((from) => {
      rememberNext(from);
      route("/login", true);
    });
  }, [route]);

  // Signed out on a page that needs a session: to log in, then back here.
  useEffect(() => {
    if (!current && !PUBLIC.has(path)) {
      rememberNext(url);
      route("/login", true);
    } else if (current && PUBLIC.has(path)) {
      route(takeNext(), true);
    }
  }, [current, path]);

  // Renew the id token shortly before it expires, so requests never wait on a refresh.
  useEffect(() => {
    if (!current) return;
    const due = Math.max(0, current.expiresAt - REFRESH_MARGIN_MS - Date.now());
    const timer = setTimeout(() => void refreshSession(current).catch(() => undefined), due);
    return () => clearTimeout(timer);
  }, [current]);

  if (!current) {
    return (
      <Router>
        <Route path="/signup" component={Signup} />
        <Route default component={Login} />
      </Router>
    );
  }
  return (
    <Layout>
      <Router>
        <Route path="/" component={Feed} />
        <Route path="/new" component={Compose} />
        <Route path="/p/:id" component={PostPage} />
        <Route path="/u/:username" component={Profile} />
        <Route path="/u/:username/followers" component={FollowList} />
        <Route path="/u/:username/following" component={FollowList} />
        <Route path="/search" component={Search} />
        <Route path="/notifications" component={Notifications} />
        <Route path="/settings" component={EditProfile} />
        <Route default component={NotFound} />
      </Router>
    </Layout>
  );
}

function Layout({ children }: { children: ComponentChildren }) {
  const me = useSignal(session);
  const badge = useSignal(unread);
  const { path } = useLocation();
  const tick = () => void refreshUnread().catch(() => undefined);
  // A moment after each page opens: the badge never holds up the page's own first request.
  useEffect(() => {
    const timer = setTimeout(tick, 800);
    return () => clearTimeout(timer);
  }, [path]);
  useInterval(tick, config().notifications_poll_seconds ?? 30);
  useEffect(() => {
    const timer = setTimeout(() => void Compose.preload().catch(() => undefined), PRELOAD_COMPOSE_MS);
    return () => clearTimeout(timer);
  }, []);

  const link = (href: string, label: string, icon: ComponentChildren, extra?: ComponentChildren) => (
    <a href={href} class="nav-link" aria-current={path === href ? "page" : undefined}>
      {icon}
      <span class="nav-label">{label}</span>
      {extra}
    </a>
  );
  const badgeText = badge.count > 0 ? `${badge.count}${badge.more ? "+" : ""}` : "";

  return (
    <>
      <a class="skip-link" href="#content">
        Skip to content
      </a>
      <header class="top-bar">
        <a href="/" class="brand">
          Photo feed
        </a>
        <nav aria-label="Main">
          {link("/", "Home", <Icon d="M3 11l9-7 9 7v9h-6v-6H9v6H3z" />)}
          {link("/search", "Search", <Icon d="M10.5 4a6.5 6.5 0 1 1 0 13 6.5 6.5 0 0 1 0-13zM15.5 15.5 21 21" />)}
          {link("/new", "New post", <Icon d="M12 5v14M5 12h14" />)}
          <a
            href="/notifications"
            class="nav-link"
            aria-current={path === "/notifications" ? "page" : undefined}
            aria-label={badgeText ? `Notifications, ${badgeText} unread` : "Notifications"}
          >
            <Icon d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0" />
            <span class="nav-label">Notifications</span>
            {badgeText && (
              <span class="badge" data-testid="unread-badge">
                {badgeText}
              </span>
            )}
          </a>
          {me && link(`/u/${me.username}`, "Profile", <Icon d="M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21a8 8 0 0 1 16 0" />)}
          <button type="button" class="nav-link" onClick={() => saveSession(null)}>
            <Icon d="M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10" />
            <span class="nav-label">Log out</span>
          </button>
        </nav>
      </header>
      <div id="content">{children}</div>
    </>
  );
}

function Icon({ d }: { d: string }) {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" class="icon">
      <path d={d} />
    </svg>
  );
}

function NotFound() {
  return (
    <main class="page">
      <h1>Not found</h1>
      <p>
        There is nothing here. <a href="/">Back to your feed</a>.
      </p>
    </main>
  );
}
