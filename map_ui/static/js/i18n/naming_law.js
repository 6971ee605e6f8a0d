// Words of the naming-law field of the place form (domain.md R2), registered with the page dictionary.
import { extendDict } from "../i18n.js";

export const words = {
  zh: {
    confirmed_by: "确认书写错误的审核人",
    confirmed_by_hint: "经命名程序批准的标准地名须通过更名申报改名；仅更正录入错字时，填写确认该错字的另一位审核人的用户名。",
  },
  en: {
    confirmed_by: "Reviewer confirming the typo",
    confirmed_by_hint: "A standard name approved by the naming procedure changes only by a renaming proposal; to correct a typo of it, give the user name of another reviewer who confirmed it.",
  },
};

extendDict(words);
