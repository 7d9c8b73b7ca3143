/** The unread badge: how many of the newest notifications are unread (the first page of 50; "50+" past it). */
import { api, call } from "./api/client";
import { signal } from "./store";

export interface Unread {
  count: number;
  more: boolean;
}

export const unread = signal<Unread>({ count: 0, more: false });

export async function refreshUnread(): Promise<void> {
  const page = await call(api.GET("/notifications", { params: { query: { limit: 50 } } }));
  const count = page.items.filter((item) => !item.read).length;
  unread.set({ count, more: count === page.items.length && page.next_cursor !== null });
}
