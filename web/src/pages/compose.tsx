/**
 * Posting photos and videos (API.md "Posts and media", flow 1): pick or drop up to ten, see each the
 * right way up (a video by its first frame and length), put them in order, describe each for people
 * who cannot see it, give the post a title and caption; then `POST /posts` (the many-item form, with
 * an Idempotency-Key: a double click makes one post), each presigned upload with its progress, three
 * at a time, and the post's status until it is published or rejected (a video takes a while to convert).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call, describe, type MediaItemRequest, type Post, type Upload } from "../api/client";
import { ErrorNote } from "../components";
import { countItems, formatDuration } from "../media";
import { published } from "../published";
import { uploadFile, type UploadHandle } from "../upload";
import "./compose.css";

type MediaType = MediaItemRequest["content_type"];
type Kind = "image" | "video";
/** The accepted types, and the file name endings that stand for them when the browser gives no type. */
const TYPES = {
  "image/jpeg": ["jpg", "jpeg"],
  "image/png": ["png"],
  "image/webp": ["webp"],
  "image/heic": ["heic"],
  "image/heif": ["heif"],
  "image/avif": ["avif"],
  "video/mp4": ["mp4", "m4v"],
  "video/quicktime": ["mov", "qt"],
} satisfies Record<MediaType, string[]>;
/** What each type is called where a person reads it. */
const KIND_NAMES: Partial<Record<MediaType, string>> = { "video/quicktime": "MOV" };
/** Types a browser may be unable to draw (Chromium and Firefox have no HEIC decoder). */
const NOT_PREVIEWED: MediaType[] = ["image/heic", "image/heif"];
const ACCEPT = [...Object.keys(TYPES), ".heic", ".heif", ".avif", ".mp4", ".m4v", ".mov"].join(",");
const MAX_PHOTO_BYTES = 20 * 1024 * 1024;
const MAX_VIDEO_BYTES = 100 * 1024 * 1024;
/** The contract's 60 s, with half a second for a length the browser and the server round differently. */
const MAX_VIDEO_SECONDS = 60;
const DURATION_SLACK_S = 0.5;
/** How long reading a video's metadata may take before it is left to the server to judge. */
const PROBE_TIMEOUT_MS = 10_000;
const MAX_PHOTOS = 10;
const MAX_ALT = 1500;
const PARALLEL_UPLOADS = 3;
const DRAFT_KEY = "photofeed.draft";
const POLL_LIMIT_MS = 3 * 60_000;
/** Converting a video of up to a minute takes longer than making a photo's variants. */
const VIDEO_POLL_LIMIT_MS = 10 * 60_000;
/** From this size on, the upload's status says how many megabytes have gone. */
const SHOW_MEGABYTES_FROM = 10 * 1024 * 1024;
/** What a photo being dragged to another place in the list carries (files dragged in carry "Files"). */
const DRAG_TYPE = "application/x-photofeed-photo";

type Phase = "editing" | "creating" | "uploading" | "upload-failed" | "processing" | "published" | "rejected" | "slow";

interface Draft {
  title: string;
  caption: string;
}

/** A photo or a video chosen for the post (the names say "photo" for both where the code is the same). */
interface Photo {
  id: number;
  file: File;
  type: MediaType;
  kind: Kind;
  /** An object URL of the file, or null where this browser cannot draw its type. */
  preview: string | null;
  /** A video's length in seconds, where the browser could read it. */
  duration: number | null;
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

function mediaType(file: File): MediaType | undefined {
  if (file.type in TYPES) return file.type as MediaType;
  // Some systems know no type for HEIC or AVIF files, or another name for a video's ("video/x-m4v"):
  // the file's name says it.
  if (file.type && file.type !== "application/octet-stream" && !file.type.startsWith("video/x-")) return undefined;
  const ending = file.name.split(".").pop()?.toLowerCase() ?? "";
  return (Object.keys(TYPES) as MediaType[]).find((type) => (TYPES[type] as string[]).includes(ending));
}

/** The boxes an MP4 or QuickTime file can start with: the first box's type is at bytes 4 to 8. */
const FIRST_BOXES = new Set(["ftyp", "moov", "mdat", "wide", "free", "skip", "pnot", "uuid"]);

async function isMovieFile(file: File): Promise<boolean> {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  return head.length === 8 && FIRST_BOXES.has(String.fromCharCode(...head.subarray(4)));
}

/** What the browser tells of a video from its metadata: its length, and whether it can draw it (no HEVC in Chromium). */
function readVideo(url: string): Promise<{ duration: number | null; drawable: boolean }> {
  return new Promise((resolve) => {
    const video = document.createElement("video");
    const finish = (facts: { duration: number | null; drawable: boolean }) => {
      clearTimeout(timer);
      video.onloadedmetadata = video.onerror = null;
      video.removeAttribute("src");
      video.load(); // lets go of the file
      resolve(facts);
    };
    const timer = setTimeout(() => finish({ duration: null, drawable: false }), PROBE_TIMEOUT_MS);
    video.muted = true;
    video.preload = "metadata";
    video.onloadedmetadata = () =>
      finish({ duration: Number.isFinite(video.duration) ? video.duration : null, drawable: video.videoWidth > 0 });
    video.onerror = () => finish({ duration: null, drawable: false });
    video.src = url;
  });
}

type Checked = { photo: Omit<Photo, "id" | "alt"> } | { problem: string };

/** The file as a photo or video for the post, or why it cannot be one. A video's length is read where the browser can. */
async function checkFile(file: File): Promise<Checked> {
  const type = mediaType(file);
  if (!type) return { problem: `"${file.name}" is not a JPEG, PNG, WebP, HEIC or AVIF photo. It is not an MP4 or MOV video either.` };
  if (file.size === 0) return { problem: `"${file.name}" is empty.` };
  const kind: Kind = type.startsWith("video/") ? "video" : "image";
  if (kind === "image") {
    if (file.size > MAX_PHOTO_BYTES) return { problem: `"${file.name}" is ${megabytes(file.size)}; the limit is 20 MB a photo.` };
    return { photo: { file, type, kind, preview: NOT_PREVIEWED.includes(type) ? null : URL.createObjectURL(file), duration: null } };
  }
  if (file.size > MAX_VIDEO_BYTES) return { problem: `"${file.name}" is ${megabytes(file.size)}; the limit is 100 MB a video.` };
  if (!(await isMovieFile(file))) return { problem: `"${file.name}" is not an MP4 or MOV video.` };
  const preview = URL.createObjectURL(file);
  const { duration, drawable } = await readVideo(preview);
  if (duration !== null && duration > MAX_VIDEO_SECONDS + DURATION_SLACK_S) {
    URL.revokeObjectURL(preview);
    return { problem: `"${file.name}" lasts ${formatDuration(duration)}; the limit is ${MAX_VIDEO_SECONDS} seconds a video.` };
  }
  if (!drawable) URL.revokeObjectURL(preview);
  // Where the browser cannot read it (HEVC in Chromium), the server still checks its length.
  return { photo: { file, type, kind, preview: drawable ? preview : null, duration } };
}

function megabytes(bytes: number): string {
  return bytes < 1048576 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

/** "Photo" or "Video", as the list names each item. */
function capitalised(photo: Pick<Photo, "kind">): string {
  return photo.kind === "video" ? "Video" : "Photo";
}

/** The file as announced: where the browser gave it no type, the upload must still carry the one the post was made with. */
function asAnnounced(photo: Photo): File {
  return photo.file.type === photo.type ? photo.file : new File([photo.file], photo.file.name, { type: photo.type });
}

export function Compose() {
  const [draft, setDraft] = useState<Draft>(readDraft);
  const [photos, showPhotos] = useState<Photo[]>([]);
  const [fileError, setFileError] = useState<string | null>(null);
  /** Files being read (a video's metadata) before they join the list. */
  const [checking, setChecking] = useState(0);
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
  // The list as it is now, ahead of the next render: files checked in the background join this one.
  const shownPhotos = useRef(photos);
  const setPhotos = (next: Photo[]) => {
    shownPhotos.current = next;
    showPhotos(next);
  };
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

  const add = async (files: File[]) => {
    if (locked || files.length === 0) return;
    // A photo is checked at once; a video's metadata takes a moment to read.
    const reading = files.some((file) => mediaType(file)?.startsWith("video/"));
    if (reading) setChecking((count) => count + 1);
    const results = await Promise.all(files.map(checkFile));
    if (reading) setChecking((count) => count - 1);
    const current = shownPhotos.current;
    const problems: string[] = [];
    const added: Photo[] = [];
    const left: Omit<Photo, "id" | "alt">[] = [];
    for (const checked of results) {
      if ("problem" in checked) problems.push(checked.problem);
      else if (!alive.current || current.length + added.length >= MAX_PHOTOS) {
        if (checked.photo.preview) URL.revokeObjectURL(checked.photo.preview);
        left.push(checked.photo);
      } else added.push({ ...checked.photo, id: nextId.current++, alt: "" });
    }
    if (!alive.current) return;
    if (left.length > 0) {
      const what = [...current, ...added, ...left].some((photo) => photo.kind === "video") ? "photos and videos" : "photos";
      const nouns = left.every((photo) => photo.kind === "video") ? "videos" : "photos";
      const which = left.length === 1 ? `"${left[0]!.file.name}" was` : `${left.length} ${nouns} were`;
      problems.push(`A post holds at most ${MAX_PHOTOS} ${what}: ${which} not added.`);
    }
    setFileError(problems.length > 0 ? problems.join(" ") : null);
    if (added.length > 0) changePhotos([...current, ...added]);
  };

  const move = (from: number, to: number, control?: "earlier" | "later") => {
    const photos = shownPhotos.current;
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
    const photos = shownPhotos.current;
    const photo = photos[index];
    if (!photo) return;
    if (photo.preview) URL.revokeObjectURL(photo.preview);
    const next = photos.filter((_, at) => at !== index);
    const neighbour = next[index] ?? next[index - 1];
    focusNext.current = neighbour ? `[data-photo="${neighbour.id}"] [data-control="remove"]` : ".drop-zone input";
    setFileError(null);
    changePhotos(next);
  };

  const describePhoto = (index: number, alt: string) =>
    setPhotos(shownPhotos.current.map((photo, at) => (at === index ? { ...photo, alt } : photo)));

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
      throw new Error(`The server gave ${answer.uploads.length} uploads for ${chosen.length} items.`);
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
          failures.push(target.photos.length > 1 ? `${capitalised(photo)} ${index + 1}: ${describe(failure)}` : describe(failure));
        } finally {
          inFlight.current.delete(handle);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, waiting.length) }, worker));
    if (failures.length > 0) throw new Error(failures.join(" "));
  };

  const follow = async (postId: string, limit: number) => {
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
      if (Date.now() - started > limit) {
        setPhase("slow");
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (submitting.current || busy || checking > 0) return;
    if (photos.length === 0) {
      setFileError("Choose a photo or a video first.");
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
        await follow(target.post.id, target.photos.some((photo) => photo.kind === "video") ? VIDEO_POLL_LIMIT_MS : POLL_LIMIT_MS);
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

  // The whole post's progress: bytes sent over bytes to send (a video weighs what it weighs).
  const total = photos.reduce((sum, photo) => sum + photo.file.size, 0);
  const sent = photos.reduce((sum, photo) => sum + photo.file.size * (sending[photo.id]?.fraction ?? 0), 0);
  const progress = { fraction: total > 0 ? sent / total : 0, sent, total };
  const kinds = photos.map((photo) => photo.kind);
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
              void add([...(event.dataTransfer?.files ?? [])]);
            }}
          >
            <span class="drop-text">
              {photos.length === 0 ? "Drop up to 10 photos or videos here or choose them" : `Add photos or videos (${photos.length} of ${MAX_PHOTOS})`}
            </span>
            {photos.length === 0 && (
              <span id="file-limits" class="drop-limits small">
                Photos: JPEG, PNG, WebP, HEIC or AVIF, up to 20 MB. Videos: MP4 or MOV, up to 100 MB and 60 seconds.
              </span>
            )}
            <input
              type="file"
              multiple
              aria-label="Photo"
              aria-describedby={photos.length === 0 ? "file-limits" : undefined}
              accept={ACCEPT}
              class="file-input"
              onChange={(event) => {
                const input = event.currentTarget as HTMLInputElement;
                void add([...(input.files ?? [])]);
                input.value = ""; // the same file can be chosen again after it was removed
              }}
            />
          </label>
        )}
        {checking > 0 && (
          <p class="muted small checking" role="status">
            Reading the video…
          </p>
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
        {phase !== "editing" && <Status phase={phase} progress={progress} kinds={kinds} post={post} />}
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
          <button type="submit" class="button-primary" disabled={busy || checking > 0}>
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
  const kind = KIND_NAMES[photo.type] ?? photo.type.split("/")[1]!.toUpperCase();
  // "photo 2" or "video 2": every control says which item it acts on.
  const noun = photo.kind === "video" ? "video" : "photo";
  const Noun = capitalised(photo);
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
        {drawable && photo.preview && photo.kind === "video" ? (
          <div class="video-thumb" role="img" aria-label={`Preview of video ${number}`}>
            <video
              src={photo.preview}
              muted
              playsInline
              preload="metadata"
              aria-hidden="true"
              // Its first frame, drawn: a video only shows one once it has been asked for a time.
              onLoadedMetadata={(event) => {
                const video = event.currentTarget;
                if (video.videoWidth === 0) setDrawable(false);
                else video.currentTime = Math.min(0.1, video.duration / 2 || 0);
              }}
              onError={() => setDrawable(false)}
            />
          </div>
        ) : drawable && photo.preview ? (
          // Browsers apply the EXIF orientation to <img> (image-orientation: from-image), so this is upright.
          <img src={photo.preview} alt={`Preview of photo ${number}`} onError={() => setDrawable(false)} />
        ) : (
          <div class="photo-placeholder" role="img" aria-label={`${Noun} ${number}, ${photo.file.name}: no preview in this browser`}>
            <span class="photo-kind">{kind}</span>
            <span>No preview</span>
          </div>
        )}
        {photo.duration !== null && (
          <span class="thumb-length" aria-hidden="true">
            {formatDuration(photo.duration)}
          </span>
        )}
      </div>
      <div class="photo-head">
        <span class="photo-number">
          {Noun} {number}
          {refused && <span class="photo-refused"> · refused</span>}
        </span>
        <span class="photo-file muted small" title={photo.file.name}>
          {photo.file.name} · {megabytes(photo.file.size)}
          {photo.duration !== null && ` · ${formatDuration(photo.duration)}`}
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
                aria-label={`Move ${noun} ${number} earlier`}
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
                aria-label={`Move ${noun} ${number} later`}
                disabled={index === count - 1}
                onClick={() => onMove(index, index + 1, "later")}
              >
                <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                  <path d="M5 9l7 7 7-7" />
                </svg>
              </button>
            </>
          )}
          <button type="button" class="icon-button danger" data-control="remove" aria-label={`Remove ${noun} ${number}`} onClick={() => onRemove(index)}>
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
              <path d="M6 6l12 12M18 6L6 18" />
            </svg>
          </button>
        </div>
      )}
      <label class="photo-alt">
        <span>
          Alt text<span class="visually-hidden"> for {noun} {number}</span>
        </span>
        <textarea
          rows={2}
          maxLength={MAX_ALT}
          value={photo.alt}
          disabled={locked}
          placeholder={locked ? "" : `What the ${noun} shows, for people who can't see it`}
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
            aria-label={`Upload progress for ${noun} ${number}`}
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

interface StatusProps {
  phase: Phase;
  /** Bytes sent of all the files, and the fraction that is. */
  progress: { fraction: number; sent: number; total: number };
  kinds: Kind[];
  post: Post | null;
}

function Status({ phase, progress, kinds, post }: StatusProps) {
  const percent = Math.round(progress.fraction * 100);
  const what = countItems(kinds);
  const videos = kinds.filter((kind) => kind === "video").length;
  const inMegabytes = (bytes: number) => (bytes / 1048576).toFixed(1);
  const amount = progress.total >= SHOW_MEGABYTES_FROM ? ` (${inMegabytes(progress.sent)} of ${inMegabytes(progress.total)} MB)` : "";
  return (
    <div class="status">
      {(phase === "uploading" || phase === "upload-failed" || phase === "processing" || phase === "published") && (
        <div class="progress" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
          <div class="progress-bar" style={{ width: `${percent}%` }} />
        </div>
      )}
      <p class="status-text" role="status" aria-live="polite">
        {phase === "creating" && "Preparing the upload…"}
        {phase === "uploading" && `Uploading ${what}… ${percent}%${amount}`}
        {phase === "upload-failed" && "The upload did not finish."}
        {phase === "processing" &&
          (videos > 0
            ? `Uploaded. Converting your ${videos > 1 ? "videos" : "video"}… This can take a few minutes.`
            : `Uploaded. Processing ${what}…`)}
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
          Rejected: {post.rejection_reason ?? `${what} could not be processed`}
        </p>
      )}
    </div>
  );
}
