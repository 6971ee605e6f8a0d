// Login (OAuth2 password form → bearer token kept in sessionStorage) and role-driven visibility.
import { api, ApiError, getToken, setToken } from "./api.js";
import { t, onLang } from "./i18n.js";
import { state, emit, can } from "./state.js";
import { $ } from "./ui.js";

export async function restoreSession() {
  if (!getToken()) return setUser(null);
  try {
    const { data } = await api("/api/v1/auth/me");
    setUser(data);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) setToken(null);
    setUser(null);
  }
}

function setUser(user) {
  state.user = user;
  document.body.dataset.user = user ? user.username : "";
  document.body.dataset.roles = user ? user.roles.join(" ") : "";
  renderUser();
  applyRoles();
  emit("user", user);
}

/** Elements with data-can="action" show only when the user may do it (the server checks again). */
export function applyRoles(root = document) {
  root.querySelectorAll("[data-can]").forEach((n) => {
    const ok = n.dataset.can.split(" ").some((a) => can(a));
    n.hidden = !ok;
  });
}

function renderUser() {
  const info = $("#user-info");
  const btn = $("#login-btn");
  if (state.user) {
    const roles = state.user.roles.map((r) => t(`roles.${r}`)).join("、");
    info.textContent = t("logged_in_as", { user: state.user.username, roles });
    btn.textContent = t("logout");
  } else {
    info.textContent = t("not_logged_in");
    btn.textContent = t("login");
  }
}

async function logout() {
  try { await api("/api/v1/auth/logout", { method: "POST" }); } catch { /* token may be gone already */ }
  setToken(null);
  setUser(null);
}

export function initAuth() {
  const dialog = $("#login-dialog");
  const form = $("#login-form");
  const error = $("#login-error");
  $("#login-btn").addEventListener("click", () => {
    if (state.user) { logout(); return; }
    error.textContent = "";
    form.reset();
    dialog.showModal();
    $("#login-username").focus();
  });
  $("#login-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      const { data } = await api("/api/v1/auth/token", {
        form: { username: $("#login-username").value, password: $("#login-password").value },
      });
      setToken(data.access_token);
      dialog.close();
      setUser({ username: data.username, roles: data.roles });
    } catch (e) {
      error.textContent = `${t("login_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  });
  onLang(renderUser);
}
