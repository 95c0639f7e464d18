// The REST API of vmkit serve (serve/API.md): fetch with the session cookie,
// the CSRF token on every write, and one place that turns a 401 into "back
// to the login form".

const TOKEN_KEY = 'vmkit.csrf';
const USER_KEY = 'vmkit.user';

export class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

let onUnauthorized = () => {};

/* The app installs its "show the login form" here. */
export function setUnauthorizedHandler(fn) {
	onUnauthorized = fn;
}

export function csrfToken() {
	return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function currentUser() {
	return sessionStorage.getItem(USER_KEY) || '';
}

function forget() {
	sessionStorage.removeItem(TOKEN_KEY);
	sessionStorage.removeItem(USER_KEY);
}

/* Path segments come from names the user typed or the server sent: encode them. */
export function path(strings, ...values) {
	return strings.reduce((acc, s, i) => acc + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

/*
 * One request; resolves to the reply's `data`, rejects with an ApiError
 * carrying the reply's `message` (or the HTTP status when the body is not
 * ours, e.g. a proxy's error page).
 */
export async function api(method, url, body) {
	const opts = { method, headers: {}, credentials: 'same-origin' };
	if (method !== 'GET') opts.headers['CSRFPreventionToken'] = csrfToken();
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(url, opts);
	} catch (e) {
		throw new ApiError(0, 'cannot reach the server: ' + e.message);
	}
	let reply = null;
	try {
		reply = await res.json();
	} catch (e) {
		/* not JSON: the status line speaks instead */
	}
	if (res.status === 401 && url !== '/api/access/ticket') {
		forget();
		onUnauthorized();
	}
	if (!res.ok) {
		const msg = reply && typeof reply.message === 'string' ? reply.message : `HTTP ${res.status} ${res.statusText}`;
		throw new ApiError(res.status, msg);
	}
	return reply ? reply.data : null;
}

export const get = (url) => api('GET', url);
export const post = (url, body) => api('POST', url, body === undefined ? {} : body);
export const put = (url, body) => api('PUT', url, body);
export const del = (url) => api('DELETE', url);

export async function login(user, password) {
	if (!user.includes('@')) user += '@pam';
	const data = await api('POST', '/api/access/ticket', { username: user, password });
	sessionStorage.setItem(TOKEN_KEY, data.CSRFPreventionToken);
	sessionStorage.setItem(USER_KEY, data.username);
	return data.username;
}

/* Is the cookie still good? (A reload keeps the cookie and sessionStorage.) */
export async function checkSession() {
	if (!csrfToken()) return null;
	try {
		const data = await api('GET', '/api/access/ticket');
		return data.username;
	} catch (e) {
		forget();
		return null;
	}
}

export async function logout() {
	try {
		await api('POST', '/api/access/logout', {});
	} finally {
		forget();
	}
}

/*
 * A raw-body upload with progress: fetch() cannot report upload progress,
 * XMLHttpRequest can. onprogress(fraction) is called as bytes leave.
 */
export function upload(url, file, onprogress) {
	return new Promise((resolve, reject) => {
		const xhr = new XMLHttpRequest();
		xhr.open('POST', url);
		xhr.setRequestHeader('CSRFPreventionToken', csrfToken());
		xhr.setRequestHeader('Content-Type', 'application/octet-stream');
		xhr.upload.onprogress = (ev) => {
			if (ev.lengthComputable) onprogress(ev.loaded / ev.total);
		};
		xhr.onerror = () => reject(new ApiError(0, 'upload failed: the connection broke off'));
		xhr.onload = () => {
			let reply = null;
			try {
				reply = JSON.parse(xhr.responseText);
			} catch (e) {
				/* not ours */
			}
			if (xhr.status === 401) {
				forget();
				onUnauthorized();
			}
			if (xhr.status !== 200) {
				const msg = reply && reply.message ? reply.message : `HTTP ${xhr.status}`;
				reject(new ApiError(xhr.status, msg));
				return;
			}
			resolve(reply ? reply.data : null);
		};
		xhr.send(file);
	});
}

/* ws:// or wss:// to this same server, for the consoles. */
export function wsURL(p) {
	return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + p;
}
