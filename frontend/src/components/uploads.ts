// Files this tab uploaded, by Meta's media id, so a sent image shows at once.
const urls = new Map<string, string>();

export function rememberUpload(metaId: string, url: string): void {
  urls.set(metaId, url);
}

export function uploadedMediaUrl(metaId: string | undefined): string | undefined {
  return metaId ? urls.get(metaId) : undefined;
}
