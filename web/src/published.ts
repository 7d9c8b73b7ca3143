/**
 * The posts this person has just published from this tab. The API publishes a post before the
 * fan-out has put it in the author's own feed (API.md "Feed" is eventually there, within about a
 * second), so the home feed shows these at its head until its own pages hold them.
 */
import type { Post } from "./api/client";
import { session } from "./session";
import { signal } from "./store";

export const justPublished = signal<Post[]>([]);

/** Remember a post of ours the API reports published. */
export function published(post: Post): void {
  justPublished.set([post, ...justPublished.get().filter((shown) => shown.id !== post.id)].slice(0, 10));
}

/**
 * `feed` with our just-published posts in front that it does not hold yet, newest first. Where it
 * holds one, its copy is used (fresh counts) with the pictures' URLs we already show, so the images
 * do not load a second time under other signatures.
 */
export function withJustPublished(feed: Post[], mine: Post[]): Post[] {
  const username = session.get()?.username;
  const ours = mine.filter((post) => post.author.username === username);
  if (ours.length === 0) return feed;
  const byId = new Map(ours.map((post) => [post.id, post]));
  const head = feed[0]?.id ?? "";
  const held = new Set(feed.map((post) => post.id));
  const missing = ours.filter((post) => !held.has(post.id) && post.id > head).sort((a, b) => (a.id < b.id ? 1 : -1));
  const kept = feed.map((post) => {
    const shown = byId.get(post.id);
    return shown ? { ...post, media: shown.media, media_items: shown.media_items } : post;
  });
  return [...missing, ...kept];
}
