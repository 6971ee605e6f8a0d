// Words of the naming law on the map (domain.md R2): typo corrections of procedure names waiting for a reviewer,
// and what the checks found at each step of a proposal. Registered with the page dictionary.
import { extendDict } from "../i18n.js";

export const words = {
  zh: {
    correction_waiting: "“{old}”改为“{new}”的更正已提交，等待另一位审核人确认后生效（申请 {id}）",
    correction_pending_note: "待审核人确认的更正：“{old}”→“{new}”（{who}，{why}）",
    corrections: "待确认的标准地名更正",
    corrections_none: "没有待确认的更正",
    correction_by: "{who} 于 {at} 申请",
    correction_confirm: "确认更正",
    correction_reject: "退回",
    correction_reject_reason: "退回理由",
    correction_confirmed: "已确认：“{old}”改为“{new}”",
    correction_rejected: "已退回：“{old}”→“{new}”",
    correction_own: "本人申请的更正须由另一位审核人确认",
    correction_conflict_title: "申请提交后该地名已被修改",
    checks_at_step: "本步复核",
    checks_appeared: "新出现",
    checks_disappeared: "已消除",
    checks_unchanged: "复核结果无变化",
    checks_found: "{n} 项审查提示",
  },
  en: {
    correction_waiting: "The correction of {old} to {new} is recorded; it takes effect when another reviewer confirms it (request {id})",
    correction_pending_note: "Correction waiting for a reviewer: {old} → {new} ({who}, {why})",
    corrections: "Corrections of standard names to confirm",
    corrections_none: "No corrections waiting",
    correction_by: "requested by {who} on {at}",
    correction_confirm: "Confirm",
    correction_reject: "Reject",
    correction_reject_reason: "Reason for rejecting",
    correction_confirmed: "Confirmed: {old} → {new}",
    correction_rejected: "Rejected: {old} → {new}",
    correction_own: "A correction you requested must be confirmed by another reviewer",
    correction_conflict_title: "The place changed after the correction was requested",
    checks_at_step: "Checked again",
    checks_appeared: "appeared",
    checks_disappeared: "gone",
    checks_unchanged: "no change in the checks",
    checks_found: "{n} review flags",
  },
};

extendDict(words);
