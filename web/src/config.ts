/**
 * Runtime configuration, read from `/config.json` at start-up and never baked into the build:
 * the local stack writes it from its own endpoints, `make deploy` from the stack's outputs.
 */
export interface AppConfig {
  /** Base URL of the API, without a trailing slash, e.g. `https://abc.execute-api.us-east-1.amazonaws.com/v1`. */
  api_url: string;
  region?: string;
  user_pool_id?: string;
  user_pool_client_id?: string;
  /** How often the feed asks whether newer posts exist (seconds; default 30). */
  feed_poll_seconds?: number;
  /** How often the unread badge is brought up to date (seconds; default 30). */
  notifications_poll_seconds?: number;
}

export async function loadConfig(): Promise<AppConfig> {
  // Served `no-cache`: revalidated every start, so a deploy's new config is seen at once.
  const response = await fetch("/config.json");
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = (await response.json()) as AppConfig;
  if (typeof config.api_url !== "string" || !config.api_url) throw new Error("config.json has no api_url");
  return { ...config, api_url: config.api_url.replace(/\/+$/, "") };
}

let current: AppConfig | null = null;

export function setConfig(value: AppConfig): void {
  current = value;
}

/** The configuration loaded at start-up. */
export function config(): AppConfig {
  if (!current) throw new Error("config.json is not loaded yet");
  return current;
}
