// Words of the map itself: labels layer, status line, date fields (registered with extendDict on import).
import { extendDict } from "../i18n.js";

export const WORDS = {
  zh: {
    lyr_labels: "区划名称注记（县区、乡镇，放大后显示村）",
    status_counts: "已显示：{county} 个县区、{township} 个乡镇、{places} 条地名",
    status_loading: "正在加载区划和地名…",
    date_placeholder: "年-月-日",
    date_hint: "日期：点击选择，或按 年-月-日 输入（如 2024-05-01）",
    map_home: "全县",
    map_home_hint: "回到全县视图",
    // c2 (issue 13): Leaflet's own controls speak the interface language too.
    zoom_in: "放大",
    zoom_out: "缩小",
    leaflet_hint: "交互式网络地图开源库",
    tdt_attribution: "© 天地图",
  },
  en: {
    lyr_labels: "Division names (counties, townships; villages when zoomed in)",
    status_counts: "Showing {county} counties, {township} townships, {places} place names",
    status_loading: "Loading divisions and place names…",
    date_placeholder: "yyyy-mm-dd",
    date_hint: "Date: pick one, or type year-month-day (e.g. 2024-05-01)",
    map_home: "County",
    map_home_hint: "Back to the whole county",
    zoom_in: "Zoom in",
    zoom_out: "Zoom out",
    leaflet_hint: "A JavaScript library for interactive maps",
    tdt_attribution: "© Tianditu",
  },
};

extendDict(WORDS);
