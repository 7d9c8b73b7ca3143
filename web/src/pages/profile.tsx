/** Profiles (API.md "Users and follows"): counts, the posts as a grid, followers and following, follow, edit. */
import { useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { api, call, describe, type Post, type User, type UserSummary } from "../api/client";
import { Avatar, Empty, ErrorNote, Spinner, UserLine, toast } from "../components";
import { countItems } from "../media";
import { useAsync, useFormSubmit, usePaged, useSentinel } from "../hooks";
import { session } from "../session";

export function Profile() {
  const { params } = useRoute();
  const username = params.username ?? "";
  const me = session.get()?.username;
  const user = useAsync(() => call(api.GET("/users/{username}", { params: { path: { username } } })), username);
  const posts = usePaged<Post>(
    (cursor) => call(api.GET("/users/{username}/posts", { params: { path: { username }, query: { limit: 24, cursor } } })),
    username,
  );
  const sentinel = useSentinel(posts.loadMore, !posts.done && !posts.error);

  if (user.loading && !user.data) return <main class="page"><Spinner label="Loading the profile" /></main>;
  if (user.error || !user.data) return <main class="page"><ErrorNote message={user.error ?? "No such user."} onRetry={user.reload} /></main>;
  const shown = user.data;

  return (
    <main class="page profile">
      <section class="card profile-head">
        <Avatar user={shown} size={72} />
        <div class="profile-text">
          <h1>{shown.display_name || shown.username}</h1>
          <p class="user-handle">@{shown.username}</p>
          {shown.bio && <p class="bio">{shown.bio}</p>}
          <ul class="counts">
            <li>
              <strong>{shown.post_count}</strong> {shown.post_count === 1 ? "post" : "posts"}
            </li>
            <li>
              <a href={`/u/${shown.username}/followers`}>
                <strong>{shown.follower_count}</strong> {shown.follower_count === 1 ? "follower" : "followers"}
              </a>
            </li>
            <li>
              <a href={`/u/${shown.username}/following`}>
                <strong>{shown.following_count}</strong> following
              </a>
            </li>
          </ul>
          {shown.username === me ? (
            <a class="button" href="/settings">
              Edit profile
            </a>
          ) : (
            <FollowButton user={shown} onChange={(next) => user.set(next)} />
          )}
        </div>
      </section>
      <h2 class="visually-hidden">Posts</h2>
      <ul class="grid">
        {posts.items.map((post) => (
          <li key={post.id}>
            <GridTile post={post} />
          </li>
        ))}
      </ul>
      {posts.loading && <Spinner label="Loading posts" />}
      {posts.error && <ErrorNote message={posts.error} onRetry={posts.loadMore} />}
      {posts.done && posts.items.length === 0 && <Empty>No posts yet.</Empty>}
      <div ref={sentinel} class="sentinel" />
    </main>
  );
}

/** A post in the grid: its first item's thumbnail, marked when that is a video or when there are several. */
function GridTile({ post }: { post: Post }) {
  const kinds = post.media_items.map((item) => item.type);
  const video = kinds[0] === "video";
  const label = kinds.length > 1 || video ? `${post.title} (${kinds.length > 1 ? countItems(kinds) : "video"})` : post.title;
  return (
    <a href={`/p/${post.id}`} aria-label={label}>
      {post.media && <img src={post.media.thumbnail} alt="" width={150} height={150} loading="lazy" decoding="async" />}
      {(video || kinds.length > 1) && (
        <span class="grid-badges" aria-hidden="true">
          {video && (
            <svg class="grid-video" viewBox="0 0 24 24" width="20" height="20">
              <path d="M7 4.5v15l13-7.5z" />
            </svg>
          )}
          {kinds.length > 1 && (
            <svg class="grid-many" viewBox="0 0 24 24" width="20" height="20">
              <path d="M8 3h13v13M4 7h13v14H4z" />
            </svg>
          )}
        </span>
      )}
    </a>
  );
}

function FollowButton({ user, onChange }: { user: User; onChange: (user: User) => void }) {
  const [busy, setBusy] = useState(false);
  const following = user.followed_by_me === true;
  const toggle = async () => {
    setBusy(true);
    const path = { username: user.username };
    // Shown at once; put back if the server says no.
    onChange({ ...user, followed_by_me: !following, follower_count: user.follower_count + (following ? -1 : 1) });
    try {
      await call(following ? api.DELETE("/users/{username}/follow", { params: { path } }) : api.PUT("/users/{username}/follow", { params: { path } }));
    } catch (failure) {
      onChange(user);
      toast(`Could not ${following ? "unfollow" : "follow"}: ${describe(failure)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <button type="button" class={following ? "button" : "button-primary"} onClick={toggle} disabled={busy}>
      {following ? "Unfollow" : "Follow"}
    </button>
  );
}

export function FollowList() {
  const { params, path } = useRoute();
  const username = params.username ?? "";
  const which = path.endsWith("/followers") ? "followers" : "following";
  const list = usePaged<UserSummary>(
    (cursor) =>
      call(
        which === "followers"
          ? api.GET("/users/{username}/followers", { params: { path: { username }, query: { limit: 30, cursor } } })
          : api.GET("/users/{username}/following", { params: { path: { username }, query: { limit: 30, cursor } } }),
      ),
    `${username}/${which}`,
  );
  const sentinel = useSentinel(list.loadMore, !list.done && !list.error);
  return (
    <main class="page">
      <h1>
        <a href={`/u/${username}`}>@{username}</a> · {which === "followers" ? "Followers" : "Following"}
      </h1>
      <ul class="card people">
        {list.items.map((person) => (
          <li key={person.id}>
            <UserLine user={person} />
          </li>
        ))}
      </ul>
      {list.loading && <Spinner />}
      {list.error && <ErrorNote message={list.error} onRetry={list.loadMore} />}
      {list.done && list.items.length === 0 && <Empty>{which === "followers" ? "No followers yet." : "Not following anyone yet."}</Empty>}
      <div ref={sentinel} class="sentinel" />
    </main>
  );
}

export function EditProfile() {
  const { route } = useLocation();
  const me = useAsync(() => call(api.GET("/me")), "me");
  const { submit: save, busy, error } = useFormSubmit(async (form) => {
    const body = { display_name: String(form.get("display_name")).trim(), bio: String(form.get("bio")).trim() };
    const user = await call(api.PATCH("/me", { body }));
    route(`/u/${user.username}`);
  });

  if (me.loading && !me.data) return <main class="page"><Spinner /></main>;
  if (me.error || !me.data) return <main class="page"><ErrorNote message={me.error ?? "Could not load your profile."} onRetry={me.reload} /></main>;

  return (
    <main class="page">
      <h1>Edit profile</h1>
      <form class="card form" onSubmit={save}>
        {error && <ErrorNote message={error} />}
        <label>
          Display name
          <input name="display_name" maxLength={60} value={me.data.display_name} />
        </label>
        <label>
          Bio
          <textarea name="bio" rows={4} maxLength={300} value={me.data.bio} />
        </label>
        <button type="submit" class="button-primary" disabled={busy}>
          Save
        </button>
      </form>
    </main>
  );
}
