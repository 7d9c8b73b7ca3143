/**
 * The presigned POST upload (API.md "upload"): every field of `upload.fields`, then the file last in a
 * field named `file`, straight to the bucket. XMLHttpRequest rather than fetch, for upload progress.
 */
import type { Upload } from "./api/client";

export interface UploadHandle {
  done: Promise<void>;
  abort(): void;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "UploadError";
  }
}

/** Send `file` as the presigned POST says; `onProgress` gets the fraction sent, 0..1. */
export function uploadFile(upload: Upload, file: Blob, onProgress: (fraction: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<void>((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        const reason = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText)?.[1];
        reject(new UploadError(`The upload was refused (${xhr.status}${reason ? `: ${reason}` : ""}).`, xhr.status));
      }
    });
    xhr.addEventListener("error", () => reject(new UploadError("The upload failed: the connection was lost.", 0)));
    xhr.addEventListener("abort", () => reject(new UploadError("The upload was cancelled.", 0)));
    xhr.open(upload.method, upload.url);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}
