// Telling the user: toasts for what happened, and the error line of a form
// for what went wrong with it. Server messages go in as text.
import { h, $ } from './dom.js';

export function toast(message, kind = 'info') {
	const box = $('#toasts');
	const t = h('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : 'status' }, message);
	box.append(t);
	setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/*
 * Show an API error: in the given error line when there is one, and as a
 * toast in any case (the line may be scrolled out of sight). 401 needs no
 * words: the login form is already back.
 */
export function showError(err, line) {
	if (err && err.status === 401) return;
	const msg = err && err.message ? err.message : String(err);
	if (line) line.textContent = msg;
	toast(msg, 'error');
}

export function clearError(line) {
	if (line) line.textContent = '';
}

/* Run an async action from a button: disable it meanwhile, report failure. */
export async function guarded(button, line, fn) {
	clearError(line);
	if (button) button.disabled = true;
	try {
		return await fn();
	} catch (e) {
		showError(e, line);
		return undefined;
	} finally {
		if (button) button.disabled = false;
	}
}
