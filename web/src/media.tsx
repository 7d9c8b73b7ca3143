/**
 * A post's pictures: one photo, or a carousel of several (API.md "Posts and media", `media_items`),
 * each from its variants through `srcset` with its width and height set, and its BlurHash painted
 * behind it until it has loaded.
 */
import { decode } from "blurhash";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { MediaItem, Post } from "./api/client";

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

interface PostMediaProps {
  post: Post;
  sizes: string;
  priority?: boolean;
  /** Each picture links to the post's page (in the feed). */
  link?: boolean;
}

/** The post's pictures: one photo as it is, several as a carousel; each picture's `alt` its alt text, else the title. */
export function PostMedia({ post, sizes, priority = false, link = false }: PostMediaProps) {
  const items = postItems(post);
  const picture = (item: MediaItem, index: number) => {
    const image = <MediaImage item={item} alt={item.alt_text || post.title} sizes={sizes} priority={priority && index === 0} />;
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
    const moves: Record<string, number> = { ArrowLeft: shown - 1, ArrowRight: shown + 1, Home: 0, End: count - 1 };
    const target = moves[event.key];
    if (target === undefined || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    go(target);
  };

  return (
    <section
      ref={region}
      class="carousel"
      aria-roledescription="carousel"
      aria-label="Photos"
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
      <button type="button" class="carousel-arrow previous" aria-label="Previous photo" hidden={shown === 0} onClick={() => go(shown - 1)}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path d="M15 5l-7 7 7 7" />
        </svg>
      </button>
      <button type="button" class="carousel-arrow next" aria-label="Next photo" hidden={shown === count - 1} onClick={() => go(shown + 1)}>
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
            aria-label={`Photo ${index + 1} of ${count}`}
            aria-current={index === shown ? "true" : undefined}
            onClick={() => go(index)}
          />
        ))}
      </div>
    </section>
  );
}
