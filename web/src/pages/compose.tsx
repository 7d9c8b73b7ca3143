/**
 * Posting photos (API.md "Posts and media", flow 1): pick or drop up to ten, see each the right way up,
 * put them in order, describe each for people who cannot see it, give the post a title and caption;
 * then `POST /posts` (the many-item form, with an Idempotency-Key: a double click makes one post), each
 * presigned upload with its progress, three at a time, and the post's status until it is published
 * or rejected.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call, describe, type MediaItemRequest, type Post, type Upload } from "../api/client";
import { ErrorNote } from "../components";
import { published } from "../published";
import { uploadFile, type UploadHandle } from "../upload";
import "./compose.css";

type PhotoType = MediaItemRequest["content_type"];
/** The accepted types, and the file name endings that stand for them when the browser gives no type. */
const TYPES = {
  "image/jpeg": ["jpg", "jpeg"],
  "image/png": ["png"],
  "image/webp": ["webp"],
  "image/heic": ["heic"],
  "image/heif": ["heif"],
  "image/avif": ["avif"],
} satisfies Record<PhotoType, string[]>;
/** Types a browser may be unable to draw (Chromium and Firefox have no HEIC decoder). */
const NOT_PREVIEWED: PhotoType[] = ["image/heic", "image/heif"];
const ACCEPT = [...Object.keys(TYPES), ".heic", ".heif", ".avif"].join(",");
const MAX_BYTES = 20 * 1024 * 1024;
const MAX_PHOTOS = 10;
const MAX_ALT = 1500;
const PARALLEL_UPLOADS = 3;
const DRAFT_KEY = "photofeed.draft";
const POLL_LIMIT_MS = 3 * 60_000;
/** What a photo being dragged to another place in the list carries (files dragged in carry "Files"). */
const DRAG_TYPE = "application/x-photofeed-photo";

type Phase = "editing" | "creating" | "uploading" | "upload-failed" | "processing" | "published" | "rejected" | "slow";

interface Draft {
  title: string;
  caption: string;
}

interface Photo {
  id: number;
  file: File;
  type: PhotoType;
  /** An object URL of the file, or null where this browser cannot draw its type. */
  preview: string | null;
  alt: string;
}

interface Sending {
  state: "waiting" | "sending" | "sent" | "failed";
  fraction: number;
}

/** The post as created: its presigned uploads match `photos`, in order. */
interface Created {
  post: Post;
  uploads: Upload[];
  photos: Photo[];
  sent: Set<number>;
  at: number;
}

function readDraft(): Draft {
  try {
    const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) ?? "{}") as Partial<Draft>;
    return { title: draft.title ?? "", caption: draft.caption ?? "" };
  } catch {
    return { title: "", caption: "" };
  }
}

function photoType(file: File): PhotoType | undefined {
  if (file.type in TYPES) return file.type as PhotoType;
  // Some systems know no type for HEIC or AVIF files: their name says it.
  if (file.type && file.type !== "application/octet-stream") return undefined;
  const ending = file.name.split(".").pop()?.toLowerCase() ?? "";
  return (Object.keys(TYPES) as PhotoType[]).find((type) => (TYPES[type] as string[]).includes(ending));
}

function checkFile(file: File): { type: PhotoType } | { problem: string } {
  const type = photoType(file);
  if (!type) return { problem: `"${file.name}" is not a JPEG, PNG, WebP, HEIC or AVIF photo.` };
  if (file.size === 0) return { problem: `"${file.name}" is empty.` };
  if (file.size > MAX_BYTES) return { problem: `"${file.name}" is ${megabytes(file.size)}; the limit is 20 MB a photo.` };
  return { type };
}

function megabytes(bytes: number): string {
  return bytes < 1048576 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

/** The file as announced: where the browser gave it no type, the upload must still carry the one the post was made with. */
function asAnnounced(photo: Photo): File {
  return photo.file.type === photo.type ? photo.file : new File([photo.file], photo.file.name, { type: photo.type });
}

export function Compose() {
  const [draft, setDraft] = useState<Draft>(readDraft);
  const [photos, setPhotos] = useState<Photo[]>([]);
  const [fileError, setFileError] = useState<string | null>(null);
  const [phase, setPhase] = useState<Phase>("editing");
  const [sending, setSending] = useState<Record<number, Sending>>({});
  const [error, setError] = useState<string | null>(null);
  const [post, setPost] = useState<Post | null>(null);
  const [dragging, setDragging] = useState(false);
  const idempotencyKey = useRef(crypto.randomUUID());
  const created = useRef<Created | null>(null);
  const inFlight = useRef(new Set<UploadHandle>());
  const alive = useRef(true);
  const nextId = useRef(1);
  const shownPhotos = useRef(photos);
  shownPhotos.current = photos;
  // After a photo moves or goes, the focus goes where the person's next press is (the list re-renders under it).
  const focusNext = useRef<string | null>(null);
  // Set at once on the first click (state only changes on the next render): a double click posts once.
  const submitting = useRef(false);

  useEffect(() => {
    alive.current = true;
    const uploads = inFlight.current;
    return () => {
      alive.current = false;
      for (const upload of uploads) upload.abort();
      for (const photo of shownPhotos.current) if (photo.preview) URL.revokeObjectURL(photo.preview);
    };
  }, []);
  useEffect(() => sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft)), [draft]);
  useEffect(() => {
    if (!focusNext.current) return;
    document.querySelector<HTMLElement>(focusNext.current)?.focus();
    focusNext.current = null;
  }, [photos]);

  const busy = phase === "creating" || phase === "uploading" || phase === "processing";
  // Once the post exists, what it was made with is fixed: a retry sends the same photos into it.
  const locked = busy || post !== null;

  /** Another set of photos (or order) is another post. */
  const changePhotos = (next: Photo[]) => {
    setPhotos(next);
    idempotencyKey.current = crypto.randomUUID();
  };

  const add = (files: File[]) => {
    if (locked || files.length === 0) return;
    const problems: string[] = [];
    const added: Photo[] = [];
    const left: string[] = [];
    for (const file of files) {
      const checked = checkFile(file);
      if ("problem" in checked) problems.push(checked.problem);
      else if (photos.length + added.length >= MAX_PHOTOS) left.push(file.name);
      else {
        const preview = NOT_PREVIEWED.includes(checked.type) ? null : URL.createObjectURL(file);
        added.push({ id: nextId.current++, file, type: checked.type, preview, alt: "" });
      }
    }
    if (left.length > 0) {
      const which = left.length === 1 ? `"${left[0]}" was` : `${left.length} photos were`;
      problems.push(`A post holds at most ${MAX_PHOTOS} photos: ${which} not added.`);
    }
    setFileError(problems.length > 0 ? problems.join(" ") : null);
    if (added.length > 0) changePhotos([...photos, ...added]);
  };

  const move = (from: number, to: number, control?: "earlier" | "later") => {
    const photo = photos[from];
    if (!photo || to < 0 || to >= photos.length || from === to) return;
    const next = photos.filter((_, index) => index !== from);
    next.splice(to, 0, photo);
    if (control) {
      // The same button where there is one (it moved with its photo); at either end, the other one.
      const stays = (control === "earlier" && to > 0) || (control === "later" && to < photos.length - 1);
      const focused = stays ? control : control === "earlier" ? "later" : "earlier";
      focusNext.current = `[data-photo="${photo.id}"] [data-control="${focused}"]`;
    }
    changePhotos(next);
  };

  const remove = (index: number) => {
    const photo = photos[index];
    if (!photo) return;
    if (photo.preview) URL.revokeObjectURL(photo.preview);
    const next = photos.filter((_, at) => at !== index);
    const neighbour = next[index] ?? next[index - 1];
    focusNext.current = neighbour ? `[data-photo="${neighbour.id}"] [data-control="remove"]` : ".drop-zone input";
    setFileError(null);
    changePhotos(next);
  };

  const describePhoto = (index: number, alt: string) => setPhotos(photos.map((photo, at) => (at === index ? { ...photo, alt } : photo)));

  const create = async (): Promise<Created> => {
    setPhase("creating");
    const chosen = photos;
    const answer = await call(
      api.POST("/posts", {
        params: { header: { "idempotency-key": idempotencyKey.current } },
        body: {
          title: draft.title.trim(),
          caption: draft.caption.trim(),
          media: chosen.map((photo) => ({ content_type: photo.type, content_length: photo.file.size, alt_text: photo.alt.trim() })),
        },
      }),
    );
    if (answer.uploads.length !== chosen.length) {
      throw new Error(`The server gave ${answer.uploads.length} uploads for ${chosen.length} photos.`);
    }
    return { post: answer.post, uploads: answer.uploads, photos: chosen, sent: new Set(), at: Date.now() };
  };

  /** Every photo not sent yet, to its presigned POST, a few at a time; throws what failed once all have ended. */
  const uploadAll = async (target: Created) => {
    setPhase("uploading");
    const waiting = target.photos.filter((photo) => !target.sent.has(photo.id));
    const report = (photo: Photo, state: Sending["state"], fraction: number) => {
      if (alive.current) setSending((shown) => ({ ...shown, [photo.id]: { state, fraction } }));
    };
    setSending((shown) => ({ ...shown, ...Object.fromEntries(waiting.map((photo) => [photo.id, { state: "waiting", fraction: 0 }])) }));
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < waiting.length && alive.current) {
        const photo = waiting[next++]!;
        const index = target.photos.indexOf(photo);
        report(photo, "sending", 0);
        const handle = uploadFile(target.uploads[index]!, asAnnounced(photo), (fraction) => report(photo, "sending", fraction));
        inFlight.current.add(handle);
        try {
          await handle.done;
          target.sent.add(photo.id);
          report(photo, "sent", 1);
        } catch (failure) {
          report(photo, "failed", 0);
          failures.push(target.photos.length > 1 ? `Photo ${index + 1}: ${describe(failure)}` : describe(failure));
        } finally {
          inFlight.current.delete(handle);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, waiting.length) }, worker));
    if (failures.length > 0) throw new Error(failures.join(" "));
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
        if (latest.status === "published") {
          sessionStorage.removeItem(DRAFT_KEY);
          published(latest);
        }
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
    if (submitting.current || busy) return;
    if (photos.length === 0) {
      setFileError("Choose a photo first.");
      return;
    }
    submitting.current = true;
    setError(null);
    try {
      let target = created.current;
      try {
        // A presigned POST lives `expires_in` seconds; past that, start over as a new post.
        if (target && Date.now() - target.at > (Math.min(...target.uploads.map((upload) => upload.expires_in)) - 15) * 1000) {
          idempotencyKey.current = crypto.randomUUID();
          target = created.current = null;
        }
        if (!target) {
          target = created.current = await create();
          setPost(target.post);
        }
        await uploadAll(target);
      } catch (failure) {
        if (!alive.current) return;
        setError(describe(failure));
        setPhase(created.current ? "upload-failed" : "editing");
        return;
      }
      try {
        await follow(target.post.id);
      } catch (failure) {
        if (!alive.current) return;
        setError(`Uploaded, but its status could not be read: ${describe(failure)}`);
        setPhase("slow");
      }
    } finally {
      submitting.current = false;
    }
  };

  /** Give up on a post whose uploads failed: it is deleted, and the photos and text can be changed and posted again. */
  const cancel = async () => {
    const target = created.current;
    if (!target) return;
    try {
      await call(api.DELETE("/posts/{post_id}", { params: { path: { post_id: target.post.id } } }));
    } catch (failure) {
      setError(`The unfinished post could not be removed: ${describe(failure)}`);
      return;
    }
    created.current = null;
    idempotencyKey.current = crypto.randomUUID();
    setPost(null);
    setSending({});
    setError(null);
    setPhase("editing");
  };

  const reset = () => {
    for (const photo of photos) if (photo.preview) URL.revokeObjectURL(photo.preview);
    setDraft({ title: "", caption: "" });
    setPhotos([]);
    setSending({});
    setPost(null);
    setPhase("editing");
    setError(null);
    setFileError(null);
    created.current = null;
    idempotencyKey.current = crypto.randomUUID();
  };

  // The whole post's progress: bytes sent over bytes to send.
  const total = photos.reduce((sum, photo) => sum + photo.file.size, 0);
  const sent = photos.reduce((sum, photo) => sum + photo.file.size * (sending[photo.id]?.fraction ?? 0), 0);
  const progress = total > 0 ? sent / total : 0;
  // The contract's rejection reason names the photo it is about ("item 2: ..."): that photo is marked too.
  const refused = phase === "rejected" ? Number(/^item (\d+):/.exec(post?.rejection_reason ?? "")?.[1] ?? 0) - 1 : -1;

  return (
    <main class="page compose">
      <h1>New post</h1>
      <form class="card form" onSubmit={submit}>
        {photos.length > 0 && (
          <ol class="photo-list" aria-label="Photos">
            {photos.map((photo, index) => (
              <PhotoItem
                key={photo.id}
                photo={photo}
                index={index}
                count={photos.length}
                locked={locked}
                refused={index === refused}
                sending={photos.length > 1 ? sending[photo.id] : undefined}
                onMove={move}
                onRemove={remove}
                onDescribe={describePhoto}
              />
            ))}
          </ol>
        )}
        {!locked && photos.length < MAX_PHOTOS && (
          <label
            class={`drop-zone${dragging ? " dragging" : ""}${photos.length > 0 ? " compact" : ""}`}
            onDragOver={(event) => {
              if (!event.dataTransfer?.types.includes("Files")) return;
              event.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={(event) => {
              event.preventDefault();
              setDragging(false);
              add([...(event.dataTransfer?.files ?? [])]);
            }}
          >
            <span class="drop-text">
              {photos.length === 0 ? "Drop up to 10 photos here or choose them" : `Add photos (${photos.length} of ${MAX_PHOTOS})`}
            </span>
            <input
              type="file"
              multiple
              aria-label="Photo"
              accept={ACCEPT}
              class="file-input"
              onChange={(event) => {
                const input = event.currentTarget as HTMLInputElement;
                add([...(input.files ?? [])]);
                input.value = ""; // the same file can be chosen again after it was removed
              }}
            />
          </label>
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
        {phase !== "editing" && <Status phase={phase} progress={progress} count={photos.length} post={post} />}
        {error && <ErrorNote message={error} />}
        {phase === "upload-failed" ? (
          <div class="form-buttons">
            <button type="submit" class="button-primary">
              Retry upload
            </button>
            <button type="button" class="button-link" onClick={cancel}>
              Cancel and edit
            </button>
          </div>
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

interface PhotoItemProps {
  photo: Photo;
  index: number;
  count: number;
  locked: boolean;
  /** The photo the server refused, so the post was rejected. */
  refused: boolean;
  /** Shown while a post of several photos is sent: this photo's own upload. */
  sending: Sending | undefined;
  onMove(from: number, to: number, control?: "earlier" | "later"): void;
  onRemove(index: number): void;
  onDescribe(index: number, alt: string): void;
}

function PhotoItem({ photo, index, count, locked, refused, sending, onMove, onRemove, onDescribe }: PhotoItemProps) {
  const [drawable, setDrawable] = useState(photo.preview !== null);
  const [target, setTarget] = useState(false);
  const number = index + 1;
  const percent = Math.round((sending?.fraction ?? 0) * 100);
  const kind = photo.type.split("/")[1]!.toUpperCase();
  return (
    <li
      class={`photo-item${target ? " drop-target" : ""}${refused ? " refused" : ""}`}
      data-photo={photo.id}
      onDragOver={(event) => {
        if (locked || !event.dataTransfer?.types.includes(DRAG_TYPE)) return;
        event.preventDefault();
        setTarget(true);
      }}
      onDragLeave={() => setTarget(false)}
      onDrop={(event) => {
        const from = event.dataTransfer?.getData(DRAG_TYPE);
        setTarget(false);
        if (locked || !from) return;
        event.preventDefault();
        onMove(Number(from), index);
      }}
    >
      <div
        class="photo-thumb"
        draggable={!locked && count > 1}
        onDragStart={(event) => {
          event.dataTransfer?.setData(DRAG_TYPE, String(index));
          if (event.dataTransfer) event.dataTransfer.effectAllowed = "move";
        }}
      >
        {drawable && photo.preview ? (
          // Browsers apply the EXIF orientation to <img> (image-orientation: from-image), so this is upright.
          <img src={photo.preview} alt={`Preview of photo ${number}`} onError={() => setDrawable(false)} />
        ) : (
          <div class="photo-placeholder" role="img" aria-label={`Photo ${number}, ${photo.file.name}: no preview in this browser`}>
            <span class="photo-kind">{kind}</span>
            <span>No preview</span>
          </div>
        )}
      </div>
      <div class="photo-head">
        <span class="photo-number">
          Photo {number}
          {refused && <span class="photo-refused"> · refused</span>}
        </span>
        <span class="photo-file muted small" title={photo.file.name}>
          {photo.file.name} · {megabytes(photo.file.size)}
        </span>
      </div>
      {!locked && (
        <div class="photo-controls">
          {count > 1 && (
            <>
              <button
                type="button"
                class="icon-button"
                data-control="earlier"
                aria-label={`Move photo ${number} earlier`}
                disabled={index === 0}
                onClick={() => onMove(index, index - 1, "earlier")}
              >
                <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                  <path d="M5 15l7-7 7 7" />
                </svg>
              </button>
              <button
                type="button"
                class="icon-button"
                data-control="later"
                aria-label={`Move photo ${number} later`}
                disabled={index === count - 1}
                onClick={() => onMove(index, index + 1, "later")}
              >
                <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                  <path d="M5 9l7 7 7-7" />
                </svg>
              </button>
            </>
          )}
          <button type="button" class="icon-button danger" data-control="remove" aria-label={`Remove photo ${number}`} onClick={() => onRemove(index)}>
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
              <path d="M6 6l12 12M18 6L6 18" />
            </svg>
          </button>
        </div>
      )}
      <label class="photo-alt">
        <span>
          Alt text<span class="visually-hidden"> for photo {number}</span>
        </span>
        <textarea
          rows={2}
          maxLength={MAX_ALT}
          value={photo.alt}
          disabled={locked}
          placeholder={locked ? "" : "What the photo shows, for people who can't see it"}
          aria-describedby={`alt-count-${photo.id}`}
          onInput={(event) => onDescribe(index, (event.currentTarget as HTMLTextAreaElement).value)}
        />
      </label>
      <span id={`alt-count-${photo.id}`} class="alt-count muted small">
        {photo.alt.length}/{MAX_ALT}
        <span class="visually-hidden"> characters</span>
      </span>
      {sending && (
        <div class={`photo-progress ${sending.state}`}>
          <div
            class="progress"
            role="progressbar"
            aria-label={`Upload progress for photo ${number}`}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={percent}
          >
            <div class="progress-bar" style={{ width: `${sending.state === "failed" ? 100 : percent}%` }} />
          </div>
          <span class="muted small">
            {sending.state === "waiting" ? "Waiting" : sending.state === "sending" ? `${percent}%` : sending.state === "sent" ? "Sent" : "Failed"}
          </span>
        </div>
      )}
    </li>
  );
}

function Status({ phase, progress, count, post }: { phase: Phase; progress: number; count: number; post: Post | null }) {
  const percent = Math.round(progress * 100);
  const what = count > 1 ? `${count} photos` : "the photo";
  return (
    <div class="status">
      {(phase === "uploading" || phase === "upload-failed" || phase === "processing" || phase === "published") && (
        <div class="progress" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
          <div class="progress-bar" style={{ width: `${percent}%` }} />
        </div>
      )}
      <p class="status-text" role="status" aria-live="polite">
        {phase === "creating" && "Preparing the upload…"}
        {phase === "uploading" && `Uploading ${what}… ${percent}%`}
        {phase === "upload-failed" && "The upload did not finish."}
        {phase === "processing" && `Uploaded. Processing ${what}…`}
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
