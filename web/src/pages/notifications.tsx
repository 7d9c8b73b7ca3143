/** In-app notifications (API.md "Notifications"): newest first, each linking to what it is about; mark read. */
import { api, call, describe, type Notification } from "../api/client";
import { Avatar, Empty, ErrorNote, Spinner, TimeAgo, toast } from "../components";
import { usePaged, useSentinel } from "../hooks";
import { refreshUnread } from "../notifications";

const WHAT: Record<Notification["type"], string> = {
  new_post: "posted a photo",
  comment: "commented on your post",
  comment_like: "liked your comment",
  post_like: "liked your post",
  follow: "started following you",
};

function target(item: Notification): string {
  if (item.type === "follow" || !item.post_id) return `/u/${item.actor.username}`;
  return item.comment_id ? `/p/${item.post_id}#comment-${item.comment_id}` : `/p/${item.post_id}`;
}

export function Notifications() {
  const list = usePaged<Notification>((cursor) => call(api.GET("/notifications", { params: { query: { limit: 20, cursor } } })), "notifications");
  const sentinel = useSentinel(list.loadMore, !list.done && !list.error);

  const markRead = async (body: { ids: string[] } | { all: true }) => {
    const ids = "ids" in body ? new Set(body.ids) : null;
    list.update((items) => items.map((item) => (!ids || ids.has(item.id) ? { ...item, read: true } : item)));
    try {
      await call(api.POST("/notifications/read", { body }));
    } catch (failure) {
      toast(`Could not mark as read: ${describe(failure)}`);
    }
    refreshUnread().catch(() => undefined);
  };

  return (
    <main class="page notifications">
      <div class="page-head">
        <h1>Notifications</h1>
        <button type="button" class="button" onClick={() => markRead({ all: true })} disabled={!list.items.some((item) => !item.read)}>
          Mark all read
        </button>
      </div>
      <ul class="card notification-list">
        {list.items.map((item) => (
          <li key={item.id} class={item.read ? "read" : "unread"}>
            <a href={target(item)} onClick={() => !item.read && markRead({ ids: [item.id] })}>
              <Avatar user={item.actor} />
              <span class="notification-text">
                <strong>{item.actor.display_name || item.actor.username}</strong> {WHAT[item.type]}
                {!item.read && <span class="visually-hidden"> (unread)</span>}
              </span>
              <span class="muted small">
                <TimeAgo iso={item.created_at} />
              </span>
            </a>
          </li>
        ))}
      </ul>
      {list.loading && <Spinner label="Loading notifications" />}
      {list.error && <ErrorNote message={list.error} onRetry={list.loadMore} />}
      {list.done && list.items.length === 0 && <Empty>Nothing yet. When people follow you, like or comment, it shows here.</Empty>}
      <div ref={sentinel} class="sentinel" />
    </main>
  );
}
