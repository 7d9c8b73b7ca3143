/** A post's page: its photos and videos large, its comments oldest first, likes on the post and on each comment. */
import { useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { api, call, describe, type Comment } from "../api/client";
import { Empty, ErrorNote, LikeButton, Spinner, TimeAgo, UserLine, toast } from "../components";
import { PostMedia } from "../media";
import { useAsync, usePaged, useSentinel } from "../hooks";
import { session } from "../session";

export function PostPage() {
  const { params } = useRoute();
  const id = params.id ?? "";
  const { route } = useLocation();
  const post = useAsync(() => call(api.GET("/posts/{post_id}", { params: { path: { post_id: id } } })), id);
  const me = session.get()?.username;

  if (post.loading && !post.data) return <main class="page"><Spinner label="Loading the post" /></main>;
  if (post.error || !post.data) {
    return (
      <main class="page">
        <ErrorNote message={post.error ?? "This post does not exist."} onRetry={post.reload} />
      </main>
    );
  }
  const shown = post.data;
  const mine = shown.author.username === me;

  const remove = async () => {
    if (!confirm("Delete this post? This cannot be undone.")) return;
    try {
      await call(api.DELETE("/posts/{post_id}", { params: { path: { post_id: id } } }));
      route(`/u/${shown.author.username}`, true);
    } catch (failure) {
      toast(`Could not delete the post: ${describe(failure)}`);
    }
  };

  return (
    <main class="page post-page">
      <article class="card post-full" aria-label={shown.title}>
        <header class="card-header">
          <UserLine user={shown.author}>
            <span class="muted small">
              <TimeAgo iso={shown.created_at} />
            </span>
          </UserLine>
        </header>
        {shown.status === "published" ? (
          <PostMedia post={shown} priority sizes="(min-width: 960px) 900px, 100vw" />
        ) : (
          <p class={`note${shown.status === "rejected" ? " note-error" : ""}`}>
            {shown.status === "rejected" ? `Rejected: ${shown.rejection_reason ?? "it could not be processed"}` : "Processing the post…"}
          </p>
        )}
        <div class="card-body">
          <div class="actions">
            <LikeButton liked={shown.liked_by_me} count={shown.like_count} target={{ post: shown.id }} />
            {mine && (
              <button type="button" class="button-link danger push-right" onClick={remove}>
                Delete post
              </button>
            )}
          </div>
          <h1 class="post-title">{shown.title}</h1>
          {shown.caption && <p class="caption">{shown.caption}</p>}
        </div>
      </article>
      {shown.status === "published" && <Comments postId={shown.id} postAuthor={shown.author.username} me={me} />}
    </main>
  );
}

function Comments({ postId, postAuthor, me }: { postId: string; postAuthor: string; me: string | undefined }) {
  const list = usePaged<Comment>(
    (cursor) => call(api.GET("/posts/{post_id}/comments", { params: { path: { post_id: postId }, query: { limit: 20, cursor } } })),
    postId,
  );
  const sentinel = useSentinel(list.loadMore, !list.done && !list.error);
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [added, setAdded] = useState<Comment[]>([]);

  const send = async (event: Event) => {
    event.preventDefault();
    const body = text.trim();
    if (!body || sending) return;
    setSending(true);
    setError(null);
    try {
      const comment = await call(api.POST("/posts/{post_id}/comments", { params: { path: { post_id: postId } }, body: { text: body } }));
      setAdded((shown) => [...shown, comment]);
      setText("");
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setSending(false);
    }
  };

  const remove = async (comment: Comment) => {
    try {
      await call(api.DELETE("/posts/{post_id}/comments/{comment_id}", { params: { path: { post_id: postId, comment_id: comment.id } } }));
      list.update((items) => items.filter((item) => item.id !== comment.id));
      setAdded((items) => items.filter((item) => item.id !== comment.id));
    } catch (failure) {
      toast(`Could not delete the comment: ${describe(failure)}`);
    }
  };

  // Comments written here are shown at the end at once (the newest comes last); the list, when its
  // pages reach them, does not repeat them.
  const fromList = new Set(list.items.map((item) => item.id));
  const all = [...list.items, ...added.filter((item) => !fromList.has(item.id))];

  return (
    <section class="card comments" id="comments" aria-labelledby="comments-title">
      <h2 id="comments-title">Comments</h2>
      <ol class="comment-list">
        {all.map((comment) => (
          <li key={comment.id} class="comment" id={`comment-${comment.id}`} aria-label={`Comment by ${comment.author.username}`}>
            <UserLine user={comment.author}>
              <span class="muted small">
                <TimeAgo iso={comment.created_at} />
              </span>
            </UserLine>
            <p class="comment-text">{comment.text}</p>
            <div class="actions">
              <LikeButton liked={comment.liked_by_me} count={comment.like_count} target={{ post: postId, comment: comment.id }} label="Like comment" />
              {(comment.author.username === me || postAuthor === me) && (
                <button type="button" class="button-link danger" onClick={() => remove(comment)}>
                  Delete comment
                </button>
              )}
            </div>
          </li>
        ))}
      </ol>
      {list.loading && <Spinner label="Loading comments" />}
      {list.error && <ErrorNote message={list.error} onRetry={list.loadMore} />}
      {list.done && all.length === 0 && <Empty>No comments yet.</Empty>}
      <div ref={sentinel} class="sentinel" />
      <form class="comment-form" onSubmit={send}>
        {error && <ErrorNote message={error} />}
        <label class="visually-hidden" for="comment-text">
          Comment
        </label>
        <textarea
          id="comment-text"
          rows={2}
          maxLength={2200}
          placeholder="Add a comment…"
          value={text}
          onInput={(event) => setText((event.currentTarget as HTMLTextAreaElement).value)}
          onKeyDown={(event) => {
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) void send(event);
          }}
        />
        <button type="submit" class="button-primary" disabled={sending || !text.trim()}>
          Comment
        </button>
      </form>
    </section>
  );
}
