// Words of the officer's drawing and reshaping tools (lines and areas), registered with the page dictionary.
import { extendDict } from "../i18n.js";

export const words = {
  zh: {
    draw_hint_point: "在地图上点击新地名的位置，完成后填写属性。",
    draw_hint_line: "在地图上逐点点击道路、河流等线状地名的走向；再次点击最后一个点结束，然后填写属性。",
    draw_hint_polygon: "在地图上逐点点击小区、广场等面状地名的边界；点击第一个点闭合，然后填写属性。",
    lonlat: "经度, 纬度",
    reshape_hint_shape: "拖动节点修改形状（拖动节点之间的小圆点可增加节点），填写原因后保存。",
    // c2 (issue 13): the stored coordinate methods (gis_api/labels.py ENUMS["coord_method"]) as words.
    coord_method_values: { "实测": "实测", "图解": "图解", "其他": "其他" },
  },
  en: {
    draw_hint_point: "Click the new place's position on the map, then fill in its attributes.",
    draw_hint_line: "Click along the road or river on the map; click the last point again to finish, then fill in the attributes.",
    draw_hint_polygon: "Click around the estate or square on the map; click the first point to close it, then fill in the attributes.",
    lonlat: "lon, lat",
    reshape_hint_shape: "Drag the vertices to reshape (drag a small dot between two vertices to add one), give the reason and save.",
    coord_method_values: { "实测": "surveyed", "图解": "read from a map", "其他": "other" },
  },
};

extendDict(words);
