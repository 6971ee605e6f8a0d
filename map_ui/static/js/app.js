// Diming map page: divisions of Feidong from the API; every asset is served by the app itself.
(function () {
  "use strict";
  const COUNTY = "340122";
  const I18N = {
    zh: { title: "地名 · 区划 · 界线", asof: "时点", legend: "图例", lang: "English",
          county: "县级行政区（真实轮廓，高德来源，已由 GCJ-02 转换）",
          township: "乡镇（合成示意，非真实界线）", village: "村（居）委会（位置为合成示意）",
          loading: "加载中…", loaded: "已加载", synthetic: "合成数据（示意）",
          fields: { code: "代码", name: "名称", level: "级别", kind: "类型", parent_code: "上级代码",
                    area_km2: "面积（km²）", population: "人口", source: "来源", valid_from: "生效",
                    valid_to: "失效", version: "版本" } },
    en: { title: "Place names · Divisions · Boundaries", asof: "As of", legend: "Legend", lang: "中文",
          county: "County-level divisions (real outline, Amap source, converted from GCJ-02)",
          township: "Townships (SYNTHETIC polygons, not real lines)",
          village: "Villages/communities (SYNTHETIC locations)",
          loading: "Loading…", loaded: "Loaded", synthetic: "synthetic (illustrative)",
          fields: { code: "Code", name: "Name", level: "Level", kind: "Kind", parent_code: "Parent",
                    area_km2: "Area (km²)", population: "Population", source: "Source",
                    valid_from: "Valid from", valid_to: "Valid to", version: "Version" } },
  };
  let lang = localStorage.getItem("diming.lang") || "zh";
  const t = (k) => I18N[lang][k];

  const map = L.map("map").setView([31.88, 117.47], 10);
  // No base map by default: the intranet has none. Divisions themselves orient the user.
  const layers = {
    county: L.featureGroup().addTo(map),
    township: L.featureGroup().addTo(map),
    village: L.featureGroup().addTo(map),
  };
  L.control.layers(null, {
    "县级 County": layers.county, "乡镇 Townships": layers.township, "村居 Villages": layers.village,
  }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  const asOf = document.getElementById("as-of");
  asOf.value = new Date().toISOString().slice(0, 10);

  function isSynthetic(p) { return (p.source || "").toLowerCase().includes("synthetic"); }

  function showDetails(p) {
    const f = I18N[lang].fields;
    const rows = Object.keys(f).map((k) =>
      `<tr><td>${f[k]}</td><td>${p[k] === null || p[k] === undefined ? "—" : String(p[k])}</td></tr>`);
    document.getElementById("details").innerHTML =
      `<h3>${p.name}</h3>` + (isSynthetic(p) ? `<p class="synthetic">${t("synthetic")}</p>` : "") +
      `<table>${rows.join("")}</table>`;
  }

  async function fetchGeoJSON(params) {
    params.set("as_of", asOf.value);
    const r = await fetch(`/api/v1/divisions?${params}`);
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    return r.json();
  }

  async function load() {
    const status = document.getElementById("status");
    status.textContent = t("loading");
    Object.values(layers).forEach((l) => l.clearLayers());
    const [counties, townships, villages] = await Promise.all([
      fetchGeoJSON(new URLSearchParams({ level: "county" })),
      fetchGeoJSON(new URLSearchParams({ level: "township", parent: COUNTY })),
      fetchGeoJSON(new URLSearchParams({ level: "village", bbox: "116.9,31.4,118.1,32.4", limit: "5000" })),
    ]);
    L.geoJSON(counties, {
      style: (f) => ({ color: "#8b1a1a", weight: f.properties.code === COUNTY ? 3 : 1.5, fill: false }),
      onEachFeature: (f, l) => { l.on("click", () => showDetails(f.properties)); l.bindTooltip(f.properties.name); },
    }).addTo(layers.county);
    L.geoJSON(townships, {
      style: () => ({ color: "#2b6cb0", weight: 1.2, dashArray: "6 4", fillOpacity: 0.08 }),
      onEachFeature: (f, l) => {
        l.on("click", () => showDetails(f.properties));
        l.bindTooltip(`${f.properties.name}（${t("synthetic")}）`);
      },
    }).addTo(layers.township);
    L.geoJSON(villages, {
      pointToLayer: (_f, ll) => L.circleMarker(ll, { radius: 3, color: "#2f855a", weight: 1, fillOpacity: 0.8 }),
      onEachFeature: (f, l) => { l.on("click", () => showDetails(f.properties)); l.bindTooltip(f.properties.name); },
    }).addTo(layers.village);
    const feidong = counties.features.find((f) => f.properties.code === COUNTY);
    if (feidong) map.fitBounds(L.geoJSON(feidong).getBounds());
    status.textContent = `${t("loaded")}: ${counties.numberReturned} / ${townships.numberReturned} / ${villages.numberReturned}`;
    document.body.dataset.loaded = "true";
  }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.getElementById("lang").textContent = t("lang");
  }
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("diming.lang", lang);
    applyLang();
  });
  asOf.addEventListener("change", () => load().catch(console.error));
  applyLang();
  load().catch((e) => { document.getElementById("status").textContent = String(e); });
})();
