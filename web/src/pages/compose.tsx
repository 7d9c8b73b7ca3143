/**
 * Posting a photo (API.md "Posts and media", flow 1): pick or drop it, see it the right way up, give it a
 * title and caption; then `POST /posts` with an Idempotency-Key (a double click makes one post), the
 * presigned upload with its progress, and the post's status until it is published or rejected.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call, describe, type Post, type Upload } from "../api/client";
import { ErrorNote } from "../components";
import { uploadFile, type UploadHandle } from "../upload";

const TYPES = ["image/jpeg", "image/png", "image/webp"] as const;
type PhotoType = (typeof TYPES)[number];
const MAX_BYTES = 20 * 1024 * 1024;
const DRAFT_KEY = "photofeed.draft";
const POLL_LIMIT_MS = 3 * 60_000;

type Phase = "editing" | "creating" | "uploading" | "upload-failed" | "processing" | "published" | "rejected" | "slow";

interface Draft {
  title: string;
  caption: string;
}

function readDraft(): Draft {
  try {
    const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) ?? "{}") as Partial<Draft>;
    return { title: draft.title ?? "", caption: draft.caption ?? "" };
  } catch {
    return { title: "", caption: "" };
  }
}

function checkFile(file: File): string | null {
  if (!(TYPES as readonly string[]).includes(file.type)) return "Choose a JPEG, PNG or WebP photo.";
  if (file.size === 0) return "That file is empty.";
  if (file.size > MAX_BYTES) return `That photo is ${(file.size / 1048576).toFixed(1)} MB; the limit is 20 MB.`;
  return null;
}

export function Compose() {
  const [draft, setDraft] = useState<Draft>(readDraft);
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  const [phase, setPhase] = useState<Phase>("editing");
  const [progress, setProgress] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [post, setPost] = useState<Post | null>(null);
  const [dragging, setDragging] = useState(false);
  const idempotencyKey = useRef(crypto.randomUUID());
  const created = useRef<{ post: Post; upload: Upload; at: number } | null>(null);
  const inFlight = useRef<UploadHandle | null>(null);
  const alive = useRef(true);
  // Set at once on the first click (state only changes on the next render): a double click posts once.
  const submitting = useRef(false);

  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
      inFlight.current?.abort();
    };
  }, []);
  useEffect(() => sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft)), [draft]);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);

  const choose = (chosen: File | undefined) => {
    if (!chosen) return;
    const problem = checkFile(chosen);
    setFileError(problem);
    if (problem) return;
    setFile(chosen);
    setPreview(URL.createObjectURL(chosen));
    // Another photo is another post.
    idempotencyKey.current = crypto.randomUUID();
    created.current = null;
  };

  const busy = phase === "creating" || phase === "uploading" || phase === "processing";

  const upload = async (photo: File) => {
    let target = created.current;
    // A presigned POST lives `expires_in` seconds; past that, start over as a new post.
    if (target && Date.now() - target.at > (target.upload.expires_in - 15) * 1000) {
      idempotencyKey.current = crypto.randomUUID();
      target = created.current = null;
    }
    if (!target) {
      setPhase("creating");
      const answer = await call(
        api.POST("/posts", {
          params: { header: { "idempotency-key": idempotencyKey.current } },
          body: {
            title: draft.title.trim(),
            caption: draft.caption.trim(),
            content_type: photo.type as PhotoType,
            content_length: photo.size,
          },
        }),
      );
      target = created.current = { post: answer.post, upload: answer.upload, at: Date.now() };
      setPost(answer.post);
    }
    setPhase("uploading");
    setProgress(0);
    inFlight.current = uploadFile(target.upload, photo, (fraction) => alive.current && setProgress(fraction));
    await inFlight.current.done;
    inFlight.current = null;
    return target.post;
  };

  const follow = async (postId: string) => {
    setPhase("processing");
    const started = Date.now();
    for (let wait = 500; alive.current; wait = Math.min(wait * 1.5, 3000)) {
      const latest = await call(api.GET("/posts/{post_id}", { params: { path: { post_id: postId } } }));
      if (!alive.current) return;
      setPost(latest);
      if (latest.status === "published" || latest.status === "rejected") {
        setPhase(latest.status);
        if (latest.status === "published") sessionStorage.removeItem(DRAFT_KEY);
        return;
      }
      if (Date.now() - started > POLL_LIMIT_MS) {
        setPhase("slow");
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (submitting.current || busy || !file) {
      if (!file) setFileError("Choose a photo first.");
      return;
    }
    submitting.current = true;
    setError(null);
    try {
      let uploaded: Post;
      try {
        uploaded = await upload(file);
      } catch (failure) {
        if (!alive.current) return;
        setError(describe(failure));
        setPhase(created.current ? "upload-failed" : "editing");
        return;
      }
      try {
        await follow(uploaded.id);
      } catch (failure) {
        if (!alive.current) return;
        setError(`Uploaded, but its status could not be read: ${describe(failure)}`);
        setPhase("slow");
      }
    } finally {
      submitting.current = false;
    }
  };

  const reset = () => {
    setDraft({ title: "", caption: "" });
    setFile(null);
    setPreview(null);
    setPost(null);
    setPhase("editing");
    setProgress(0);
    setError(null);
    created.current = null;
    idempotencyKey.current = crypto.randomUUID();
  };

  const locked = phase !== "editing" && phase !== "upload-failed";

  return (
    <main class="page compose">
      <h1>New post</h1>
      <form class="card form" onSubmit={submit}>
        <label
          class={`drop-zone${dragging ? " dragging" : ""}${preview ? " has-preview" : ""}`}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            if (!locked) choose(event.dataTransfer?.files[0]);
          }}
        >
          {preview ? (
            // Browsers apply the EXIF orientation to <img> (image-orientation: from-image), so this is upright.
            <img class="preview" src={preview} alt="Preview of the chosen photo" />
          ) : (
            <span class="drop-text">Drop a photo here or choose one</span>
          )}
          <input
            type="file"
            aria-label="Photo"
            accept={TYPES.join(",")}
            disabled={locked}
            class={preview ? "visually-hidden" : "file-input"}
            onChange={(event) => choose((event.currentTarget as HTMLInputElement).files?.[0])}
          />
        </label>
        {preview && !locked && (
          <button type="button" class="button-link" onClick={() => (document.querySelector(".drop-zone input") as HTMLInputElement | null)?.click()}>
            Choose another photo
          </button>
        )}
        {fileError && <ErrorNote message={fileError} />}
        <label>
          Title
          <input
            name="title"
            required
            maxLength={120}
            value={draft.title}
            disabled={locked}
            onInput={(event) => setDraft({ ...draft, title: (event.currentTarget as HTMLInputElement).value })}
          />
        </label>
        <label>
          Caption
          <textarea
            name="caption"
            rows={3}
            maxLength={2200}
            value={draft.caption}
            disabled={locked}
            onInput={(event) => setDraft({ ...draft, caption: (event.currentTarget as HTMLTextAreaElement).value })}
          />
        </label>
        {phase !== "editing" && <Status phase={phase} progress={progress} post={post} />}
        {error && <ErrorNote message={error} />}
        {phase === "upload-failed" ? (
          <button type="submit" class="button-primary">
            Retry upload
          </button>
        ) : phase === "published" || phase === "rejected" || phase === "slow" ? (
          <button type="button" class="button-primary" onClick={reset}>
            Post another
          </button>
        ) : (
          <button type="submit" class="button-primary" disabled={busy}>
            Post
          </button>
        )}
      </form>
    </main>
  );
}

function Status({ phase, progress, post }: { phase: Phase; progress: number; post: Post | null }) {
  const percent = Math.round(progress * 100);
  return (
    <div class="status">
      {(phase === "uploading" || phase === "upload-failed" || phase === "processing" || phase === "published") && (
        <div class="progress" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
          <div class="progress-bar" style={{ width: `${percent}%` }} />
        </div>
      )}
      <p class="status-text" role="status" aria-live="polite">
        {phase === "creating" && "Preparing the upload…"}
        {phase === "uploading" && `Uploading… ${percent}%`}
        {phase === "upload-failed" && "The upload did not finish."}
        {phase === "processing" && "Uploaded. Processing the photo…"}
        {phase === "published" && post && (
          <>
            Published. <a href={`/p/${post.id}`}>View post</a>
          </>
        )}
        {phase === "slow" && post && (
          <>
            Still processing; it will appear in <a href={`/u/${post.author.username}`}>your profile</a> when it is ready.
          </>
        )}
      </p>
      {phase === "rejected" && post && (
        <p class="note note-error" role="alert">
          Rejected: {post.rejection_reason ?? "the photo could not be processed"}
        </p>
      )}
    </div>
  );
}
