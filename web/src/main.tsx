/** Start-up: read `/config.json`, point the API client at it, render the app. */
import { render } from "preact";
import { configureApi } from "./api/client";
import { App } from "./app";
import { loadConfig, setConfig } from "./config";
import "./styles.css";

const root = document.getElementById("app")!;

loadConfig().then(
  (config) => {
    setConfig(config);
    configureApi(config.api_url);
    render(<App />, root);
  },
  (error: unknown) => {
    root.innerHTML = "";
    const message = document.createElement("p");
    message.className = "note note-error";
    message.setAttribute("role", "alert");
    message.textContent = `The app could not start: ${error instanceof Error ? error.message : String(error)}`;
    root.append(message);
  },
);
