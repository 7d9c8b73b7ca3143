/** The small pieces every page is made of. */
import type { ComponentChildren } from "preact";
import { useRef, useState } from "preact/hooks";
import { api, call, describe, type Post, type UserSummary } from "./api/client";
import { PostMedia } from "./media";
import { signal, useSignal } from "./store";

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <div class="spinner" role="status" aria-live="polite">
      <span class="spinner-dot" aria-hidden="true" />
      <span class="visually-hidden">{label}…</span>
    </div>
  );
}

export function ErrorNote({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div class="note note-error" role="alert">
      <span>{message}</span>
      {onRetry && (
        <button type="button" class="button-link" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** Transient messages (a like that failed, a comment that could not be deleted), read out by screen readers. */
const toastText = signal<string | null>(null);
let toastTimer: ReturnType<typeof setTimeout> | undefined;

export function toast(message: string): void {
  toastText.set(message);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toastText.set(null), 5000);
}

export function Toasts() {
  const text = useSignal(toastText);
  return (
    <div class="toast-region" role="status" aria-live="polite">
      {text && <div class="toast">{text}</div>}
    </div>
  );
}

export function Avatar({ user, size = 36 }: { user: UserSummary; size?: number }) {
  const name = user.display_name || user.username;
  let hue = 0;
  for (const char of user.username) hue = (hue * 31 + char.charCodeAt(0)) % 360;
  return (
    <span
      class="avatar"
      aria-hidden="true"
      style={{ width: `${size}px`, height: `${size}px`, fontSize: `${size * 0.42}px`, background: `hsl(${hue} 55% 52%)` }}
    >
      {[...name][0]?.toUpperCase() ?? "?"}
    </span>
  );
}

export function UserLine({ user, children }: { user: UserSummary; children?: ComponentChildren }) {
  return (
    <div class="user-line">
      <Avatar user={user} />
      <div class="user-line-text">
        <a class="user-name" href={`/u/${user.username}`}>
          {user.display_name || user.username}
        </a>
        {user.display_name && user.display_name !== user.username && <span class="user-handle">@{user.username}</span>}
      </div>
      {children}
    </div>
  );
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function TimeAgo({ iso }: { iso: string }) {
  const then = new Date(iso);
  const seconds = Math.round((then.getTime() - Date.now()) / 1000);
  const steps: [Intl.RelativeTimeFormatUnit, number][] = [
    ["second", 60],
    ["minute", 60],
    ["hour", 24],
    ["day", 7],
    ["week", 4.35],
    ["month", 12],
    ["year", Infinity],
  ];
  let amount = seconds;
  let text = "";
  for (const [unit, size] of steps) {
    if (Math.abs(amount) < size) {
      text = unit === "second" && Math.abs(amount) < 10 ? "just now" : relative.format(Math.round(amount), unit);
      break;
    }
    amount /= size;
  }
  return (
    <time dateTime={iso} title={absolute.format(then)}>
      {text}
    </time>
  );
}

/**
 * A like toggle whose count changes at once and stays right: PUT and DELETE are idempotent, so the
 * requests go out one after another and the last click is what the server ends with.
 */
export function LikeButton({
  liked,
  count,
  target,
  label = "Like",
}: {
  liked: boolean;
  count: number;
  target: { post: string; comment?: string };
  label?: string;
}) {
  const [shown, setShown] = useState(liked);
  const confirmed = useRef(liked);
  const queue = useRef<Promise<void>>(Promise.resolve());
  // The count without the reader's like. The server sets liked_by_me at once but counts the like a
  // moment later, so a page read in between says liked with a count of 0: never below nothing.
  const base = Math.max(0, count - (liked ? 1 : 0));

  const toggle = () => {
    const next = !shown;
    setShown(next);
    queue.current = queue.current.then(async () => {
      try {
        const path = { post_id: target.post, comment_id: target.comment ?? "" };
        if (target.comment) {
          const route = "/posts/{post_id}/comments/{comment_id}/like" as const;
          await call(next ? api.PUT(route, { params: { path } }) : api.DELETE(route, { params: { path } }));
        } else {
          const route = "/posts/{post_id}/like" as const;
          const params = { path: { post_id: target.post } };
          await call(next ? api.PUT(route, { params }) : api.DELETE(route, { params }));
        }
        confirmed.current = next;
      } catch (error) {
        setShown(confirmed.current);
        toast(`Could not ${next ? "like" : "unlike"}: ${describe(error)}`);
      }
    });
  };

  const total = base + (shown ? 1 : 0);
  return (
    <span class="like">
      <button type="button" class={`icon-button like-button${shown ? " liked" : ""}`} aria-label={label} aria-pressed={shown} onClick={toggle}>
        <svg viewBox="0 0 24 24" aria-hidden="true" width="22" height="22">
          <path d="M12 21s-7.5-4.6-9.6-9.2C.9 8.4 3 4.5 6.8 4.5c2.1 0 3.6 1.2 4.4 2.5.8-1.3 2.3-2.5 4.4-2.5 3.8 0 5.9 3.9 4.4 7.3C19.5 16.4 12 21 12 21z" />
        </svg>
      </button>
      <span class="count" aria-label={`${total} ${total === 1 ? "like" : "likes"}`}>
        {total}
      </span>
    </span>
  );
}

export function PostCard({ post, priority = false }: { post: Post; priority?: boolean }) {
  return (
    <article class="card post-card" aria-label={`${post.title} by ${post.author.username}`} data-post-id={post.id}>
      <header class="card-header">
        <UserLine user={post.author}>
          <a class="muted small" href={`/p/${post.id}`}>
            <TimeAgo iso={post.created_at} />
          </a>
        </UserLine>
      </header>
      <PostMedia post={post} priority={priority} link sizes="(min-width: 640px) 600px, 100vw" />
      <div class="card-body">
        <div class="actions">
          <LikeButton liked={post.liked_by_me} count={post.like_count} target={{ post: post.id }} />
          <a class="icon-button comment-link" href={`/p/${post.id}#comments`} aria-label={`Comments (${post.comment_count})`}>
            <svg viewBox="0 0 24 24" aria-hidden="true" width="22" height="22">
              <path d="M4 5h16v11H8l-4 4z" />
            </svg>
            <span class="count">{post.comment_count}</span>
          </a>
        </div>
        <h2 class="post-title">
          <a href={`/p/${post.id}`}>{post.title}</a>
        </h2>
        {post.caption && <p class="caption">{post.caption}</p>}
      </div>
    </article>
  );
}
