// Photos and signed forms attached to a line's markers (taken in the field app or synced from it), in the line
// view: a count per marker, thumbnails on demand. The files need the login, so they are fetched with the token
// and shown as blob: URLs (an <img src> to the API would go without the Authorization header).
import { api } from "./api.js";
import { extendDict, t } from "./i18n.js";
import { el, put } from "./ui.js";

extendDict({
  zh: { photos: "照片", photos_none: "无照片", photos_of: "界桩 {no} 的照片和附件", photo_taken: "拍摄于 {at}", pdf_file: "PDF 文件" },
  en: { photos: "Photos", photos_none: "no photos", photos_of: "Photos and files of marker {no}", photo_taken: "taken {at}", pdf_file: "PDF file" },
});

const urls = [];

/** Forget the blob URLs of thumbnails shown before (a new line view or a closed gallery). */
export function releasePhotos() {
  while (urls.length) URL.revokeObjectURL(urls.pop());
}

async function blobUrl(path) {
  const { data } = await api(path, { blob: true });
  const u = URL.createObjectURL(data);
  urls.push(u);
  return u;
}

/** The table cell of one marker: "照片 n" when it has attachments; a click shows them in ``gallery``. */
export function photoCell(markerNo, gallery) {
  const cell = el("td", { class: "photos", dataset: { marker: markerNo } }, "…");
  api("/api/v1/field/attachments", { params: { kind: "marker", key: markerNo } }).then(({ data }) => {
    if (!data.length) {
      put(cell, el("span", { class: "muted", title: t("photos_none") }, "—"));
      return;
    }
    put(cell, el("button", { type: "button", class: "act-photos", "aria-label": `${markerNo} ${t("photos")}`,
      onclick: () => showGallery(markerNo, data, gallery) }, `${t("photos")} ${data.length}`));
  }).catch(() => put(cell, "—")); // no field API (older server) or no right to read: the column stays empty
  return cell;
}

async function showGallery(markerNo, items, gallery) {
  releasePhotos();
  const list = el("ul", { class: "photo-gallery" });
  put(gallery, el("h3", {}, t("photos_of", { no: markerNo })), list);
  for (const a of items) {
    const link = (a.links || []).find((l) => l.kind === "marker" && l.key === markerNo) || {};
    const caption = [link.caption, a.taken_at ? t("photo_taken", { at: a.taken_at }) : null].filter(Boolean).join(" · ");
    const sha = encodeURIComponent(a.sha256);
    const content = `/api/v1/field/attachments/${sha}/content`;
    const item = el("li", { dataset: { sha256: a.sha256 } });
    list.append(item);
    if (a.content_type === "application/pdf") {
      put(item, el("button", { type: "button", onclick: async () => window.open(await blobUrl(content), "_blank", "noopener") }, t("pdf_file")), el("span", { class: "muted" }, ` ${caption}`));
      continue;
    }
    const img = el("img", { alt: caption || `${markerNo} ${t("photos")}`, width: 128 });
    put(item, el("button", { type: "button", class: "photo-open", onclick: async () => window.open(await blobUrl(content), "_blank", "noopener") }, img), el("div", { class: "muted" }, caption));
    img.src = await blobUrl(`/api/v1/field/attachments/${sha}/thumbnail`);
  }
}
