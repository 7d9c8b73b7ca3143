/**
 * A post's photos and videos: one item, or a carousel of several (API.md "Posts and media",
 * `media_items`). A photo comes from its variants through `srcset` with its width and height set, its
 * BlurHash painted behind it until it has loaded. A video shows its poster (the same variants) and
 * plays only when asked, one at a time, pausing when it leaves the screen.
 */
import { decode } from "blurhash";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { MediaItem, Post } from "./api/client";

/** "0:07", "1:05", "1:02:03": a video's length as players show it. */
export function formatDuration(seconds: number): string {
  const whole = seconds > 0 ? Math.max(1, Math.round(seconds)) : 0;
  const [hours, minutes, rest] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const two = (n: number) => String(n).padStart(2, "0");
  return hours > 0 ? `${hours}:${two(minutes)}:${two(rest)}` : `${minutes}:${two(rest)}`;
}

/** "the photo", "the video", "3 photos", "1 photo and 2 videos": what a set of items is, in words. */
export function countItems(kinds: readonly ("image" | "video")[]): string {
  const videos = kinds.filter((kind) => kind === "video").length;
  const photos = kinds.length - videos;
  if (kinds.length === 1) return videos ? "the video" : "the photo";
  const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  if (!videos) return count(photos, "photo");
  if (!photos) return count(videos, "video");
  return `${count(photos, "photo")} and ${count(videos, "video")}`;
}

/** The post's pictures in order. A post published before `media_items` existed has only `media`. */
export function postItems(post: Post): MediaItem[] {
  if (post.media_items.length > 0) return post.media_items;
  if (!post.media || !post.width || !post.height) return [];
  return [{ type: "image", alt_text: "", width: post.width, height: post.height, blurhash: null, variants: post.media }];
}

/** The BlurHash at a few dozen pixels, in the picture's proportions; `object-fit` stretches it as the picture is. */
function Blurhash({ hash, width, height }: { hash: string; width: number; height: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const across = 32;
  const down = Math.max(1, Math.min(64, Math.round((across * height) / width)));
  useEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    try {
      context.putImageData(new ImageData(decode(hash, across, down) as Uint8ClampedArray<ArrayBuffer>, across, down), 0, 0);
    } catch {
      // Not a valid BlurHash: no placeholder, the frame's plain background shows instead.
    }
  }, [hash, down]);
  // A canvas is never a largest-contentful-paint candidate, so the photo itself stays the LCP element.
  return <canvas ref={canvas} class="blurhash" width={across} height={down} aria-hidden="true" />;
}

/**
 * One picture: `srcset` from the variants (medium 640 px, large up to 1080 px, never the original),
 * width and height set so nothing jumps, the BlurHash behind it until it has loaded.
 */
export function MediaImage({ item, alt, sizes, priority = false }: { item: MediaItem; alt: string; sizes: string; priority?: boolean }) {
  const [loaded, setLoaded] = useState(false);
  const image = useRef<HTMLImageElement>(null);
  const { variants, width, height } = item;
  // Already there (from the cache) before the load listener could hear it.
  useEffect(() => {
    if (image.current?.complete && image.current.naturalWidth > 0) setLoaded(true);
  }, [variants.large]);
  const medium = Math.min(640, width);
  const large = Math.min(1080, width);
  const srcset = medium === large ? `${variants.large} ${large}w` : `${variants.medium} ${medium}w, ${variants.large} ${large}w`;
  return (
    <div class="media-frame">
      {item.blurhash && !loaded && <Blurhash hash={item.blurhash} width={width} height={height} />}
      <img
        ref={image}
        class="post-image"
        src={variants.large}
        srcset={srcset}
        sizes={sizes}
        width={width}
        height={height}
        alt={alt}
        loading={priority ? "eager" : "lazy"}
        decoding="async"
        fetchpriority={priority ? "high" : "auto"}
        onLoad={() => setLoaded(true)}
      />
    </div>
  );
}

/** The video playing now: another one starting pauses it (one sound at a time). */
let playing: HTMLVideoElement | null = null;
/** One observer for every video on the page: one that leaves the screen (or its carousel) pauses. */
let offScreen: IntersectionObserver | undefined;
const VISIBLE_ENOUGH = 0.25;

function whilePlaying(event: Event) {
  const video = event.currentTarget as HTMLVideoElement;
  if (playing && playing !== video) playing.pause();
  playing = video;
}

function whenPaused(event: Event) {
  if (playing === event.currentTarget) playing = null;
}

function pauseOffScreen(video: HTMLVideoElement): () => void {
  offScreen ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries) if (entry.intersectionRatio < VISIBLE_ENOUGH) (entry.target as HTMLVideoElement).pause();
    },
    { threshold: VISIBLE_ENOUGH },
  );
  offScreen.observe(video);
  return () => offScreen?.unobserve(video);
}

interface MediaVideoProps {
  item: MediaItem;
  alt: string;
  sizes: string;
  priority?: boolean;
  /** In the feed: the poster with a play button, the video only once it is pressed. */
  poster?: boolean;
}

/**
 * One video. In the feed, its poster (a photo, as `MediaImage` shows one) with a "Play video" button
 * and its length; pressed, the video plays there with sound and the browser's own controls. On the
 * post's page, the video element at once (nothing loads but its metadata until it is played). Never
 * autoplayed; if the browser cannot play it, a link to the file.
 */
export function MediaVideo({ item, alt, sizes, priority = false, poster = false }: MediaVideoProps) {
  const [started, setStarted] = useState(!poster);
  const [failed, setFailed] = useState(false);
  // In the feed the poster was already on screen: the video takes the very picture the browser chose.
  const [posterShown, setPosterShown] = useState(poster);
  const shownPoster = useRef<string>("");
  const video = useRef<HTMLVideoElement>(null);
  const { width, height, variants } = item;

  useEffect(() => {
    const element = video.current;
    if (!element) return;
    const unwatch = pauseOffScreen(element);
    // Pressed in the feed: play now, with sound (the press is the person's own gesture); the focus
    // goes from the button, now gone, to the video's own controls.
    if (poster) {
      element.focus({ preventScroll: true });
      element.play().catch(() => undefined);
    }
    return unwatch;
  }, [started]);

  // The BlurHash stays until the poster has loaded (the video element does not tell).
  useEffect(() => {
    if (!started || posterShown) return;
    const image = new Image();
    image.onload = () => setPosterShown(true);
    image.src = variants.large;
    return () => void (image.onload = null);
  }, [started, variants.large]);

  const length = item.duration_s ? formatDuration(item.duration_s) : null;
  if (!started) {
    return (
      <div class="video-poster">
        <MediaImage item={item} alt={alt} sizes={sizes} priority={priority} />
        <button
          type="button"
          class="play-button"
          aria-label="Play video"
          onClick={(event) => {
            shownPoster.current = event.currentTarget.parentElement?.querySelector("img")?.currentSrc ?? "";
            setStarted(true);
          }}
        >
          <span class="play-circle" aria-hidden="true">
            <svg viewBox="0 0 24 24" width="28" height="28">
              <path d="M8 5.5v13l11-6.5z" />
            </svg>
          </span>
        </button>
        {length && (
          <span class="video-length">
            <span class="visually-hidden">Length </span>
            {length}
          </span>
        )}
      </div>
    );
  }
  return (
    <div class="media-frame video-frame">
      {item.blurhash && !posterShown && <Blurhash hash={item.blurhash} width={width} height={height} />}
      <video
        ref={video}
        class="post-video"
        src={item.video}
        poster={shownPoster.current || variants.large}
        width={width}
        height={height}
        style={{ aspectRatio: `${width} / ${height}` }}
        aria-label={alt}
        controls
        playsInline
        preload="metadata"
        onPlay={whilePlaying}
        onPause={whenPaused}
        onLoadedData={() => setPosterShown(true)}
        onError={() => setFailed(true)}
      />
      {failed && item.video && (
        <p class="note video-note" role="alert">
          This browser cannot play the video.{" "}
          <a href={item.video} target="_blank" rel="noopener">
            Open the video file
          </a>
        </p>
      )}
    </div>
  );
}

interface PostMediaProps {
  post: Post;
  sizes: string;
  priority?: boolean;
  /** In the feed: each photo links to the post's page, each video shows its poster and a play button. */
  link?: boolean;
}

/** The post's photos and videos: one as it is, several as a carousel; each one's `alt` its alt text, else the title. */
export function PostMedia({ post, sizes, priority = false, link = false }: PostMediaProps) {
  const items = postItems(post);
  const picture = (item: MediaItem, index: number) => {
    const alt = item.alt_text || post.title;
    const first = priority && index === 0;
    // A video is played where it is, so it is not inside a link (and a button cannot be).
    if (item.type === "video" && item.video) return <MediaVideo item={item} alt={alt} sizes={sizes} priority={first} poster={link} />;
    const image = <MediaImage item={item} alt={alt} sizes={sizes} priority={first} />;
    return link ? (
      <a href={`/p/${post.id}`} class="image-link" tabIndex={-1}>
        {image}
      </a>
    ) : (
      image
    );
  };
  if (items.length === 0) return <div class="post-image-missing">No picture</div>;
  if (items.length === 1) return picture(items[0]!, 0);
  return <Carousel items={items} render={picture} />;
}

/** The carousel keeps one shape whichever slide shows: the first picture's, between 4:5 and 1.91:1. */
function carouselRatio(first: MediaItem): number {
  return Math.min(1.91, Math.max(0.8, first.width / first.height));
}

/**
 * Several pictures side by side in a horizontal scroller that snaps to each: swiped on a touch screen
 * (the browser's own scrolling, smooth on phones), or moved by the arrows, the dots, or the left and
 * right keys while it has focus. The WAI-ARIA carousel pattern: a region of slides, each "n of m".
 */
function Carousel({ items, render }: { items: MediaItem[]; render: (item: MediaItem, index: number) => ComponentChildren }) {
  const [shown, setShown] = useState(0);
  const track = useRef<HTMLDivElement>(null);
  const region = useRef<HTMLElement>(null);
  // Where an arrow, a dot or a key is taking the scroller: the slides it passes on the way are not "shown".
  const heading = useRef<number | null>(null);
  const count = items.length;

  const onScroll = () => {
    const element = track.current;
    if (!element || element.clientWidth === 0) return;
    const index = Math.max(0, Math.min(count - 1, Math.round(element.scrollLeft / element.clientWidth)));
    if (heading.current !== null) {
      if (index !== heading.current) return;
      heading.current = null;
    }
    setShown(index);
  };
  // A finger or a wheel takes over from a scroll the carousel started (passive: scrolling never waits on it).
  useEffect(() => {
    const element = track.current;
    if (!element) return;
    const takeOver = () => void (heading.current = null);
    const options = { passive: true };
    element.addEventListener("pointerdown", takeOver, options);
    element.addEventListener("wheel", takeOver, options);
    return () => {
      element.removeEventListener("pointerdown", takeOver);
      element.removeEventListener("wheel", takeOver);
    };
  }, []);

  const go = (index: number) => {
    const element = track.current;
    const target = Math.max(0, Math.min(count - 1, index));
    if (!element) return;
    const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
    heading.current = Math.round(element.scrollLeft / element.clientWidth) === target ? null : target;
    element.scrollTo({ left: target * element.clientWidth, behavior: smooth ? "smooth" : "auto" });
    setShown(target);
    // An arrow that is about to disappear would take the focus with it: the carousel keeps it.
    if ((target === 0 || target === count - 1) && document.activeElement?.classList.contains("carousel-arrow")) region.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent) => {
    // The keys of a video's own controls (seeking, volume) stay theirs.
    if (event.target instanceof HTMLVideoElement) return;
    const moves: Record<string, number> = { ArrowLeft: shown - 1, ArrowRight: shown + 1, Home: 0, End: count - 1 };
    const target = moves[event.key];
    if (target === undefined || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    go(target);
  };

  const noun = (index: number) => (items[index]?.type === "video" ? "video" : "photo");
  const videos = items.filter((item) => item.type === "video").length;
  const name = videos === 0 ? "Photos" : videos === count ? "Videos" : "Photos and videos";
  return (
    <section
      ref={region}
      class={`carousel${videos > 0 ? " has-video" : ""}`}
      aria-roledescription="carousel"
      aria-label={name}
      tabIndex={0}
      onKeyDown={onKeyDown}
      style={{ "--ratio": carouselRatio(items[0]!) }}
    >
      <div class="carousel-track" ref={track} onScroll={onScroll}>
        {items.map((item, index) => (
          <div key={index} class="carousel-slide" role="group" aria-roledescription="slide" aria-label={`${index + 1} of ${count}`}>
            {render(item, index)}
          </div>
        ))}
      </div>
      <span class="carousel-count" aria-hidden="true">
        {shown + 1}/{count}
      </span>
      <button type="button" class="carousel-arrow previous" aria-label={`Previous ${noun(shown - 1)}`} hidden={shown === 0} onClick={() => go(shown - 1)}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path d="M15 5l-7 7 7 7" />
        </svg>
      </button>
      <button type="button" class="carousel-arrow next" aria-label={`Next ${noun(shown + 1)}`} hidden={shown === count - 1} onClick={() => go(shown + 1)}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path d="M9 5l7 7-7 7" />
        </svg>
      </button>
      <div class="carousel-dots">
        {items.map((_, index) => (
          <button
            key={index}
            type="button"
            class="carousel-dot"
            aria-label={`${noun(index) === "video" ? "Video" : "Photo"} ${index + 1} of ${count}`}
            aria-current={index === shown ? "true" : undefined}
            onClick={() => go(index)}
          />
        ))}
      </div>
    </section>
  );
}
