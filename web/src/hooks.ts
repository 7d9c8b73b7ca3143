/** Data hooks shared by the pages: one fetch, and cursor-paged lists with infinite scroll. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { describe } from "./api/client";

export interface Async<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload(): void;
  set(value: T): void;
}

/** Run `load` when `key` changes; the latest call wins. */
export function useAsync<T>(load: () => Promise<T>, key: string): Async<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    setError(null);
    load().then(
      (value) => {
        if (!current) return;
        setData(value);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!current) return;
        setError(describe(failure));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [key, generation]);
  return { data, error, loading, reload: () => setGeneration((n) => n + 1), set: setData };
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Paged<T> {
  items: T[];
  loading: boolean;
  error: string | null;
  done: boolean;
  loadMore(): void;
  reset(): void;
  update(change: (items: T[]) => T[]): void;
}

/**
 * A list read page by page with its cursor (API.md "Lists"). Items already shown are never shown
 * twice, even if the list moved between two pages.
 */
export function usePaged<T extends { id: string }>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, key: string): Paged<T> {
  const [items, setItems] = useState<T[]>([]);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const cursor = useRef<string | undefined>(undefined);
  const busy = useRef(false);
  const generation = useRef(0);
  const fetcher = useRef(fetchPage);
  fetcher.current = fetchPage;

  const loadMore = useCallback(() => {
    if (busy.current) return;
    busy.current = true;
    const mine = generation.current;
    setLoading(true);
    setError(null);
    fetcher
      .current(cursor.current)
      .then(
        (page) => {
          if (mine !== generation.current) return;
          cursor.current = page.next_cursor ?? undefined;
          setItems((shown) => {
            const seen = new Set(shown.map((item) => item.id));
            return [...shown, ...page.items.filter((item) => !seen.has(item.id))];
          });
          setDone(page.next_cursor === null);
        },
        (failure: unknown) => {
          if (mine === generation.current) setError(describe(failure));
        },
      )
      .finally(() => {
        if (mine !== generation.current) return;
        busy.current = false;
        setLoading(false);
      });
  }, []);

  const reset = useCallback(() => {
    generation.current += 1;
    busy.current = false;
    cursor.current = undefined;
    setItems([]);
    setDone(false);
    loadMore();
  }, [loadMore]);

  useEffect(() => {
    reset();
  }, [key, reset]);

  return { items, loading, error, done, loadMore, reset, update: setItems };
}

/** Calls `onVisible` whenever the returned element's ref scrolls into view (infinite scroll). */
export function useSentinel(onVisible: () => void, active: boolean) {
  const ref = useRef<HTMLDivElement>(null);
  const callback = useRef(onVisible);
  callback.current = onVisible;
  useEffect(() => {
    const element = ref.current;
    if (!element || !active) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) callback.current();
      },
      { rootMargin: "600px 0px" },
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, [active]);
  return ref;
}

/** `value`, once it has stopped changing for `delay` ms. */
export function useDebounced<T>(value: T, delay: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return settled;
}

/** Run `tick` every `seconds` while the page is visible (and once when it becomes visible again). */
export function useInterval(tick: () => void, seconds: number): void {
  const callback = useRef(tick);
  callback.current = tick;
  useEffect(() => {
    const run = () => {
      if (document.visibilityState === "visible") callback.current();
    };
    const timer = setInterval(run, Math.max(1, seconds) * 1000);
    document.addEventListener("visibilitychange", run);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", run);
    };
  }, [seconds]);
}

export interface FormSubmit {
  submit(event: Event): Promise<void>;
  busy: boolean;
  error: string | null;
}

/**
 * A form's submit handler: runs `action` with the form's fields, busy while it runs, its failure as
 * `error`. On success `busy` stays set, since the page moves on.
 */
export function useFormSubmit(action: (form: FormData) => Promise<void>): FormSubmit {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      await action(form);
    } catch (failure) {
      setError(describe(failure));
      setBusy(false);
    }
  };
  return { submit, busy, error };
}
