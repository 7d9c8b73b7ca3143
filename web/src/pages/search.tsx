/** Search posts by title (API.md "Search"), results as you type. */
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, call, type Post } from "../api/client";
import { Empty, ErrorNote, PostCard, Spinner } from "../components";
import { useDebounced, usePaged, useSentinel } from "../hooks";

export function Search() {
  const { query, route, path } = useLocation();
  const [text, setText] = useState(query.q ?? "");
  const q = useDebounced(text.trim(), 250);
  useEffect(() => {
    // Keep the query in the address, so back and reload keep the results.
    if ((query.q ?? "") !== q) route(q ? `${path}?q=${encodeURIComponent(q)}` : path, true);
  }, [q]);
  const results = usePaged<Post>(
    (cursor) => (q ? call(api.GET("/search", { params: { query: { q, limit: 10, cursor } } })) : Promise.resolve({ items: [], next_cursor: null })),
    q,
  );
  const sentinel = useSentinel(results.loadMore, Boolean(q) && !results.done && !results.error);
  return (
    <main class="page search">
      <h1 class="visually-hidden">Search</h1>
      <form role="search" class="search-form" onSubmit={(event) => event.preventDefault()}>
        <input type="search" aria-label="Search" placeholder="Search posts by title" value={text} autoFocus onInput={(event) => setText((event.currentTarget as HTMLInputElement).value)} />
      </form>
      {results.items.map((post) => (
        <PostCard key={post.id} post={post} />
      ))}
      {results.loading && <Spinner label="Searching" />}
      {results.error && <ErrorNote message={results.error} onRetry={results.loadMore} />}
      {q && results.done && results.items.length === 0 && <Empty>No posts match “{q}”.</Empty>}
      {!q && <Empty>Type words from a post's title.</Empty>}
      <div ref={sentinel} class="sentinel" />
    </main>
  );
}
