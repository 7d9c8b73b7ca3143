/** The home feed (API.md "Feed"): newest first, infinite scroll, a prompt when newer posts exist, pull to refresh. */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call, type Post } from "../api/client";
import { Empty, ErrorNote, PostCard, Spinner } from "../components";
import { useInterval, usePaged, useSentinel } from "../hooks";
import { config } from "../config";
import { justPublished, withJustPublished } from "../published";
import { useSignal } from "../store";

const PAGE = 10;
const PULL_DISTANCE = 70;

export function Feed() {
  const feed = usePaged<Post>((cursor) => call(api.GET("/feed", { params: { query: { limit: PAGE, cursor } } })), "feed");
  const sentinel = useSentinel(feed.loadMore, !feed.done && !feed.error);
  const [newer, setNewer] = useState(false);
  const newest = feed.items[0]?.id;
  const shown = withJustPublished(feed.items, useSignal(justPublished));

  // Ask now and then whether the feed has a newer head; if so, offer it without moving what is on screen.
  useInterval(() => {
    if (!newest || newer) return;
    call(api.GET("/feed", { params: { query: { limit: 1 } } })).then(
      (page) => {
        const head = page.items[0];
        if (head && head.id > newest) setNewer(true);
      },
      () => undefined,
    );
  }, config().feed_poll_seconds ?? 30);

  const refresh = () => {
    setNewer(false);
    window.scrollTo({ top: 0 });
    feed.reset();
  };

  const pull = usePullToRefresh(refresh);

  return (
    <main class="page feed" aria-busy={feed.loading}>
      <h1 class="visually-hidden">Home</h1>
      {pull > 0 && (
        <div class="pull" style={{ height: `${Math.min(pull, PULL_DISTANCE)}px` }} aria-hidden="true">
          {pull >= PULL_DISTANCE ? "Release to refresh" : "Pull to refresh"}
        </div>
      )}
      {newer && (
        <button type="button" class="new-posts" onClick={refresh}>
          New posts
        </button>
      )}
      {shown.map((post, index) => (
        <PostCard key={post.id} post={post} priority={index === 0} />
      ))}
      {feed.loading && <Spinner label="Loading posts" />}
      {feed.error && <ErrorNote message={feed.error} onRetry={feed.loadMore} />}
      {feed.done && shown.length === 0 && (
        <Empty>
          Your feed is empty. <a href="/search">Find people</a> to follow or <a href="/new">post a photo</a>.
        </Empty>
      )}
      {feed.done && shown.length > 0 && <p class="end muted">You're all caught up.</p>}
      <div ref={sentinel} class="sentinel" />
    </main>
  );
}

/** Touch pull-down at the top of the page: returns how far it is pulled (px); past the threshold, release refreshes. */
function usePullToRefresh(onRefresh: () => void): number {
  const [distance, setDistance] = useState(0);
  const start = useRef<number | null>(null);
  const latest = useRef(0);
  const refresh = useRef(onRefresh);
  refresh.current = onRefresh;
  useEffect(() => {
    const begin = (event: TouchEvent) => {
      start.current = window.scrollY <= 0 && event.touches.length === 1 ? event.touches[0]!.clientY : null;
    };
    const move = (event: TouchEvent) => {
      if (start.current === null) return;
      latest.current = Math.max(0, (event.touches[0]?.clientY ?? 0) - start.current);
      setDistance(latest.current);
    };
    const end = () => {
      if (start.current !== null && latest.current >= PULL_DISTANCE) refresh.current();
      start.current = null;
      latest.current = 0;
      setDistance(0);
    };
    window.addEventListener("touchstart", begin, { passive: true });
    window.addEventListener("touchmove", move, { passive: true });
    window.addEventListener("touchend", end);
    window.addEventListener("touchcancel", end);
    return () => {
      window.removeEventListener("touchstart", begin);
      window.removeEventListener("touchmove", move);
      window.removeEventListener("touchend", end);
      window.removeEventListener("touchcancel", end);
    };
  }, []);
  return distance;
}
