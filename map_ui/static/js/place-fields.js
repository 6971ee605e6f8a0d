// The place record's fields (domain.md §1.5 census register), shared by the panel, the form and the merge.

// Editable fields: [key, input kind, options]. The order follows the census register.
export const CORE_FIELDS = [
  ["name", "text"],
  ["romanized", "text"],
  ["category_code", "category"],
  ["status", "status"],
];

export const REGISTER_FIELDS = [
  ["usage", "select", ["现今", "历史"]],
  ["meaning", "textarea"],
  ["history", "textarea"],
  ["description", "textarea"],
  ["registered_on", "date"],
  ["registered_by", "text"],
  ["registering_unit", "text"],
  ["named_on", "date"],
  ["established_year", "int"],
  ["abolished_year", "int"],
  ["sign_count", "int"],
  ["elevation_m", "number"],
  ["coord_method", "select", ["实测", "图解", "其他"]],
  ["coord_precision_m", "number"],
  ["minority_script", "text"],
  ["language", "text"],
  ["sources", "textarea"],
  ["remarks", "textarea"],
];

export const EDITABLE = [...CORE_FIELDS, ...REGISTER_FIELDS];
export const EDITABLE_KEYS = EDITABLE.map(([k]) => k);

// Read-only rows shown in the panel around the editable ones.
export const VIEW_ORDER = [
  "id", "name", "romanized", "zhuanming", "tongming", "tongming_romanized", "usage", "category", "census_class",
  "meaning", "history", "description", "division_code", "registered_on", "registered_by", "registering_unit",
  "named_on", "established_year", "abolished_year", "sign_count", "elevation_m", "coord_system", "coord_method",
  "coord_precision_m", "minority_script", "language", "sources", "remarks", "status", "source", "romanized_by",
  "valid_from", "valid_to", "version",
];

export const STATUSES = ["standard", "pending", "non_standard", "historic"];

/** The value a property has for comparison: "" and undefined are null; numbers stay numbers. */
export function norm(v) {
  if (v === undefined || v === "") return null;
  return v;
}

export function same(a, b) {
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/** Parse one form control into the value the API expects. */
export function parseInput(kind, raw) {
  const s = typeof raw === "string" ? raw.trim() : raw;
  if (s === "" || s === null || s === undefined) return null;
  if (kind === "int") return Number.parseInt(s, 10);
  if (kind === "number") return Number(s);
  return s;
}
